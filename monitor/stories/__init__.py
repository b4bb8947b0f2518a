"""Event stories: articles about one event, from any outlet, within days of each other.

Owns the clustering scheme: an article's event vector (`event_features`: lemmas, names and
entities of its title and lead), the keys candidate stories are looked up by, the join
decision (`pick_story`) and how a story's profile grows (`grown`). Pure: the store keeps the
profiles and the term index, the pipeline calls both (see docs/stories.md).
"""

from monitor.stories.features import (
    INDEX_KEYS,
    ArticleTerms,
    EventFeatures,
    TermCounts,
    article_terms,
    event_features,
)
from monitor.stories.join import (
    JOIN_THRESHOLD,
    STORY_WINDOW,
    StoryPick,
    StoryProfile,
    grown,
    pick_story,
    similarity,
)

__all__ = [
    "INDEX_KEYS",
    "JOIN_THRESHOLD",
    "STORY_WINDOW",
    "ArticleTerms",
    "EventFeatures",
    "StoryPick",
    "StoryProfile",
    "TermCounts",
    "article_terms",
    "event_features",
    "grown",
    "pick_story",
    "similarity",
]
