"""SQL for the articles: dedupe on arrival, the near-duplicate band index, the queue of
articles waiting for analysis (with quarantine), and retention.

Persists story links but does not decide them: the caller's `StoryLinker` (the pure
scheme in `monitor.ingest`) names the band keys and picks the story among candidates.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from monitor.model import Article
from monitor.store.db import (
    Database,
    iso,
    marks,
    required_time,
    signed64,
    unsigned64,
)
from monitor.store.dialect import Dialect, Row, Session

# (signature, story_id, stored_at) of a stored article sharing a band key.
StoryCandidate = tuple[bytes, str, datetime]


class StoryLinker(Protocol):
    """The near-duplicate scheme the store persists but does not decide."""

    def band_keys(self, signature: bytes) -> tuple[int, ...]:
        """The signed 32-bit key of each band; empty: never indexed."""
        ...

    def pick_story(self, signature: bytes, candidates: Sequence[StoryCandidate]) -> str | None:
        """The story the signature joins, if any."""
        ...


@dataclass(frozen=True, slots=True)
class Quarantined:
    """Articles whose analysis failed too often, for `monitor status`."""

    count: int
    last_error: str | None = None
    last_article_key: str | None = None


class ArticleTables(Database):
    """Articles, their band rows, the analysis queue and retention."""

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(keys)
        if not wanted:
            return set()
        rows = self._query(f"SELECT key FROM articles WHERE key IN ({marks(len(wanted))})", wanted)
        return {str(row["key"]) for row in rows}

    def add_articles(
        self,
        articles: Iterable[Article],
        now: datetime,
        *,
        linker: StoryLinker,
        story_since: datetime,
    ) -> list[Article]:
        """Keep the articles not seen before (by key, URL or content), each in the story
        `linker` picks among the articles stored since `story_since`; return those kept.

        One transaction: copies arriving in one batch see each other.
        """
        added: list[Article] = []
        with self._transaction() as db:
            for article in articles:
                if _is_known(db, article):
                    continue
                keys = linker.band_keys(article.signature)
                candidates = _candidates(db, self.dialect, keys, story_since)
                story_id = linker.pick_story(article.signature, candidates) or article.key
                stored = replace(article, story_id=story_id)
                _insert(db, stored, now)
                if keys:
                    _index(db, stored, keys, now)
                added.append(stored)
        return added

    def candidates_for(self, band_keys: Sequence[int], since: datetime) -> list[StoryCandidate]:
        """Articles stored since `since` under any of the band keys, each once."""
        with self._reading() as db:
            return _candidates(db, self.dialect, band_keys, since)

    def article(self, key: str) -> Article | None:
        rows = self._query(
            "SELECT articles.*, story_sketches.signature FROM articles "
            "LEFT JOIN story_sketches ON story_sketches.article_key = articles.key "
            "WHERE articles.key = ?",
            (key,),
        )
        if not rows:
            return None
        return replace(article_of(rows[0]), signature=bytes(rows[0]["signature"] or b""))

    # --- the analysis queue ------------------------------------------------------

    def unmatched_articles(self, limit: int = 500) -> list[Article]:
        """Articles stored but not matched yet (a crash between the two leaves some), oldest
        first; quarantined articles are never offered again."""
        rows = self._query(
            "SELECT * FROM articles WHERE matched_at IS NULL AND quarantined_at IS NULL "
            "ORDER BY stored_at LIMIT ?",
            (limit,),
        )
        return [article_of(row) for row in rows]

    def record_analysis_failure(self, key: str, error: str) -> int:
        """Count a failed analysis attempt on the article; return its attempts so far."""
        with self._transaction() as db:
            db.execute(
                "UPDATE articles SET analysis_attempts = analysis_attempts + 1, "
                "last_analysis_error = ? WHERE key = ?",
                (error, key),
            )
            row = db.execute(
                "SELECT analysis_attempts FROM articles WHERE key = ?", (key,)
            ).fetchone()
            return int(row["analysis_attempts"]) if row else 0

    def quarantine(self, key: str, now: datetime) -> None:
        """Take the article out of the analysis queue for good (until a rematch)."""
        with self._transaction() as db:
            db.execute("UPDATE articles SET quarantined_at = ? WHERE key = ?", (iso(now), key))

    def quarantined(self) -> Quarantined:
        """How many articles are quarantined, and the most recent one's error."""
        rows = self._query(
            "SELECT COUNT(*) OVER () AS n, key, last_analysis_error FROM articles "
            "WHERE quarantined_at IS NOT NULL ORDER BY quarantined_at DESC LIMIT 1"
        )
        if not rows:
            return Quarantined(0)
        row = rows[0]
        return Quarantined(int(row["n"]), row["last_analysis_error"], row["key"])

    # --- retention -----------------------------------------------------------------

    def purge_before(self, cutoff: datetime) -> int:
        """Forget articles stored before `cutoff` (matched or quarantined), with their
        matches, signatures and band rows; return how many.

        The `delivered` rows stay, so a story that comes back after the purge is
        still not sent twice; articles of a pending delivery are kept.
        """
        with self._transaction() as db:
            doomed = f"""
                SELECT key FROM articles WHERE stored_at < ?
                AND (matched_at IS NOT NULL OR quarantined_at IS NOT NULL)
                AND NOT EXISTS (
                    SELECT 1 FROM deliveries d, {self.dialect.json_values("d.article_keys", "k")}
                    WHERE d.status = 'pending' AND k.value = articles.key)
            """
            sketches = db.execute(
                f"SELECT id, band_keys FROM story_sketches WHERE article_key IN ({doomed})",
                (iso(cutoff),),
            ).fetchall()
            db.executemany(
                "DELETE FROM story_bands WHERE key = ? AND sketch_id = ?",
                [(key, row[0]) for row in sketches for key in _unpacked(row[1])],
            )
            for table in ("matches", "story_sketches"):
                db.execute(f"DELETE FROM {table} WHERE article_key IN ({doomed})", (iso(cutoff),))
            cursor = db.execute(f"DELETE FROM articles WHERE key IN ({doomed})", (iso(cutoff),))
            return cursor.rowcount


def _is_known(db: Session, article: Article) -> bool:
    if db.execute("SELECT 1 FROM articles WHERE key = ?", (article.key,)).fetchone():
        return True
    if article.url:
        spellings = _url_spellings(article.url)
        rows = db.execute(
            "SELECT feed_id, guid, title, summary, body FROM articles "
            f"WHERE url IN ({marks(len(spellings))})",
            spellings,
        ).fetchall()
        if any(not _is_sibling(row, article) for row in rows):
            return True
    return bool(
        db.execute(
            "SELECT 1 FROM articles WHERE content_hash = ?", (article.content_hash,)
        ).fetchone()
    )


def _url_spellings(url: str) -> list[str]:
    """The spellings of one page's canonical URL that the ingest keys treat as one: http or
    https, with or without "www.", and with the trailing slash that URLs stored before
    canonical URLs dropped it still carry."""
    scheme, separator, rest = url.partition("://")
    if scheme not in ("http", "https") or not separator:
        return [url]
    host, _, path = rest.partition("/")
    bare_host = host.removeprefix("www.")
    path, question, query = path.partition("?")
    paths = [path, f"{path}/"] if path else [path]
    return [
        f"{each_scheme}://{each_host}/{each_path}{question}{query}"
        for each_scheme in ("http", "https")
        for each_host in (bare_host, f"www.{bare_host}")
        for each_path in paths
    ]


def _is_sibling(row: Row, article: Article) -> bool:
    # Guid-less entries of one feed that share a link but differ in both title and text
    # are different articles (normalize.py keys them apart); any other copy of the URL is
    # the same page, edited or not.
    return (
        row["feed_id"] == article.feed_id
        and row["guid"] is None
        and article.guid is None
        and row["title"] != article.title
        and (row["summary"], row["body"]) != (article.summary, article.body)
    )


def _candidates(
    db: Session, dialect: Dialect, band_keys: Sequence[int], since: datetime
) -> list[StoryCandidate]:
    if not band_keys:
        return []
    # Equality seeks on the band primary key, then each sketch by its id: SQLite's CROSS
    # JOIN keeps that order (it never reorders it), so a small or freshly analysed table is
    # never scanned instead. The window is checked on those few rows.
    rows = db.execute(
        "SELECT sketch.id, sketch.signature, sketch.story_id, sketch.stored_at "
        f"FROM story_bands AS band {dialect.ordered_join} story_sketches AS sketch "
        f"ON sketch.id = band.sketch_id WHERE band.key IN ({marks(len(band_keys))}) "
        "AND sketch.stored_at >= ?",
        (*band_keys, iso(since)),
    ).fetchall()
    # A copy shares many bands with its original: read it once.
    unique = {row[0]: (row[1], row[2], row[3]) for row in rows}
    return [
        (bytes(signature), story_id, required_time(at))
        for signature, story_id, at in unique.values()
    ]


def _index(db: Session, article: Article, keys: Sequence[int], now: datetime) -> None:
    sketch_id = db.execute(
        "INSERT INTO story_sketches (article_key, story_id, stored_at, signature, band_keys) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (article.key, article.story_id, iso(now), article.signature, _packed(keys)),
    ).fetchone()[0]
    db.executemany(
        "INSERT INTO story_bands (key, sketch_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(key, sketch_id) for key in keys],
    )


def _packed(keys: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(keys)}i", *keys)


def _unpacked(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(blob) // 4}i", blob)


def _insert(db: Session, article: Article, now: datetime) -> None:
    db.execute(
        "INSERT INTO articles (key, feed_id, url, guid, title, summary, body, published_at, "
        "fetched_at, language, content_hash, fingerprint, story_id, stored_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            article.key,
            article.feed_id,
            article.url,
            article.guid,
            article.title,
            article.summary,
            article.body,
            iso(article.published_at),
            iso(article.fetched_at),
            article.language,
            article.content_hash,
            signed64(article.fingerprint),
            article.story_id,
            iso(now),
        ),
    )


def article_of(row: Row) -> Article:
    """The article a row of the `articles` table holds."""
    return Article(
        key=row["key"],
        feed_id=row["feed_id"],
        url=row["url"],
        guid=row["guid"],
        title=row["title"],
        summary=row["summary"],
        body=row["body"],
        published_at=required_time(row["published_at"]),
        fetched_at=required_time(row["fetched_at"]),
        language=row["language"],
        content_hash=row["content_hash"],
        fingerprint=unsigned64(row["fingerprint"]),
        story_id=row["story_id"],
    )
