"""All SQL: feed state, articles and stories, matches, the outbox and the delivery ledger,
behind the Protocols the pipeline declares. SQLite in WAL mode, migrations as .sql files.
"""

from monitor.store.articles import CANDIDATE_LIMIT, Quarantined, StoryCandidate, StoryLinker
from monitor.store.samples import SampleTables
from monitor.store.snapshots import RulesSnapshot
from monitor.store.sqlite import Store

__all__ = [
    "CANDIDATE_LIMIT",
    "Quarantined",
    "RulesSnapshot",
    "SampleTables",
    "Store",
    "StoryCandidate",
    "StoryLinker",
]
