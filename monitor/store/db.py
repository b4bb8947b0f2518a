"""The store's connection, whichever backend: transactions, reads, health and the schema
version, for the mixins that hold each concern's SQL; and values as the database keeps them.

Opens SQLite (`sqlite_db.py`) or PostgreSQL (`postgres_db.py`) from a path or a store URL
and knows no table: the feeds, articles, outbox and notes modules hold the SQL, written
once for both backends with the odd fragment from `self.dialect`.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.errors import StoreError
from monitor.store.dialect import Dialect, Row, Session
from monitor.store.location import store_location
from monitor.store.sqlite_db import SqliteConnection

if TYPE_CHECKING:
    from monitor.store.postgres_db import PostgresConnection


class Database:
    """A store database, safe to call from the event loop and worker threads.

    `where` is a SQLite file (a `Path`, a bare path or `sqlite:///PATH`) or a PostgreSQL
    URL (`postgresql://USER@HOST/DB`); a wrong URL or an unreachable server is a
    `StoreError` naming it (never its password), never a fallback to another store.
    """

    def __init__(self, where: Path | str) -> None:
        location = store_location(where)
        self.path = location.path  # the SQLite file; None on a PostgreSQL server
        self.shown = location.shown
        if location.backend == "sqlite":
            assert location.path is not None  # a SQLite location always has its file
            self._conn: SqliteConnection | PostgresConnection = SqliteConnection(location.path)
        else:
            # Imported here: psycopg is loaded only by daemons that use PostgreSQL.
            from monitor.store.postgres_db import PostgresConnection

            self._conn = PostgresConnection(location.conninfo, location.shown)
        self.dialect: Dialect = self._conn.dialect

    @property
    def _db(self) -> sqlite3.Connection:
        """SQLite only: the raw connection (its own features, such as FTS5, and tests)."""
        if not isinstance(self._conn, SqliteConnection):
            raise StoreError(f"store: {self.shown} is not a SQLite database")
        return self._conn.db

    @property
    def _lock(self) -> threading.RLock:
        """The lock a process's writes take turns on (SQLite: every statement)."""
        return self._conn.lock

    def close(self) -> None:
        self._conn.close()

    def schema_version(self) -> int:
        rows = self._query("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0]["value"]) if rows else 0

    @contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[Session]:
        """One transaction; `durable=False` commits atomically without waiting for the
        disk (a row rewritten at every poll, which a power cut may take back)."""
        with self._conn.transaction(durable=durable) as session:
            yield session

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        """Several reads on one connection, outside a transaction."""
        with self._conn.reading() as session:
            yield session

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.query(sql, params)

    # --- health -----------------------------------------------------------------

    def quick_check(self) -> str | None:
        """None when the database passes its own check, else the first problem it reports."""
        return self._conn.quick_check()

    def is_writable(self, *, wait_s: float = 1.0) -> bool:
        """Whether a small write commits within `wait_s` (for the health endpoint)."""
        return self._conn.is_writable(wait_s=wait_s)


# --- values as the database keeps them --------------------------------------------


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def required_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def signed64(value: int) -> int:
    # SQLite integers are signed 64-bit; fingerprints are unsigned.
    return value - (1 << 64) if value >= (1 << 63) else value


def unsigned64(value: int) -> int:
    return value & 0xFFFFFFFFFFFFFFFF


def marks(count: int) -> str:
    """`?, ?, …` for an IN list of `count` values."""
    return ",".join("?" * count)
