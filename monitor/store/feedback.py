"""SQL for the analysts' feedback: one verdict per match (article, rule), the stories muted
for every subscription, the tallies a rule's measured precision is computed from, and the
records the export writes.

Stores what an analyst said; never decides what is delivered (the owed-stories query in
`matches.py` and anyone else calls `muted_story_ids`). Portable SQL: `?` placeholders,
`ON CONFLICT` upserts, text timestamps compared as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from monitor.store.db import Database, iso, marks, parse_time, required_time
from monitor.store.dialect import Row

RELEVANT = "relevant"
NOT_RELEVANT = "not_relevant"
VERDICTS = (RELEVANT, NOT_RELEVANT)
MUTED = "muted"  # the action of a mute in `FeedbackRecord`
# How many ids one IN list carries: SQLite's default limit on variables is 32,766, and a
# page or a digest asks for far fewer; longer lists are read in pieces.
_IDS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class FeedbackTally:
    """A rule's votes: how many of its matches analysts judged relevant or not."""

    relevant: int = 0
    not_relevant: int = 0

    @property
    def votes(self) -> int:
        return self.relevant + self.not_relevant

    @property
    def precision(self) -> float | None:
        """relevant / (relevant + not relevant); None without a vote."""
        return self.relevant / self.votes if self.votes else None

    def plus(self, verdict: str) -> FeedbackTally:
        if verdict == RELEVANT:
            return FeedbackTally(self.relevant + 1, self.not_relevant)
        return FeedbackTally(self.relevant, self.not_relevant + 1)


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One verdict or one mute, with what is still stored of its article (None once purged)."""

    action: str  # "relevant" | "not_relevant" | "muted"
    rule_id: str | None  # None for a mute given without a rule (the API's)
    article_key: str
    story_id: str
    published_at: datetime | None
    decided_at: datetime
    decided_by: str | None
    feed_id: str | None
    title: str | None
    url: str | None


class FeedbackTables(Database):
    """Verdicts on matches and muted stories."""

    def record_verdict(
        self, article_key: str, rule_id: str, verdict: str, now: datetime, *, by: str | None = None
    ) -> bool:
        """Set the verdict on one stored match (replacing an earlier one); False when no
        such match is stored."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict '{verdict}' is not one of {', '.join(VERDICTS)}")
        with self._transaction() as db:
            # The story and publication time are copied: the vote outlives a purged article.
            cursor = db.execute(
                """
                INSERT INTO feedback (article_key, rule_id, story_id, published_at, verdict,
                                      decided_at, decided_by)
                SELECT m.article_key, m.rule_id, a.story_id, a.published_at, ?, ?, ?
                FROM matches m JOIN articles a ON a.key = m.article_key
                WHERE m.article_key = ? AND m.rule_id = ?
                ON CONFLICT (article_key, rule_id) DO UPDATE SET verdict = excluded.verdict,
                    decided_at = excluded.decided_at, decided_by = excluded.decided_by
                """,
                (verdict, iso(now), by, article_key, rule_id),
            )
            return cursor.rowcount > 0

    def clear_verdict(self, article_key: str, rule_id: str) -> bool:
        """Forget the verdict on one match; False when it had none."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM feedback WHERE article_key = ? AND rule_id = ?",
                (article_key, rule_id),
            )
            return cursor.rowcount > 0

    def mute_story(
        self,
        story_id: str,
        now: datetime,
        *,
        article_key: str | None = None,
        rule_id: str | None = None,
        by: str | None = None,
    ) -> bool:
        """Mute a stored story for every subscription (its later copies too); False when no
        article of that story is stored. Muting a muted story keeps the first mute."""
        with self._transaction() as db:
            # The copy it was muted from, when it belongs to the story; else its first copy.
            found = db.execute(
                "SELECT key FROM articles WHERE story_id = ? "
                "ORDER BY (key = ?) DESC, published_at, key LIMIT 1",
                (story_id, article_key or ""),
            ).fetchone()
            if found is None:
                return False
            db.execute(
                "INSERT INTO muted_stories (story_id, article_key, rule_id, muted_at, muted_by) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (story_id) DO NOTHING",
                (story_id, found["key"], rule_id, iso(now), by),
            )
            return True

    def unmute_story(self, story_id: str) -> bool:
        """Deliver a muted story's new matches again; False when it was not muted."""
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM muted_stories WHERE story_id = ?", (story_id,))
            return cursor.rowcount > 0

    def muted_story_ids(self, story_ids: Iterable[str]) -> set[str]:
        """Which of these stories are muted: never alerted or put in a digest again."""
        wanted = sorted(set(story_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            piece = wanted[start : start + _IDS_PER_QUERY]
            rows = self._query(
                f"SELECT story_id FROM muted_stories WHERE story_id IN ({marks(len(piece))})",
                piece,
            )
            found.update(str(row["story_id"]) for row in rows)
        return found

    def verdicts_for(self, article_keys: Iterable[str]) -> dict[tuple[str, str], str]:
        """(article key, rule id) → verdict, for the matches of these articles that have one."""
        wanted = sorted(set(article_keys))
        found: dict[tuple[str, str], str] = {}
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            piece = wanted[start : start + _IDS_PER_QUERY]
            rows = self._query(
                "SELECT article_key, rule_id, verdict FROM feedback "
                f"WHERE article_key IN ({marks(len(piece))})",
                piece,
            )
            found.update(((row["article_key"], row["rule_id"]), row["verdict"]) for row in rows)
        return found

    def feedback_tallies(self) -> dict[str, FeedbackTally]:
        """Every rule's votes, overall (rules without a vote are absent)."""
        rows = self._query(
            "SELECT rule_id, "
            "SUM(CASE WHEN verdict = 'relevant' THEN 1 ELSE 0 END) AS relevant, "
            "SUM(CASE WHEN verdict = 'not_relevant' THEN 1 ELSE 0 END) AS not_relevant "
            "FROM feedback GROUP BY rule_id"
        )
        return {
            str(row["rule_id"]): FeedbackTally(int(row["relevant"]), int(row["not_relevant"]))
            for row in rows
        }

    def rule_verdicts(self, rule_id: str) -> list[tuple[datetime, str]]:
        """(publication time of the article, verdict) of every vote on this rule, newest
        article first: what the rule page's precision per week is counted from."""
        rows = self._query(
            "SELECT published_at, verdict FROM feedback WHERE rule_id = ? "
            "ORDER BY published_at DESC",
            (rule_id,),
        )
        return [(required_time(row["published_at"]), str(row["verdict"])) for row in rows]

    def feedback_records(self, since: datetime | None = None) -> list[FeedbackRecord]:
        """Every verdict and mute given since `since` (all when None), newest first."""
        stamp = iso(since) or ""
        rows = self._query(
            """
            SELECT f.verdict AS action, f.rule_id, f.article_key, f.story_id, f.published_at,
                   f.decided_at, f.decided_by, a.feed_id, a.title, a.url
            FROM feedback f LEFT JOIN articles a ON a.key = f.article_key
            WHERE f.decided_at >= ?
            UNION ALL
            SELECT 'muted' AS action, s.rule_id, s.article_key, s.story_id, a.published_at,
                   s.muted_at AS decided_at, s.muted_by AS decided_by, a.feed_id, a.title, a.url
            FROM muted_stories s LEFT JOIN articles a ON a.key = s.article_key
            WHERE s.muted_at >= ?
            ORDER BY decided_at DESC, article_key, rule_id
            """,
            (stamp, stamp),
        )
        return [_record_of(row) for row in rows]


def _record_of(row: Row) -> FeedbackRecord:
    return FeedbackRecord(
        action=str(row["action"]),
        rule_id=row["rule_id"],
        article_key=str(row["article_key"]),
        story_id=str(row["story_id"]),
        published_at=parse_time(row["published_at"]),
        decided_at=required_time(row["decided_at"]),
        decided_by=row["decided_by"],
        feed_id=row["feed_id"],
        title=row["title"],
        url=row["url"],
    )
