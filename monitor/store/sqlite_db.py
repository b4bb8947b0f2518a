"""The SQLite connection: opening (WAL mode), transactions, reads and the migrations.

Owns the one connection (one lock for the event loop and worker threads) and applies
`migrations/*.sql` in order, each in one transaction. Knows no table: the mixins hold the
SQL, spoken through the `Session` this module hands out.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.store.dialect import SQLITE, Cursor, clean_params
from monitor.store.schema import migrations

# How long a write waits for another writer before it fails as busy.
_BUSY_TIMEOUT_MS = 5000
# SQLite's page cache, per connection (the default is 2 MB). 64 MB holds the interior pages
# of every index of a 5-million-article store, so a lookup or insert reads at most its leaf
# page from the OS instead of walking each B-tree through it; bounded, it is the store's
# whole heap (see docs/operations.md, store sizing, and docs/decisions.md, band index).
CACHE_BYTES = 64 * 1024 * 1024


class _SqliteSession:
    """The connection as the mixins speak to it: every text value cleaned first."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._db.execute(sql, clean_params(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, (clean_params(row) for row in rows))


class SqliteConnection:
    """A SQLite database in WAL mode, safe to call from the event loop and worker threads."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown = str(path)
        self.lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"store: cannot open '{path}' ({getattr(exc, 'strerror', None) or exc}); "
                f"the folder '{path.parent}' must exist or be creatable, and be writable"
            ) from exc
        self.db.row_factory = sqlite3.Row
        self._session = _SqliteSession(self.db)
        try:
            self.db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            # Negative: a size in KiB, not a page count, so it holds whatever the page size.
            self.db.execute(f"PRAGMA cache_size = -{CACHE_BYTES // 1024}")
            # Sorts and temporary indexes (migrations, retention) stay off the disk.
            self.db.execute("PRAGMA temp_store = MEMORY")
            self._migrate()
        except StoreError:
            self.db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise _open_error(path, exc) from exc

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def _version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row["value"]) if row else 0

    def _migrate(self) -> None:
        """Apply the migrations newer than the database, each in one transaction."""
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        steps = migrations("sqlite")
        version = self._version()
        if version > len(steps):
            raise StoreError(
                f"store: '{self.path}' has schema version {version}, newer than this "
                f"monitor understands ({len(steps)}); upgrade monitor"
            )
        for target, name, script in steps[version:]:
            # executescript runs the file as SQLite parses it (no naive split on ';'); the
            # script's own BEGIN/COMMIT make the step and its version one transaction.
            try:
                self.db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\n;"
                    "INSERT INTO meta (key, value) "
                    f"VALUES ('schema_version', '{target}') "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value;\nCOMMIT;"
                )
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(
                    f"store: migration '{name}' failed on '{self.path}': {exc}; "
                    "the database is left at version "
                    f"{target - 1} (restore a backup if it was edited by hand)"
                ) from exc

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[_SqliteSession]:
        with self.lock:
            if durable:
                with self._immediate() as session:
                    yield session
                return
            # Every poll rewrites its feed's state: 10,000 fsyncs a round stall the event
            # loop ~3.5 ms each (bench/poll.py). In WAL mode, synchronous=NORMAL still
            # commits atomically and survives a crash of the process; a power cut may lose
            # the states written since the last synced commit, so those feeds are fetched
            # once more with older validators and their known articles deduplicated.
            # See https://sqlite.org/pragma.html#pragma_synchronous.
            synchronous = self.db.execute("PRAGMA synchronous").fetchone()[0]
            self.db.execute("PRAGMA synchronous = NORMAL")
            try:
                with self._immediate() as session:
                    yield session
            finally:
                self.db.execute(f"PRAGMA synchronous = {int(synchronous)}")

    @contextmanager
    def _immediate(self) -> Iterator[_SqliteSession]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield self._session
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback()
            # Busy (another writer past busy_timeout) or full disk: the caller's
            # cycle fails as a whole and is retried on the next one; nothing half-done.
            raise StoreError(f"store: write to '{self.path}' failed: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    @contextmanager
    def reading(self) -> Iterator[_SqliteSession]:
        with self.lock:
            try:
                yield self._session
            except sqlite3.OperationalError as exc:
                raise StoreError(f"store: read from '{self.path}' failed: {exc}") from exc

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.reading() as session:
            return session.execute(sql, params).fetchall()

    # --- health -----------------------------------------------------------------

    def quick_check(self) -> str | None:
        """None when SQLite's quick_check passes, else the first problem it reports."""
        rows = self.query("PRAGMA quick_check")
        first = str(rows[0][0]) if rows else "no answer"
        return None if first == "ok" else first

    def is_writable(self, *, wait_s: float = 1.0) -> bool:
        """Whether a small write commits within `wait_s` (for the health endpoint).

        A committed write, not just BEGIN: a read-only file system or a full disk only
        shows when SQLite has to put bytes on it.
        """
        with self.lock:
            try:
                self.db.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute(
                    "INSERT INTO meta (key, value) VALUES ('health_probe', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (datetime.now(UTC).isoformat(),),
                )
                self.db.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                return False
            finally:
                self.db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        return True


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """Word a failure to open or upgrade the database: storage the user must fix (read-only,
    full, missing) apart from a damaged file."""
    reason = str(exc)
    if any(sign in reason for sign in _STORAGE_PROBLEMS):
        return StoreError(
            f"store: cannot write to '{path}' ({reason}); the file, its folder "
            f"'{path.parent}' and the '{path.name}-wal' and '{path.name}-shm' files beside "
            "it must be writable by the user running monitor, on a disk with free space"
        )
    return StoreError(
        f"store: '{path}' is not a usable database ({reason}); "
        "restore it from a backup or move it aside"
    )


# SQLite's messages when the file system, not the file, is the problem.
_STORAGE_PROBLEMS = ("unable to open", "readonly", "read-only", "disk is full", "disk I/O")
