"""The store: one class offering every table's SQL, on SQLite or PostgreSQL, and the one
way to open it from a store URL.

Each concern's SQL lives in its own module (feeds, articles, matches, outbox, notes,
rules snapshot, the workspace's reads, archive search, follow-ups, feedback, the preview's
archive, the leases several daemons share the work by) on the connection of `db.py`,
whichever backend it is; this module only puts them together. The stages see it through
the Protocols they declare.
"""

from __future__ import annotations

from monitor.errors import StoreError
from monitor.store.archive import ArchiveTables
from monitor.store.articles import ArticleTables
from monitor.store.browse import BrowseTables
from monitor.store.events import EventTables
from monitor.store.feedback import FeedbackTables
from monitor.store.feeds import FeedTables
from monitor.store.follow_ups import FollowUpTables
from monitor.store.leases import DEFAULT_LEASE_S, LeaseTables
from monitor.store.location import store_location
from monitor.store.matches import MatchTables
from monitor.store.notes import NoteTables
from monitor.store.outbox import OutboxTables
from monitor.store.samples import SampleTables
from monitor.store.search import SearchTables
from monitor.store.snapshots import SnapshotTables
from monitor.store.spikes import SpikeTables
from monitor.store.story_stats import StoryStatsTables


class Store(
    # First: on a shared PostgreSQL store its claims stand in for the plain reads of the
    # analysis queue and the outbox (SQLite keeps them as they are).
    LeaseTables,
    FeedTables,
    ArticleTables,
    MatchTables,
    OutboxTables,
    NoteTables,
    SnapshotTables,
    BrowseTables,
    SampleTables,
    FollowUpTables,
    SearchTables,
    FeedbackTables,
    EventTables,
    SpikeTables,
    StoryStatsTables,
    ArchiveTables,
):
    """Every table's SQL on one database, safe to call from the event loop and worker threads."""


def open_store(url: str, *, lease_s: float = DEFAULT_LEASE_S) -> Store:
    """The store at `url` (`sqlite:///PATH` or `postgresql://USER@HOST/DB`), migrated; on
    PostgreSQL the work this process claims is leased to it for `lease_s` at a time.

    Raises StoreError naming the store (never its password) when the URL is of another
    kind, the server cannot be reached or refuses the login, or the database is missing:
    a wrong URL never falls back to a local file.
    """
    return Store(url, lease_s=lease_s)


def store_problem(url: str) -> str | None:
    """Why the store at `url` cannot be used, or None; changes nothing (for `check`).

    A PostgreSQL server is asked whether it lets us in; a SQLite file is created on first
    run, so only its URL is checked.
    """
    try:
        location = store_location(url)
        if location.backend == "postgresql":
            # Imported here: psycopg is loaded only where PostgreSQL is used.
            from monitor.store.postgres_db import probe

            probe(location.conninfo, location.shown)
    except StoreError as exc:
        return str(exc)
    return None
