"""Place analysed articles in event stories: annotations → event vector → candidate stories
read through the store's term index → the join decision → the grown profile, stored.

Runs after annotation and before the matches are stored, so a delivery (which goes by the
article's story) sends one alert per event. A copy that the near-duplicate index already put
in a story at ingest keeps that story (see docs/stories.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from monitor.metrics import Metrics
from monitor.model import Annotations, Article
from monitor.settings import STORY_DEFAULTS, StorySettings
from monitor.store import StoredStory, TermTally
from monitor.stories import (
    StoryProfile,
    TermCounts,
    article_terms,
    event_features,
    grown,
    pick_story,
)


class StoryStore(Protocol):
    """The store as story placement sees it."""

    def story_placement(self, article_key: str) -> str | None: ...

    def term_tallies(self, feed_id: str, terms: Sequence[str]) -> tuple[TermTally, TermTally]: ...

    def story_candidates(self, keys: Sequence[str], since: datetime) -> list[StoredStory]: ...

    def save_placement(
        self,
        article_key: str,
        feed_id: str,
        story: StoredStory,
        keys: Sequence[str],
        terms: Sequence[str],
        now: datetime,
    ) -> None: ...


def place_in_stories(
    store: StoryStore,
    articles: Sequence[Article],
    notes: Sequence[Annotations],
    now: datetime,
    settings: StorySettings = STORY_DEFAULTS,
    metrics: Metrics | None = None,
) -> list[Article]:
    """Place each article in its event story (once: an article placed before keeps its
    story); return the articles with their story ids. `metrics` counts how each was placed."""
    return [
        place_one(store, article, note, now, settings, metrics)
        for article, note in zip(articles, notes, strict=True)
    ]


def place_one(
    store: StoryStore,
    article: Article,
    notes: Annotations,
    now: datetime,
    settings: StorySettings = STORY_DEFAULTS,
    metrics: Metrics | None = None,
) -> Article:
    """Place one article in its event story and record it; return it with its story id."""
    placed = store.story_placement(article.key)
    if placed is not None:
        return replace(article, story_id=placed)
    found = article_terms(notes, settings)
    everywhere, in_feed = store.term_tallies(article.feed_id, found.terms)
    features = event_features(found, _counts(everywhere), _counts(in_feed), settings)
    since = article.published_at - timedelta(seconds=settings.window_s)
    candidates = [_profile(story) for story in store.story_candidates(features.keys, since)]
    copied = _near_duplicate_story(store, article)
    if copied is not None:
        story_id, how = copied, "copy"
    else:
        pick = pick_story(features, article.published_at, candidates, settings)
        story_id = pick.story_id or article.key
        how = "new" if pick.story_id is None else "event"
    current = next((c for c in candidates if c.story_id == story_id), None)
    profile = grown(current, story_id, features, article.published_at)
    store.save_placement(
        article.key, article.feed_id, _stored(profile), profile.keys, found.terms, now
    )
    if metrics is not None:
        metrics.count_story_placement(how)
    return replace(article, story_id=story_id)


def _near_duplicate_story(store: StoryStore, article: Article) -> str | None:
    """The story of the article the near-duplicate index joined this copy to, if it did:
    that article was analysed first (the queue runs oldest first) and may have moved."""
    if article.story_id is None or article.story_id == article.key:
        return None
    return store.story_placement(article.story_id) or article.story_id


def _counts(tally: TermTally) -> TermCounts:
    return TermCounts(tally.articles, tally.holding)


def _profile(story: StoredStory) -> StoryProfile:
    return StoryProfile(
        story.story_id, story.terms, story.names, story.articles, story.first_seen, story.last_seen
    )


def _stored(profile: StoryProfile) -> StoredStory:
    return StoredStory(
        profile.story_id,
        profile.terms,
        profile.names,
        profile.articles,
        profile.first_seen,
        profile.last_seen,
    )
