"""All SQL: feed state, articles and stories, matches, the outbox and the delivery ledger,
behind the Protocols the pipeline declares. SQLite in WAL mode or PostgreSQL, chosen by the
store URL (`open_store`); migrations as .sql files per backend. Also the archive search
(its query language and full-text index), copying a SQLite store into PostgreSQL, and the
row leases by which several daemons share one PostgreSQL store's work.
"""

from monitor.store.articles import Quarantined, StoryCandidate, StoryLinker
from monitor.store.browse import MatchedArticle, MatchQuery, PageCursor
from monitor.store.copy import COPIED_TABLES, CopyReport, OnProgress, TableCount, copy_store
from monitor.store.events import StoredStory, TermTally
from monitor.store.feedback import VERDICTS, FeedbackRecord, FeedbackTally
from monitor.store.leases import DEFAULT_LEASE_S, LeaseHolding
from monitor.store.location import store_location
from monitor.store.samples import SampleTables
from monitor.store.search import SEARCH_ORDERS, ArticleSearch, FoundArticle, SearchOrder
from monitor.store.search_query import (
    SearchQuery,
    SearchSnippet,
    SearchSyntaxError,
    SearchTerm,
    parse_search,
)
from monitor.store.snapshots import RulesSnapshot
from monitor.store.spikes import RuleStory, SpikeState
from monitor.store.sqlite import Store, open_store, store_problem
from monitor.store.story_stats import OpenStory, StoryFigures

__all__ = [
    "COPIED_TABLES",
    "DEFAULT_LEASE_S",
    "SEARCH_ORDERS",
    "VERDICTS",
    "ArticleSearch",
    "CopyReport",
    "FeedbackRecord",
    "FeedbackTally",
    "FoundArticle",
    "LeaseHolding",
    "MatchQuery",
    "MatchedArticle",
    "OnProgress",
    "OpenStory",
    "PageCursor",
    "Quarantined",
    "RuleStory",
    "RulesSnapshot",
    "SampleTables",
    "SearchOrder",
    "SearchQuery",
    "SearchSnippet",
    "SearchSyntaxError",
    "SearchTerm",
    "SpikeState",
    "Store",
    "StoredStory",
    "StoryCandidate",
    "StoryFigures",
    "StoryLinker",
    "TableCount",
    "TermTally",
    "copy_store",
    "open_store",
    "parse_search",
    "store_location",
    "store_problem",
]
