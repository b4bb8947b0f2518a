"""The SQLite store: one class offering every table's SQL over one connection.

Each concern's SQL lives in its own module (feeds, articles, matches, outbox, notes,
rules snapshot, the workspace's reads, the preview's archive) on
the shared connection of `db.py`; this module only puts them together. The stages see it
through the Protocols they declare, so another backend can stand in.
"""

from __future__ import annotations

from monitor.store.archive import ArchiveTables
from monitor.store.articles import ArticleTables
from monitor.store.browse import BrowseTables
from monitor.store.feeds import FeedTables
from monitor.store.matches import MatchTables
from monitor.store.notes import NoteTables
from monitor.store.outbox import OutboxTables
from monitor.store.samples import SampleTables
from monitor.store.snapshots import SnapshotTables


class Store(
    FeedTables,
    ArticleTables,
    MatchTables,
    OutboxTables,
    NoteTables,
    SnapshotTables,
    BrowseTables,
    SampleTables,
    ArchiveTables,
):
    """A SQLite database in WAL mode, safe to call from the event loop and worker threads."""
