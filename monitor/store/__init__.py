"""store: public face."""

from monitor.store.articles import CANDIDATE_LIMIT, Quarantined, StoryCandidate, StoryLinker
from monitor.store.sqlite import Store

__all__ = [
    "CANDIDATE_LIMIT",
    "Quarantined",
    "Store",
    "StoryCandidate",
    "StoryLinker",
]
