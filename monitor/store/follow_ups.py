"""SQL for follow-ups: the coverage ledger (what each sending of a story to a subscription
carried) and the reads a follow-up check needs (stories sent that grew, a story's copies).

Persists what the pipeline sent; never decides whether a follow-up is due (that is
`monitor.schedule.follow_up_due`). Portable SQL: `?` placeholders, ON CONFLICT upserts,
ISO-8601 text times compared as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from monitor.model import Article, Match, StoryCoverage
from monitor.store.articles import article_of
from monitor.store.db import Database, iso, marks, required_time
from monitor.store.dialect import Row, Session
from monitor.store.matches import match_of

# Stories per IN list: far under every backend's limit on bound parameters.
_CHUNK = 500


class FollowUpTables(Database):
    """The coverage ledger and the story reads of follow-ups."""

    def grown_since_sent(
        self, subscription_id: str, since: datetime
    ) -> list[tuple[StoryCoverage, datetime]]:
        """Stories last sent to the subscription at or after `since` that have gained an
        article or a match after that sending: what the sending covered, and when it was."""
        rows = self._query(
            """
            SELECT c.story_id, c.outlets, c.actors, c.sent_at FROM story_coverage c
            WHERE c.subscription_id = ? AND c.sent_at >= ?
              AND EXISTS (SELECT 1 FROM articles a WHERE a.story_id = c.story_id
                          AND (a.stored_at > c.sent_at OR a.matched_at > c.sent_at))
            ORDER BY c.sent_at, c.story_id
            """,
            (subscription_id, iso(since)),
        )
        return [(_coverage(row), required_time(row["sent_at"])) for row in rows]

    def story_copies(
        self, story_ids: Iterable[str], rule_ids: Iterable[str]
    ) -> dict[str, list[tuple[Article, list[Match]]]]:
        """Every stored copy of these stories, matched or not, with its matches on these
        rules; by story, in publication order."""
        rules = sorted(set(rule_ids))
        copies: dict[str, list[tuple[Article, list[Match]]]] = {}
        for chunk in _chunks(sorted(set(story_ids))):
            matches: dict[str, list[Match]] = {}
            if rules:
                found = self._query(
                    f"""
                    SELECT m.* FROM matches m JOIN articles a ON a.key = m.article_key
                    WHERE a.story_id IN ({marks(len(chunk))})
                      AND m.rule_id IN ({marks(len(rules))})
                    """,
                    (*chunk, *rules),
                )
                for row in found:
                    matches.setdefault(row["article_key"], []).append(match_of(row))
            articles = self._query(
                f"SELECT * FROM articles WHERE story_id IN ({marks(len(chunk))}) "
                "ORDER BY published_at, key",
                chunk,
            )
            for row in articles:
                article = article_of(row)
                copies.setdefault(row["story_id"], []).append(
                    (article, matches.get(article.key, []))
                )
        return copies

    def coverage_sent(self, subscription_id: str, story_id: str) -> StoryCoverage | None:
        """What the last sending of the story to the subscription covered, if it was sent."""
        rows = self._query(
            "SELECT story_id, outlets, actors FROM story_coverage "
            "WHERE subscription_id = ? AND story_id = ?",
            (subscription_id, story_id),
        )
        return _coverage(rows[0]) if rows else None


def record_coverage(
    db: Session,
    subscription_id: str,
    delivery_id: str,
    coverage: Sequence[StoryCoverage],
    sent_at: datetime,
) -> None:
    """Record, in the caller's transaction, what one sending of these stories covered: the
    first sending of a story adds its row, each follow-up replaces it and is counted."""
    db.executemany(
        """
        INSERT INTO story_coverage
            (subscription_id, story_id, outlets, actors, sent_at, follow_ups, delivery_id)
        VALUES (?, ?, ?, ?, ?, 0, ?)
        ON CONFLICT (subscription_id, story_id) DO UPDATE SET
            outlets = excluded.outlets, actors = excluded.actors, sent_at = excluded.sent_at,
            follow_ups = story_coverage.follow_ups + 1, delivery_id = excluded.delivery_id
        """,
        [
            (
                subscription_id,
                story.story_id,
                json.dumps(sorted(story.outlets)),
                json.dumps(sorted(story.actors)),
                iso(sent_at),
                delivery_id,
            )
            for story in coverage
        ],
    )


def _coverage(row: Row) -> StoryCoverage:
    return StoryCoverage(
        story_id=row["story_id"],
        outlets=frozenset(json.loads(row["outlets"])),
        actors=frozenset(json.loads(row["actors"])),
    )


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
