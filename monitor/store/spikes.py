"""SQL for spikes and trends: the distinct stories each rule matched (per outlet, by
publication time), each spike rule's last check, the spikes fired and who was sent them.

Persists what `monitor.trends` decided and reads what it counts; never decides. Portable
SQL: `?` placeholders, ON CONFLICT upserts, ISO-8601 text times compared as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.model import Article, Match, SpikeAlert, SpikeStory
from monitor.store.db import Database, iso, marks, parse_time, required_time
from monitor.store.dialect import Row

__all__ = ["RuleStory", "SpikeState", "SpikeTables"]


@dataclass(frozen=True, slots=True)
class RuleStory:
    """One story a rule matched in one outlet."""

    rule_id: str
    story_id: str
    feed_id: str
    article_key: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class SpikeState:
    """A spike rule's last check, as `monitor status` and /metrics show it."""

    rule_id: str
    checked_at: datetime
    state: str  # "learning" | "quiet" | "surge" | "cooling"
    count: int
    outlets: int
    expected: float
    spread: float
    last_fired_at: datetime | None
    quiet_until: datetime | None


# Each row with the story its article is in now: event stories can merge after a match was
# recorded (a later article bridges two stories), and a surge counts today's stories, so
# the copies of one merged event count once.
_CURRENT_RULE_STORIES = (
    "SELECT r.rule_id, COALESCE(a.story_id, r.story_id) AS story_id, r.feed_id,"
    " r.article_key, r.published_at FROM rule_stories r"
    " LEFT JOIN articles a ON a.key = r.article_key "
)


class SpikeTables(Database):
    """Rule stories, spike states, fired spikes and their deliveries."""

    def record_rule_stories(self, articles: Sequence[Article], matches: Sequence[Match]) -> None:
        """Remember each match as (rule, story, outlet); a second copy of a story in the same
        outlet, or a match found again, changes nothing."""
        by_key = {article.key: article for article in articles}
        rows = [
            (
                match.rule_id,
                article.story_id or article.key,
                article.feed_id,
                article.key,
                iso(article.published_at),
            )
            for match in matches
            if (article := by_key.get(match.article_key)) is not None
        ]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO rule_stories (rule_id, story_id, feed_id, article_key, published_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (rule_id, story_id, feed_id) DO NOTHING",
                rows,
            )

    def rule_stories_since(self, rule_ids: Iterable[str], since: datetime) -> list[RuleStory]:
        """Every (rule, story, outlet) of these rules published since `since`: one read."""
        wanted = sorted(set(rule_ids))
        if not wanted:
            return []
        rows = self._query(
            _CURRENT_RULE_STORIES
            + f"WHERE r.rule_id IN ({marks(len(wanted))}) AND r.published_at >= ?",
            (*wanted, iso(since)),
        )
        return [_rule_story(row) for row in rows]

    def rule_stories_between(
        self, rule_ids: Iterable[str], ranges: Sequence[tuple[datetime, datetime]]
    ) -> list[RuleStory]:
        """Every (rule, story, outlet) of these rules published in one of `ranges` (from,
        to): only the windows a check compares, in one read."""
        wanted = sorted(set(rule_ids))
        if not wanted or not ranges:
            return []
        within = " OR ".join("(r.published_at >= ? AND r.published_at < ?)" for _ in ranges)
        bounds = [iso(moment) for pair in ranges for moment in pair]
        rows = self._query(
            _CURRENT_RULE_STORIES + f"WHERE r.rule_id IN ({marks(len(wanted))}) AND ({within})",
            (*wanted, *bounds),
        )
        return [_rule_story(row) for row in rows]

    def oldest_published_at(self) -> datetime | None:
        """When the oldest stored article was published: how much history baselines have."""
        # A scan of an index, not of the table; the spike check asks once per process.
        rows = self._query("SELECT MIN(published_at) AS oldest FROM articles")
        return parse_time(rows[0]["oldest"]) if rows else None

    def spike_states(self) -> dict[str, SpikeState]:
        rows = self._query("SELECT * FROM spike_states")
        return {row["rule_id"]: _state(row) for row in rows}

    def save_spike_checks(self, states: Sequence[SpikeState], fired: Sequence[SpikeAlert]) -> None:
        """Record the checks' states and the spikes they fired, in one transaction."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO spike_states VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (rule_id) DO UPDATE SET checked_at = excluded.checked_at, "
                "state = excluded.state, count = excluded.count, outlets = excluded.outlets, "
                "expected = excluded.expected, spread = excluded.spread, "
                "last_fired_at = excluded.last_fired_at, quiet_until = excluded.quiet_until",
                [
                    (
                        s.rule_id,
                        iso(s.checked_at),
                        s.state,
                        s.count,
                        s.outlets,
                        s.expected,
                        s.spread,
                        iso(s.last_fired_at),
                        iso(s.quiet_until),
                    )
                    for s in states
                ],
            )
            db.executemany(
                "INSERT INTO spikes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                [
                    (
                        a.id,
                        a.rule_id,
                        a.rule_name,
                        iso(a.fired_at),
                        a.window_s,
                        a.count,
                        a.outlets,
                        a.expected,
                        a.spread,
                        json.dumps([_story_json(story) for story in a.stories]),
                    )
                    for a in fired
                ],
            )

    def spikes_since(self, rule_ids: Iterable[str], since: datetime) -> list[SpikeAlert]:
        """The spikes these rules fired since `since`, oldest first."""
        wanted = sorted(set(rule_ids))
        if not wanted:
            return []
        rows = self._query(
            f"SELECT * FROM spikes WHERE rule_id IN ({marks(len(wanted))}) AND fired_at >= ? "
            "ORDER BY fired_at, id",
            (*wanted, iso(since)),
        )
        return [_spike(row) for row in rows]

    def spikes_delivered(self, subscription_id: str, spike_ids: Iterable[str]) -> set[str]:
        """Which of these spikes the subscription was already sent."""
        wanted = sorted(set(spike_ids))
        if not wanted:
            return set()
        rows = self._query(
            "SELECT spike_id FROM spike_deliveries WHERE subscription_id = ? "
            f"AND spike_id IN ({marks(len(wanted))})",
            (subscription_id, *wanted),
        )
        return {row["spike_id"] for row in rows}

    def mark_spike_delivered(self, subscription_id: str, spike_id: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO spike_deliveries VALUES (?, ?, ?) "
                "ON CONFLICT (subscription_id, spike_id) DO NOTHING",
                (subscription_id, spike_id, iso(now)),
            )


def _rule_story(row: Row) -> RuleStory:
    return RuleStory(
        row["rule_id"],
        row["story_id"],
        row["feed_id"],
        row["article_key"],
        required_time(row["published_at"]),
    )


def _story_json(story: SpikeStory) -> dict[str, object]:
    return {
        "article_key": story.article_key,
        "title": story.title,
        "url": story.url,
        "feed_id": story.feed_id,
        "published_at": iso(story.published_at),
        "outlets": story.outlets,
    }


def _spike(row: Row) -> SpikeAlert:
    get = row.__getitem__
    stories = tuple(
        SpikeStory(
            article_key=str(item["article_key"]),
            title=str(item["title"]),
            url=item["url"],
            feed_id=str(item["feed_id"]),
            published_at=required_time(str(item["published_at"])),
            outlets=int(item["outlets"]),
        )
        for item in json.loads(get("stories"))
    )
    return SpikeAlert(
        id=get("id"),
        rule_id=get("rule_id"),
        rule_name=get("rule_name"),
        fired_at=required_time(get("fired_at")),
        window_s=int(get("window_s")),
        count=int(get("count")),
        outlets=int(get("outlets")),
        expected=float(get("expected")),
        spread=float(get("spread")),
        stories=stories,
    )


def _state(row: Row) -> SpikeState:
    get = row.__getitem__
    return SpikeState(
        rule_id=get("rule_id"),
        checked_at=required_time(get("checked_at")),
        state=get("state"),
        count=int(get("count")),
        outlets=int(get("outlets")),
        expected=float(get("expected")),
        spread=float(get("spread")),
        last_fired_at=parse_time(get("last_fired_at")),
        quiet_until=parse_time(get("quiet_until")),
    )
