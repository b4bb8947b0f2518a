"""All SQL: feed state, articles and stories, matches, the outbox and the delivery ledger,
behind the Protocols the pipeline declares. SQLite in WAL mode, migrations as .sql files.
"""

from monitor.store.articles import Quarantined, StoryCandidate, StoryLinker
from monitor.store.browse import MatchedArticle, MatchQuery, PageCursor
from monitor.store.samples import SampleTables
from monitor.store.snapshots import RulesSnapshot
from monitor.store.spikes import RuleStory, SpikeState
from monitor.store.sqlite import Store

__all__ = [
    "MatchQuery",
    "MatchedArticle",
    "PageCursor",
    "Quarantined",
    "RuleStory",
    "RulesSnapshot",
    "SampleTables",
    "SpikeState",
    "Store",
    "StoryCandidate",
    "StoryLinker",
]
