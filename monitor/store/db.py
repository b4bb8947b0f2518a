"""The SQLite connection: opening, transactions, reads and the schema migrations.

Owns the one connection (WAL mode, one lock for the event loop and worker threads) and
the `.sql` files in `migrations/`, applied in order, each in one transaction. Knows no
table: the feeds, articles, outbox and notes modules hold the SQL for each concern.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from monitor.errors import StoreError

# How long a write waits for another writer before it fails as busy.
_BUSY_TIMEOUT_MS = 5000
# SQLite's page cache, per connection (the default is 2 MB). 64 MB holds the interior pages
# of every index of a 5-million-article store, so a lookup or insert reads at most its leaf
# page from the OS instead of walking each B-tree through it; bounded, it is the store's
# whole heap (see docs/operations.md, store sizing, and docs/decisions.md, band index).
CACHE_BYTES = 64 * 1024 * 1024
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> tuple[tuple[int, str, str], ...]:
    """(version, file name, script) of every shipped migration, in order.

    Refuses a gap or a duplicate in the numbering: a missing step would leave a
    database half upgraded.
    """
    folder = resources.files("monitor.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        matched = _MIGRATION_NAME.match(entry.name)
        if matched:
            found.append((int(matched.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(
            f"store: migrations in '{folder}' are numbered {versions}, not 1 to {len(found)}; "
            "reinstall monitor"
        )
    return tuple(found)


class Database:
    """A SQLite database in WAL mode, safe to call from the event loop and worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"store: cannot open '{path}' ({getattr(exc, 'strerror', None) or exc}); "
                f"the folder '{path.parent}' must exist or be creatable, and be writable"
            ) from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            # Negative: a size in KiB, not a page count, so it holds whatever the page size.
            self._db.execute(f"PRAGMA cache_size = -{CACHE_BYTES // 1024}")
            # Sorts and temporary indexes (migrations, retention) stay off the disk.
            self._db.execute("PRAGMA temp_store = MEMORY")
            self._migrate()
        except StoreError:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise _open_error(path, exc) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def schema_version(self) -> int:
        rows = self._query("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0]["value"]) if rows else 0

    def _migrate(self) -> None:
        """Apply the migrations newer than the database, each in one transaction."""
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        steps = migrations()
        version = self.schema_version()
        if version > len(steps):
            raise StoreError(
                f"store: '{self.path}' has schema version {version}, newer than this "
                f"monitor understands ({len(steps)}); upgrade monitor"
            )
        for target, name, script in steps[version:]:
            # executescript runs the file as SQLite parses it (no naive split on ';'); the
            # script's own BEGIN/COMMIT make the step and its version one transaction.
            try:
                self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\n;"
                    "INSERT OR REPLACE INTO meta (key, value) "
                    f"VALUES ('schema_version', '{target}');\nCOMMIT;"
                )
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(
                    f"store: migration '{name}' failed on '{self.path}': {exc}; "
                    "the database is left at version "
                    f"{target - 1} (restore a backup if it was edited by hand)"
                ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                # Busy (another writer past busy_timeout) or full disk: the caller's
                # cycle fails as a whole and is retried on the next one; nothing half-done.
                raise StoreError(f"store: write to '{self.path}' failed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreError(f"store: read from '{self.path}' failed: {exc}") from exc

    # --- health -----------------------------------------------------------------

    def quick_check(self) -> str | None:
        """None when SQLite's quick_check passes, else the first problem it reports."""
        rows = self._query("PRAGMA quick_check")
        first = str(rows[0][0]) if rows else "no answer"
        return None if first == "ok" else first

    def is_writable(self, *, wait_s: float = 1.0) -> bool:
        """Whether a small write commits within `wait_s` (for the health endpoint).

        A committed write, not just BEGIN: a read-only file system or a full disk only
        shows when SQLite has to put bytes on it.
        """
        with self._lock:
            try:
                self._db.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('health_probe', ?)",
                    (datetime.now(UTC).isoformat(),),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                return False
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
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
