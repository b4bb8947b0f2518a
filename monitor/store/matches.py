"""SQL for the matches: saving them with the articles they settle, and reading what each
subscription is owed (by story, never twice, never a muted one) or what matched recently.

Persists what the matcher found; never evaluates a rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

from monitor.model import Article, Hit, Match, Priority
from monitor.store.articles import article_of
from monitor.store.db import Database, iso, marks
from monitor.store.dialect import Row

# Articles read per statement: well inside SQLite's bound on parameters (32,766).
_KEYS_PER_READ = 500
# A story an analyst muted in the workspace is owed to no one (store/feedback.py keeps them).
_NOT_MUTED = "NOT EXISTS (SELECT 1 FROM muted_stories s WHERE s.story_id = a.story_id)"


class MatchTables(Database):
    """Matches, and the reads that join them with their articles and the delivered ledger."""

    def save_matches(
        self, article_keys: Sequence[str], matches: Sequence[Match], now: datetime
    ) -> None:
        """Record the matches and mark every article in `article_keys` as matched."""
        with self._transaction() as db:
            if self.dialect.next_match_seq is not None:
                db.execute(self.dialect.next_match_seq)
            db.executemany(
                "INSERT INTO matches (article_key, rule_id, rule_name, priority, score, hits, "
                f"matched_at, recorded_seq) VALUES (?, ?, ?, ?, ?, ?, ?, {self.dialect.match_seq}) "
                "ON CONFLICT (article_key, rule_id) DO UPDATE SET rule_name = excluded.rule_name, "
                "priority = excluded.priority, score = excluded.score, hits = excluded.hits, "
                "matched_at = excluded.matched_at, recorded_seq = excluded.recorded_seq",
                [
                    (
                        match.article_key,
                        match.rule_id,
                        match.rule_name,
                        int(match.priority),
                        match.score,
                        json.dumps([asdict(hit) for hit in match.hits], ensure_ascii=False),
                        iso(now),
                    )
                    for match in matches
                ],
            )
            db.executemany(
                "UPDATE articles SET matched_at = ? WHERE key = ?",
                [(iso(now), key) for key in article_keys],
            )

    def forget_matches_since(self, since: datetime) -> int:
        """Mark articles stored since `since` as not matched yet, dropping their matches;
        quarantined ones among them get a fresh set of analysis attempts.

        What each subscription already received stays recorded, so matching again
        sends only stories that were never sent.
        """
        with self._transaction() as db:
            recent = "SELECT key FROM articles WHERE stored_at >= ?"
            db.execute(f"DELETE FROM matches WHERE article_key IN ({recent})", (iso(since),))
            cursor = db.execute(
                "UPDATE articles SET matched_at = NULL, quarantined_at = NULL, "
                "analysis_attempts = 0, last_analysis_error = NULL WHERE stored_at >= ?",
                (iso(since),),
            )
            return cursor.rowcount

    def undelivered(
        self,
        subscription_id: str,
        rule_ids: Iterable[str],
        *,
        min_priority: Priority = Priority.LOW,
        limit: int = 200,
        since: datetime | None = None,
        recorded_from: int = 0,
    ) -> list[tuple[Article, list[Match]]]:
        """Matched articles of these rules whose story this subscription has not received
        and no analyst muted (matched since `since`, when given; recorded at or after the
        sequence number `recorded_from`, an `owed_cursor`)."""
        wanted = sorted(set(rule_ids))
        if not wanted:
            return []
        rows = self._query(
            f"""
            SELECT m.*, a.story_id FROM matches m JOIN articles a ON a.key = m.article_key
            WHERE m.rule_id IN ({marks(len(wanted))}) AND m.priority >= ? AND m.matched_at >= ?
              AND m.recorded_seq >= ?
              AND NOT EXISTS (SELECT 1 FROM delivered d
                              WHERE d.subscription_id = ? AND d.story_id = a.story_id)
              AND {_NOT_MUTED}
            ORDER BY a.published_at DESC
            """,
            (*wanted, int(min_priority), iso(since) or "", recorded_from, subscription_id),
        )
        return self._with_articles(rows, limit)

    def match_horizon(self) -> int:
        """The sequence number below which every match is committed: read before looking
        for what is owed, it is where the subscription's cursor may move once it has."""
        return int(self._query(self.dialect.match_horizon)[0]["seq"])

    def owed_cursor(self, subscription_id: str, kind: str) -> int:
        """Where the subscription's `kind` of sending (immediate, digest) looks from: every
        match recorded below it was seen by an earlier pass (0: none was)."""
        rows = self._query(
            "SELECT seq FROM owed_cursors WHERE subscription_id = ? AND kind = ?",
            (subscription_id, kind),
        )
        return int(rows[0]["seq"]) if rows else 0

    def set_owed_cursor(self, subscription_id: str, kind: str, seq: int) -> None:
        """Move the cursor to `seq` (a `match_horizon`), never back: of two daemons' passes
        the one that read later keeps its horizon."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO owed_cursors (subscription_id, kind, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (subscription_id, kind) DO UPDATE SET seq = excluded.seq "
                "WHERE owed_cursors.seq < excluded.seq",
                (subscription_id, kind, seq),
            )

    def matched_since(
        self, rule_ids: Iterable[str], since: datetime, *, limit: int = 200
    ) -> list[tuple[Article, list[Match]]]:
        """Articles matched by these rules since `since`, delivered or not (for previews),
        except muted stories: a digest never shows them again."""
        wanted = sorted(set(rule_ids))
        if not wanted:
            return []
        rows = self._query(
            f"""
            SELECT m.* FROM matches m JOIN articles a ON a.key = m.article_key
            WHERE m.rule_id IN ({marks(len(wanted))}) AND m.matched_at >= ? AND {_NOT_MUTED}
            ORDER BY a.published_at DESC
            """,
            (*wanted, iso(since)),
        )
        return self._with_articles(rows, limit)

    def _with_articles(self, rows: list[Row], limit: int) -> list[tuple[Article, list[Match]]]:
        by_article: dict[str, list[Row]] = {}
        for row in rows:
            by_article.setdefault(row["article_key"], []).append(row)
        # Only the kept articles' matches are decoded (their hits are JSON).
        kept = list(by_article)[:limit]
        articles: dict[str, Article] = {}
        for start in range(0, len(kept), _KEYS_PER_READ):
            keys = kept[start : start + _KEYS_PER_READ]
            for row in self._query(
                f"SELECT * FROM articles WHERE key IN ({marks(len(keys))})", keys
            ):
                articles[row["key"]] = article_of(row)
        return [
            (articles[key], [match_of(row) for row in by_article[key]])
            for key in kept
            if key in articles
        ]


def match_of(row: Row) -> Match:
    """The match a row of the `matches` table holds (any query selecting its columns)."""
    hits = tuple(Hit(**item) for item in json.loads(row["hits"]))
    return Match(
        rule_id=row["rule_id"],
        rule_name=row["rule_name"],
        article_key=row["article_key"],
        priority=Priority(row["priority"]),
        score=row["score"],
        hits=hits,
    )
