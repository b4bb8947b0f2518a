"""All SQL: feed state, articles and stories, matches, the outbox and the delivery ledger,
behind the Protocols the pipeline declares. SQLite in WAL mode or PostgreSQL, chosen by the
store URL (`open_store`); migrations as .sql files per backend.
"""

from monitor.store.articles import Quarantined, StoryCandidate, StoryLinker
from monitor.store.browse import MatchedArticle, MatchQuery, PageCursor
from monitor.store.samples import SampleTables
from monitor.store.snapshots import RulesSnapshot
from monitor.store.sqlite import Store, open_store, store_problem

__all__ = [
    "MatchQuery",
    "MatchedArticle",
    "PageCursor",
    "Quarantined",
    "RulesSnapshot",
    "SampleTables",
    "Store",
    "StoryCandidate",
    "StoryLinker",
    "open_store",
    "store_problem",
]
