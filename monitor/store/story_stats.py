"""SQL for the story figures `monitor status` shows: how many event stories began in a period,
how many articles they gathered, and the largest stories still open.

Reads `story_events` (kept by `events.py`) and the articles of a few stories; never writes.
Portable SQL: `?` placeholders, ISO-8601 text times compared as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.store.db import Database, iso, marks, required_time

__all__ = ["OpenStory", "StoryFigures", "StoryStatsTables"]


@dataclass(frozen=True, slots=True)
class StoryFigures:
    """The stories whose first article was published since a moment, and their articles."""

    since: datetime
    stories: int
    articles: int

    @property
    def articles_per_story(self) -> float:
        return self.articles / self.stories if self.stories else 0.0


@dataclass(frozen=True, slots=True)
class OpenStory:
    """A story with an article published recently: its lead's title, its size and outlets."""

    story_id: str
    title: str
    articles: int
    outlets: int
    first_seen: datetime
    last_seen: datetime


class StoryStatsTables(Database):
    """Counts over event stories, for status pages; a few index reads, never per article."""

    def story_figures(self, since: datetime) -> StoryFigures:
        """The stories begun (first article published) since `since`, and their articles."""
        # first_seen <= last_seen: the condition on last_seen lets the index bound the read.
        rows = self._query(
            "SELECT COUNT(*) AS stories, COALESCE(SUM(articles), 0) AS articles "
            "FROM story_events WHERE last_seen >= ? AND first_seen >= ?",
            (iso(since), iso(since)),
        )
        return StoryFigures(since, int(rows[0]["stories"]), int(rows[0]["articles"]))

    def largest_open_stories(self, since: datetime, limit: int = 5) -> list[OpenStory]:
        """The `limit` stories with the most articles among those with one published since
        `since` (larger first, then the older), each with its lead's title and outlets."""
        rows = self._query(
            "SELECT story_id, articles, first_seen, last_seen FROM story_events "
            "WHERE last_seen >= ? ORDER BY articles DESC, first_seen, story_id LIMIT ?",
            (iso(since), limit),
        )
        if not rows:
            return []
        ids = [row["story_id"] for row in rows]
        # A story's id is the key of its first article (docs/stories.md).
        found = self._query(
            "SELECT story_id, COUNT(DISTINCT feed_id) AS outlets, "
            "MAX(CASE WHEN key = story_id THEN title END) AS title "
            f"FROM articles WHERE story_id IN ({marks(len(ids))}) GROUP BY story_id",
            ids,
        )
        leads = {row["story_id"]: (row["title"], int(row["outlets"])) for row in found}
        stories = []
        for row in rows:
            # A story whose articles were all purged keeps its id in place of a title.
            title, outlets = leads.get(row["story_id"], (None, 0))
            stories.append(
                OpenStory(
                    story_id=row["story_id"],
                    title=title or row["story_id"],
                    articles=int(row["articles"]),
                    outlets=outlets,
                    first_seen=required_time(row["first_seen"]),
                    last_seen=required_time(row["last_seen"]),
                )
            )
        return stories
