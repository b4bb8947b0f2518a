"""SQL for event stories: story profiles, the term index candidates are read through, which
story each article was placed in, and the term counts.

Persists what the pipeline decided with `monitor.stories`; never decides. Every lookup is a
seek on a primary key or on `story_keys (term, last_seen)`, so its cost does not grow with
the store (see docs/decisions.md, event stories).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.store.db import Database, iso, marks, required_time
from monitor.store.dialect import Row, Session

# For each key, the most recent stories filed under it that a lookup reads: a common key
# ("france") costs no more than a rare one, and the article's other keys find older stories.
STORIES_PER_KEY = 16
# The stories whose profiles are read and scored, those sharing the most keys first.
MAX_CANDIDATES = 24


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A story's profile as the store keeps it (monitor.stories.StoryProfile's fields)."""

    story_id: str
    terms: tuple[tuple[str, float], ...]
    names: frozenset[str]
    articles: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class TermTally:
    """How many articles were counted, and how many of them hold each asked-for term."""

    articles: int
    holding: Mapping[str, int]


class EventTables(Database):
    """Story profiles, their term index, placements and term counts."""

    def story_placement(self, article_key: str) -> str | None:
        """The story the article was placed in, if it was."""
        rows = self._query(
            "SELECT story_id FROM story_members WHERE article_key = ?", (article_key,)
        )
        return str(rows[0]["story_id"]) if rows else None

    def term_tallies(self, feed_id: str, terms: Iterable[str]) -> tuple[TermTally, TermTally]:
        """The counts of `terms` over every feed, then over `feed_id`'s articles."""
        wanted = ["", *dict.fromkeys(terms)]
        rows = self._query(
            "SELECT scope, term, articles FROM story_term_counts "
            f"WHERE scope IN (?, ?) AND term IN ({marks(len(wanted))})",
            ("", feed_id, *wanted),
        )
        counts: dict[str, dict[str, int]] = {"": {}, feed_id: {}}
        for row in rows:
            counts[row["scope"]][row["term"]] = int(row["articles"])
        return _tally(counts[""]), _tally(counts[feed_id])

    def story_candidates(self, keys: Sequence[str], since: datetime) -> list[StoredStory]:
        """The stories active since `since` filed under any of `keys`: at most
        STORIES_PER_KEY per key, then the MAX_CANDIDATES sharing the most keys."""
        if not keys:
            return []
        found = Counter(
            row["story_id"]
            for row in self._query(
                _recent_by_key(len(keys)),
                [value for key in keys for value in (key, iso(since), STORIES_PER_KEY)],
            )
        )
        chosen = [story_id for story_id, _ in found.most_common(MAX_CANDIDATES)]
        if not chosen:
            return []
        rows = self._query(
            f"SELECT * FROM story_events WHERE story_id IN ({marks(len(chosen))})", chosen
        )
        return [_story_of(row) for row in rows]

    def save_placement(
        self,
        article_key: str,
        feed_id: str,
        story: StoredStory,
        keys: Sequence[str],
        terms: Sequence[str],
        now: datetime,
    ) -> None:
        """Record the article in `story` (its grown profile, filed under `keys`), move the
        article and its near-duplicate sketch to that story, and count its `terms`."""
        with self._transaction() as db:
            _upsert_story(db, story)
            db.executemany(
                "INSERT INTO story_keys (term, story_id, last_seen) VALUES (?, ?, ?) "
                "ON CONFLICT (term, story_id) DO UPDATE SET last_seen = excluded.last_seen",
                [(key, story.story_id, iso(story.last_seen)) for key in keys],
            )
            db.execute(
                "INSERT INTO story_members (article_key, story_id, placed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (article_key) DO NOTHING",
                (article_key, story.story_id, iso(now)),
            )
            # Delivery goes by articles.story_id, and later copies join through the sketch.
            db.execute(
                "UPDATE articles SET story_id = ? WHERE key = ?", (story.story_id, article_key)
            )
            db.execute(
                "UPDATE story_sketches SET story_id = ? WHERE article_key = ?",
                (story.story_id, article_key),
            )
            db.executemany(
                "INSERT INTO story_term_counts (scope, term, articles) VALUES (?, ?, 1) "
                "ON CONFLICT (scope, term) DO UPDATE SET articles = story_term_counts.articles + 1",
                [(scope, term) for scope in ("", feed_id) for term in ("", *terms)],
            )

    def purge_stories_before(self, cutoff: datetime) -> int:
        """Forget the stories last seen before `cutoff`, with their keys; return how many.

        Placements stay (a few bytes each) until their article is purged, so an article
        analysed again keeps its story's id.
        """
        with self._transaction() as db:
            db.execute("DELETE FROM story_keys WHERE last_seen < ?", (iso(cutoff),))
            cursor = db.execute("DELETE FROM story_events WHERE last_seen < ?", (iso(cutoff),))
            db.execute(
                "DELETE FROM story_members WHERE NOT EXISTS "
                "(SELECT 1 FROM articles WHERE articles.key = story_members.article_key)"
            )
            return cursor.rowcount


def _recent_by_key(count: int) -> str:
    # One bounded seek per key on story_keys_recent; UNION ALL of parenthesised, aliased
    # subqueries is accepted by SQLite and PostgreSQL alike.
    one = (
        "SELECT story_id FROM (SELECT story_id FROM story_keys WHERE term = ? "
        "AND last_seen >= ? ORDER BY last_seen DESC LIMIT ?) AS k{n}"
    )
    return " UNION ALL ".join(one.format(n=n) for n in range(count))


def _tally(counts: dict[str, int]) -> TermTally:
    return TermTally(counts.pop("", 0), counts)


def _upsert_story(db: Session, story: StoredStory) -> None:
    db.execute(
        "INSERT INTO story_events (story_id, first_seen, last_seen, articles, terms, names) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (story_id) DO UPDATE SET "
        "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
        "articles = excluded.articles, terms = excluded.terms, names = excluded.names",
        (
            story.story_id,
            iso(story.first_seen),
            iso(story.last_seen),
            story.articles,
            json.dumps([[term, round(weight, 5)] for term, weight in story.terms]),
            json.dumps(sorted(story.names)),
        ),
    )


def _story_of(row: Row) -> StoredStory:
    return StoredStory(
        story_id=row["story_id"],
        terms=tuple((str(term), float(weight)) for term, weight in json.loads(row["terms"])),
        names=frozenset(json.loads(row["names"])),
        articles=int(row["articles"]),
        first_seen=required_time(row["first_seen"]),
        last_seen=required_time(row["last_seen"]),
    )
