"""Which recent story an article's event joins, and how the story's profile grows.

Pure: takes the article's `EventFeatures` and the candidate stories the store read through
its term index, returns a decision. The threshold was measured on the labelled pairs of
`tests/data/story_pairs.jsonl` (see docs/decisions.md, event stories).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.settings import STORY_DEFAULTS, StorySettings
from monitor.stories.features import PROFILE_TERMS, EventFeatures, index_keys, unit_vector

# The defaults of the `stories:` settings, for code that has no configuration. Articles about
# one event arrive within days (the wire, then the dailies, then the weeklies' analysis); past
# that, a new article is news again and starts its own story. Without a shared name, only a
# near copy joins: the common words of one kind of news (a forecast, a match report) are
# alike whatever the event.
STORY_WINDOW = timedelta(seconds=STORY_DEFAULTS.window_s)
JOIN_THRESHOLD = STORY_DEFAULTS.threshold
UNNAMED_THRESHOLD = STORY_DEFAULTS.unnamed_threshold


@dataclass(frozen=True, slots=True)
class StoryProfile:
    """What a story is about so far: the unit-length sum of its articles' terms."""

    story_id: str
    terms: tuple[tuple[str, float], ...]
    names: frozenset[str]
    articles: int
    first_seen: datetime
    last_seen: datetime

    @property
    def keys(self) -> tuple[str, ...]:
        return index_keys(self.terms, self.names)


@dataclass(frozen=True, slots=True)
class StoryPick:
    """The story an article joins (or None: it starts one) and the best score seen."""

    story_id: str | None
    score: float
    examined: int


def similarity(features: EventFeatures, profile: StoryProfile) -> float:
    """The cosine of the article's terms and the story's profile (both unit length)."""
    theirs = dict(profile.terms)
    return sum(weight * theirs.get(term, 0.0) for term, weight in features.terms)


def pick_story(
    features: EventFeatures,
    published_at: datetime,
    candidates: Sequence[StoryProfile],
    settings: StorySettings = STORY_DEFAULTS,
) -> StoryPick:
    """The candidate story the article joins: the most similar one seen within the window of
    its publication that reaches the threshold (the unnamed one when they share no name);
    ties go to the older story."""
    best: tuple[float, datetime, str] | None = None
    top = 0.0
    window = timedelta(seconds=settings.window_s)
    for profile in candidates:
        if abs(published_at - profile.last_seen) > window:
            continue
        score = similarity(features, profile)
        top = max(top, score)
        shares_a_name = bool(features.names & profile.names)
        needed = settings.threshold if shares_a_name else settings.unnamed_threshold
        if score < max(needed, settings.threshold):
            continue
        ranked = (-score, profile.first_seen, profile.story_id)
        if best is None or ranked < best:
            best = ranked
    return StoryPick(best[2] if best else None, top, len(candidates))


def grown(
    profile: StoryProfile | None, story_id: str, features: EventFeatures, published_at: datetime
) -> StoryProfile:
    """The story's profile once the article has joined it (or a new story's first one)."""
    if profile is None:
        return StoryProfile(story_id, features.terms, features.names, 1, published_at, published_at)
    # A running mean of unit vectors keeps each article's say equal, so a long story's
    # profile drifts slowly and its first articles' names stay in it.
    weights = {term: weight * profile.articles for term, weight in profile.terms}
    for term, weight in features.terms:
        weights[term] = weights.get(term, 0.0) + weight
    terms = unit_vector(weights, PROFILE_TERMS)
    kept = {term for term, _ in terms}
    return StoryProfile(
        story_id=story_id,
        terms=terms,
        names=frozenset((profile.names | features.names) & kept),
        articles=profile.articles + 1,
        first_seen=min(profile.first_seen, published_at),
        last_seen=max(profile.last_seen, published_at),
    )
