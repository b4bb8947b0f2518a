"""All SQL: feed state, seen articles, matches and the delivery outbox.

The store is the daemon's memory across restarts, so every write that another
write depends on happens in one transaction. No other module speaks SQL, and
the store never fetches, renders or sends anything.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.model import (
    Article,
    ChannelTarget,
    Delivery,
    FeedState,
    Hit,
    Match,
    Message,
    Priority,
    target_from_json,
    target_to_json,
)

SCHEMA_VERSION = 3
# Copies of one story (wire copies, light edits) sit within this many differing bits.
NEAR_DUPLICATE_BITS = 10
NEAR_DUPLICATE_WINDOW = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_state (
    feed_id TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, body_sha256 TEXT,
    last_polled_at TEXT, last_success_at TEXT, last_error TEXT, last_error_at TEXT,
    error_streak INTEGER NOT NULL DEFAULT 0, next_poll_at TEXT
);
CREATE TABLE IF NOT EXISTS articles (
    key TEXT PRIMARY KEY, feed_id TEXT NOT NULL, url TEXT, guid TEXT, title TEXT NOT NULL,
    summary TEXT NOT NULL, body TEXT NOT NULL, published_at TEXT NOT NULL,
    fetched_at TEXT NOT NULL, language TEXT, content_hash TEXT NOT NULL,
    fingerprint INTEGER NOT NULL, story_id TEXT NOT NULL, stored_at TEXT NOT NULL,
    matched_at TEXT
);
CREATE INDEX IF NOT EXISTS articles_url ON articles (url);
CREATE INDEX IF NOT EXISTS articles_hash ON articles (content_hash);
CREATE INDEX IF NOT EXISTS articles_unmatched ON articles (matched_at) WHERE matched_at IS NULL;
CREATE TABLE IF NOT EXISTS matches (
    article_key TEXT NOT NULL REFERENCES articles (key), rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL, priority INTEGER NOT NULL, score REAL NOT NULL,
    hits TEXT NOT NULL, matched_at TEXT NOT NULL, PRIMARY KEY (article_key, rule_id)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, channel TEXT NOT NULL,
    subject TEXT NOT NULL, text TEXT NOT NULL, html TEXT NOT NULL, payload BLOB NOT NULL,
    article_keys TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, last_error TEXT, sent_at TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS delivered (
    subscription_id TEXT NOT NULL, story_id TEXT NOT NULL, delivery_id TEXT NOT NULL,
    PRIMARY KEY (subscription_id, story_id)
);
CREATE TABLE IF NOT EXISTS digest_runs (
    subscription_id TEXT PRIMARY KEY, last_run_at TEXT NOT NULL
);
"""


# Each entry takes the schema from one version to the next; never edit a shipped one.
_MIGRATIONS: tuple[str, ...] = (
    _SCHEMA,
    """
    CREATE TABLE gone_endpoints (
        url_sha256 TEXT PRIMARY KEY, display TEXT NOT NULL, gone_at TEXT NOT NULL,
        error TEXT NOT NULL
    )
    """,
    """
    ALTER TABLE feed_state ADD COLUMN moved_from TEXT;
    ALTER TABLE feed_state ADD COLUMN moved_to TEXT;
    ALTER TABLE feed_state ADD COLUMN ttl_s INTEGER;
    CREATE TABLE coverage_gaps (
        feed_id TEXT NOT NULL, gap_from TEXT NOT NULL, gap_to TEXT NOT NULL,
        recorded_at TEXT NOT NULL, PRIMARY KEY (feed_id, gap_from)
    );
    CREATE INDEX articles_feed_published ON articles (feed_id, published_at)
    """,
)


class Store:
    """A SQLite database in WAL mode, safe to call from the event loop and worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"store: cannot open '{path}': {exc}") from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"store: '{path}' is not a usable database ({exc}); "
                "restore it from a backup or move it aside"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION, one step at a time, each in a transaction."""
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row["value"]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store: '{self.path}' has schema version {version}, newer than this "
                f"monitor understands ({SCHEMA_VERSION}); upgrade monitor"
            )
        for target, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self._transaction() as db:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(target),),
                )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                # Busy (another writer past busy_timeout) or full disk: the caller's
                # cycle fails as a whole and is retried on the next one; nothing half-done.
                raise StoreError(f"store: write to '{self.path}' failed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreError(f"store: read from '{self.path}' failed: {exc}") from exc

    # --- daemon notes -----------------------------------------------------------

    def set_note(self, key: str, value: str | None) -> None:
        """Remember a small fact about the running daemon (shown by `monitor status`)."""
        with self._transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (f"note:{key}",))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"note:{key}", value)
                )

    def notes(self) -> dict[str, str]:
        rows = self._query("SELECT key, value FROM meta WHERE key LIKE 'note:%'")
        return {str(row["key"]).removeprefix("note:"): str(row["value"]) for row in rows}

    def recent_published(self, feed_id: str, limit: int = 20) -> list[datetime]:
        """Publication times of the feed's newest stored articles (its rhythm)."""
        rows = self._query(
            "SELECT published_at FROM articles WHERE feed_id = ? "
            "ORDER BY published_at DESC LIMIT ?",
            (feed_id, limit),
        )
        return [_required_time(row["published_at"]) for row in rows]

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(keys)
        marks = ",".join("?" for _ in wanted)
        if not wanted:
            return set()
        rows = self._query(f"SELECT key FROM articles WHERE key IN ({marks})", wanted)
        return {str(row["key"]) for row in rows}

    def record_coverage_gap(
        self, feed_id: str, gap: tuple[datetime, datetime], now: datetime
    ) -> None:
        """Remember a window in which a failing feed may have dropped articles."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO coverage_gaps VALUES (?, ?, ?, ?)",
                (feed_id, _iso(gap[0]), _iso(gap[1]), _iso(now)),
            )

    def coverage_gaps(self, since: datetime) -> list[tuple[str, datetime, datetime]]:
        rows = self._query(
            "SELECT * FROM coverage_gaps WHERE recorded_at >= ? ORDER BY recorded_at",
            (_iso(since),),
        )
        return [
            (str(row["feed_id"]), _required_time(row["gap_from"]), _required_time(row["gap_to"]))
            for row in rows
        ]

    # --- endpoints that said 410 Gone ------------------------------------------

    def record_gone_endpoint(self, url: str, display: str, error: str, now: datetime) -> None:
        """Remember that `url` answered 410: nothing more is sent to it until it changes."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO gone_endpoints VALUES (?, ?, ?, ?)",
                (_sha256(url), display, _iso(now), error),
            )

    def gone_endpoints(self) -> list[dict[str, str]]:
        rows = self._query("SELECT * FROM gone_endpoints ORDER BY gone_at")
        return [
            {
                "url_sha256": row["url_sha256"],
                "display": row["display"],
                "gone_at": row["gone_at"],
                "error": row["error"],
            }
            for row in rows
        ]

    def is_gone(self, url: str) -> bool:
        return bool(
            self._query("SELECT 1 FROM gone_endpoints WHERE url_sha256 = ?", (_sha256(url),))
        )

    # --- health and hygiene ----------------------------------------------------

    def quick_check(self) -> str | None:
        """None when SQLite's quick_check passes, else the first problem it reports."""
        rows = self._query("PRAGMA quick_check")
        first = str(rows[0][0]) if rows else "no answer"
        return None if first == "ok" else first

    def is_writable(self) -> bool:
        """Whether a write transaction can start now (for the health endpoint)."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """Outbox rows by (channel kind, status)."""
        rows = self._query(
            "SELECT json_extract(channel, '$.kind') AS kind, status, COUNT(*) AS n "
            "FROM deliveries GROUP BY kind, status"
        )
        return {(str(row["kind"]), str(row["status"])): int(row["n"]) for row in rows}

    def purge_before(self, cutoff: datetime) -> int:
        """Forget articles stored before `cutoff`, with their matches; return how many.

        The `delivered` rows stay, so a story that comes back after the purge is
        still not sent twice; articles of a pending delivery are kept.
        """
        with self._transaction() as db:
            doomed = """
                SELECT key FROM articles WHERE stored_at < ? AND matched_at IS NOT NULL
                AND NOT EXISTS (
                    SELECT 1 FROM deliveries d, json_each(d.article_keys) k
                    WHERE d.status = 'pending' AND k.value = articles.key)
            """
            db.execute(f"DELETE FROM matches WHERE article_key IN ({doomed})", (_iso(cutoff),))
            cursor = db.execute(f"DELETE FROM articles WHERE key IN ({doomed})", (_iso(cutoff),))
            return cursor.rowcount

    # --- feed state ---------------------------------------------------------

    def feed_state(self, feed_id: str) -> FeedState | None:
        rows = self._query("SELECT * FROM feed_state WHERE feed_id = ?", (feed_id,))
        return _feed_state(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        return [_feed_state(row) for row in self._query("SELECT * FROM feed_state ORDER BY 1")]

    def save_feed_state(self, state: FeedState) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO feed_state (feed_id, etag, last_modified, body_sha256, "
                "last_polled_at, last_success_at, last_error, last_error_at, error_streak, "
                "next_poll_at, moved_from, moved_to, ttl_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    state.feed_id,
                    state.etag,
                    state.last_modified,
                    state.body_sha256,
                    _iso(state.last_polled_at),
                    _iso(state.last_success_at),
                    state.last_error,
                    _iso(state.last_error_at),
                    state.error_streak,
                    _iso(state.next_poll_at),
                    state.moved_from,
                    state.moved_to,
                    state.ttl_s,
                ),
            )

    # --- articles -----------------------------------------------------------

    def add_articles(self, articles: Iterable[Article], now: datetime) -> list[Article]:
        """Keep the articles not seen before (by key, URL or content); link near-duplicates."""
        added: list[Article] = []
        with self._transaction() as db:
            for article in articles:
                if _is_known(db, article):
                    continue
                story_id = _story_of(db, article.fingerprint) or article.key
                stored = replace(article, story_id=story_id)
                db.execute(
                    "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        stored.key,
                        stored.feed_id,
                        stored.url,
                        stored.guid,
                        stored.title,
                        stored.summary,
                        stored.body,
                        _iso(stored.published_at),
                        _iso(stored.fetched_at),
                        stored.language,
                        stored.content_hash,
                        _signed64(stored.fingerprint),
                        story_id,
                        _iso(now),
                    ),
                )
                added.append(stored)
        return added

    def unmatched_articles(self, limit: int = 500) -> list[Article]:
        """Articles stored but not yet matched (a crash between the two leaves some)."""
        rows = self._query(
            "SELECT * FROM articles WHERE matched_at IS NULL ORDER BY stored_at LIMIT ?", (limit,)
        )
        return [_article(row) for row in rows]

    def forget_matches_since(self, since: datetime) -> int:
        """Mark articles stored since `since` as not matched yet, dropping their matches.

        What each subscription already received stays recorded, so matching again
        sends only stories that were never sent.
        """
        with self._transaction() as db:
            recent = "SELECT key FROM articles WHERE stored_at >= ?"
            db.execute(f"DELETE FROM matches WHERE article_key IN ({recent})", (_iso(since),))
            cursor = db.execute(
                "UPDATE articles SET matched_at = NULL WHERE stored_at >= ?", (_iso(since),)
            )
            return cursor.rowcount

    def article(self, key: str) -> Article | None:
        rows = self._query("SELECT * FROM articles WHERE key = ?", (key,))
        return _article(rows[0]) if rows else None

    def save_matches(
        self, article_keys: Sequence[str], matches: Sequence[Match], now: datetime
    ) -> None:
        """Record the matches and mark every article in `article_keys` as matched."""
        with self._transaction() as db:
            for match in matches:
                db.execute(
                    "INSERT OR REPLACE INTO matches VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        match.article_key,
                        match.rule_id,
                        match.rule_name,
                        int(match.priority),
                        match.score,
                        json.dumps([_hit_json(hit) for hit in match.hits], ensure_ascii=False),
                        _iso(now),
                    ),
                )
            db.executemany(
                "UPDATE articles SET matched_at = ? WHERE key = ?",
                [(_iso(now), key) for key in article_keys],
            )

    def undelivered(
        self,
        subscription_id: str,
        rule_ids: Iterable[str],
        *,
        min_priority: Priority = Priority.LOW,
        limit: int = 200,
        since: datetime | None = None,
    ) -> list[tuple[Article, list[Match]]]:
        """Matched articles of these rules whose story this subscription has not received
        (matched since `since`, when given)."""
        wanted = sorted(set(rule_ids))
        if not wanted:
            return []
        marks = ",".join("?" for _ in wanted)
        rows = self._query(
            f"""
            SELECT m.*, a.story_id FROM matches m JOIN articles a ON a.key = m.article_key
            WHERE m.rule_id IN ({marks}) AND m.priority >= ? AND m.matched_at >= ?
              AND NOT EXISTS (SELECT 1 FROM delivered d
                              WHERE d.subscription_id = ? AND d.story_id = a.story_id)
            ORDER BY a.published_at DESC
            """,
            (*wanted, int(min_priority), _iso(since) or "", subscription_id),
        )
        return self._with_articles(rows, limit)

    def matched_since(
        self, rule_ids: Iterable[str], since: datetime, *, limit: int = 200
    ) -> list[tuple[Article, list[Match]]]:
        """Articles matched by these rules since `since`, delivered or not (for previews)."""
        wanted = sorted(set(rule_ids))
        if not wanted:
            return []
        marks = ",".join("?" for _ in wanted)
        rows = self._query(
            f"""
            SELECT m.* FROM matches m JOIN articles a ON a.key = m.article_key
            WHERE m.rule_id IN ({marks}) AND m.matched_at >= ?
            ORDER BY a.published_at DESC
            """,
            (*wanted, _iso(since)),
        )
        return self._with_articles(rows, limit)

    def _with_articles(
        self, rows: list[sqlite3.Row], limit: int
    ) -> list[tuple[Article, list[Match]]]:
        by_article: dict[str, list[Match]] = {}
        for row in rows:
            by_article.setdefault(row["article_key"], []).append(_match(row))
        result: list[tuple[Article, list[Match]]] = []
        for key, matches in list(by_article.items())[:limit]:
            article = self.article(key)
            if article is not None:
                result.append((article, matches))
        return result

    def story_sources(self, story_id: str) -> list[Article]:
        rows = self._query(
            "SELECT * FROM articles WHERE story_id = ? ORDER BY stored_at", (story_id,)
        )
        return [_article(row) for row in rows]

    # --- digests and the outbox ----------------------------------------------

    def last_digest_at(self, subscription_id: str) -> datetime | None:
        rows = self._query(
            "SELECT last_run_at FROM digest_runs WHERE subscription_id = ?", (subscription_id,)
        )
        return _parse_time(rows[0]["last_run_at"]) if rows else None

    def set_last_digest_at(self, subscription_id: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO digest_runs VALUES (?, ?)", (subscription_id, _iso(at))
            )

    def enqueue(
        self,
        deliveries: Sequence[Delivery],
        story_ids: Iterable[str],
        *,
        digest_run_at: datetime | None = None,
    ) -> None:
        """Record deliveries and the stories they carry in one transaction (before any send)."""
        stories = sorted(set(story_ids))
        with self._transaction() as db:
            for delivery in deliveries:
                db.execute(
                    "INSERT OR IGNORE INTO deliveries VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL)",
                    (
                        delivery.id,
                        delivery.subscription_id,
                        _channel_json(delivery.channel),
                        delivery.message.subject,
                        delivery.message.text,
                        delivery.message.html,
                        delivery.message.payload,
                        json.dumps(list(delivery.article_keys)),
                        _iso(delivery.created_at),
                        _iso(delivery.next_attempt_at or delivery.created_at),
                    ),
                )
            if deliveries:
                db.executemany(
                    "INSERT OR IGNORE INTO delivered VALUES (?, ?, ?)",
                    [(deliveries[0].subscription_id, story, deliveries[0].id) for story in stories],
                )
            if digest_run_at is not None and deliveries:
                db.execute(
                    "INSERT OR REPLACE INTO digest_runs VALUES (?, ?)",
                    (deliveries[0].subscription_id, _iso(digest_run_at)),
                )

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        rows = self._query(
            "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at LIMIT ?",
            (_iso(now), limit),
        )
        return [_delivery(row) for row in rows]

    def deliveries(self, status: str | None = None) -> list[Delivery]:
        if status is None:
            rows = self._query("SELECT * FROM deliveries ORDER BY created_at")
        else:
            rows = self._query(
                "SELECT * FROM deliveries WHERE status = ? ORDER BY created_at", (status,)
            )
        return [_delivery(row) for row in rows]

    def delivery(self, delivery_id: str) -> Delivery | None:
        rows = self._query("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return _delivery(rows[0]) if rows else None

    def mark_sent(self, delivery_id: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE id = ?",
                (_iso(now), delivery_id),
            )

    def mark_failed(
        self, delivery_id: str, error: str, *, next_attempt_at: datetime | None
    ) -> None:
        """Count a failed attempt; with no next attempt the delivery is dead-lettered."""
        status = "pending" if next_attempt_at is not None else "dead"
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ? WHERE id = ?",
                (status, error, _iso(next_attempt_at), delivery_id),
            )

    def requeue(self, delivery_id: str, now: datetime) -> bool:
        """Put a dead or pending delivery back in line; False when there is no such delivery."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = ? "
                "WHERE id = ? AND status != 'sent'",
                (_iso(now), delivery_id),
            )
            return cursor.rowcount > 0


# --- row conversion --------------------------------------------------------------


def _is_known(db: sqlite3.Connection, article: Article) -> bool:
    if db.execute("SELECT 1 FROM articles WHERE key = ?", (article.key,)).fetchone():
        return True
    if (
        article.url
        and db.execute("SELECT 1 FROM articles WHERE url = ?", (article.url,)).fetchone()
    ):
        return True
    return bool(
        db.execute(
            "SELECT 1 FROM articles WHERE content_hash = ?", (article.content_hash,)
        ).fetchone()
    )


def _story_of(db: sqlite3.Connection, fingerprint: int) -> str | None:
    """The story id of a recent near-duplicate, if one is stored."""
    if fingerprint == 0:
        return None
    rows = db.execute(
        "SELECT fingerprint, story_id FROM articles ORDER BY stored_at DESC LIMIT ?",
        (NEAR_DUPLICATE_WINDOW,),
    ).fetchall()
    for row in rows:
        other = row["fingerprint"] & 0xFFFFFFFFFFFFFFFF
        if other and (other ^ fingerprint).bit_count() <= NEAR_DUPLICATE_BITS:
            return str(row["story_id"])
    return None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _signed64(value: int) -> int:
    # SQLite integers are signed 64-bit; fingerprints are unsigned.
    return value - (1 << 64) if value >= (1 << 63) else value


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _required_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _feed_state(row: sqlite3.Row) -> FeedState:
    return FeedState(
        feed_id=row["feed_id"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_sha256=row["body_sha256"],
        last_polled_at=_parse_time(row["last_polled_at"]),
        last_success_at=_parse_time(row["last_success_at"]),
        last_error=row["last_error"],
        last_error_at=_parse_time(row["last_error_at"]),
        error_streak=row["error_streak"],
        next_poll_at=_parse_time(row["next_poll_at"]),
        moved_from=row["moved_from"],
        moved_to=row["moved_to"],
        ttl_s=row["ttl_s"],
    )


def _article(row: sqlite3.Row) -> Article:
    return Article(
        key=row["key"],
        feed_id=row["feed_id"],
        url=row["url"],
        guid=row["guid"],
        title=row["title"],
        summary=row["summary"],
        body=row["body"],
        published_at=_required_time(row["published_at"]),
        fetched_at=_required_time(row["fetched_at"]),
        language=row["language"],
        content_hash=row["content_hash"],
        fingerprint=row["fingerprint"] & 0xFFFFFFFFFFFFFFFF,
        story_id=row["story_id"],
    )


def _hit_json(hit: Hit) -> dict[str, Any]:
    return asdict(hit)


def _match(row: sqlite3.Row) -> Match:
    hits = tuple(Hit(**item) for item in json.loads(row["hits"]))
    return Match(
        rule_id=row["rule_id"],
        rule_name=row["rule_name"],
        article_key=row["article_key"],
        priority=Priority(row["priority"]),
        score=row["score"],
        hits=hits,
    )


def _channel_json(channel: ChannelTarget) -> str:
    # Secrets stay in config/environment (target_to_json leaves them out): the outbox looks
    # them up at send time, and apprise URLs arrive here already redacted.
    return json.dumps(target_to_json(channel))


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        # Rows written before the typed targets (flat "email_to", "webhook_url", …) read too.
        channel=target_from_json(json.loads(row["channel"])),
        message=Message(
            subject=row["subject"],
            text=row["text"],
            html=row["html"],
            payload=bytes(row["payload"]),
        ),
        article_keys=tuple(json.loads(row["article_keys"])),
        created_at=_required_time(row["created_at"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_parse_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        sent_at=_parse_time(row["sent_at"]),
    )
