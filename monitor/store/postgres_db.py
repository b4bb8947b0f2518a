"""The PostgreSQL connection (psycopg 3): connecting, transactions, reads and migrations.

One connection per thread (the event loop's and each worker's), so a transaction holds
its connection for its whole length and can lock rows (`FOR UPDATE SKIP LOCKED`); writes
of one process take turns, as on SQLite. Applies `migrations/postgresql/*.sql` under an
advisory lock, so daemons starting together migrate once. Knows no table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import RowMaker

from monitor.errors import StoreError
from monitor.store.dialect import POSTGRESQL, Cursor, clean_params, pyformat
from monitor.store.schema import migrations

# pg_advisory_lock key of the migration step: any constant, the same in every daemon.
_MIGRATION_LOCK = 0x6D6F6E69746F72  # "monitor"
_CONNECT_TIMEOUT_S = 10


class PgRow:
    """A result row read by column name or position, as sqlite3.Row is."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: tuple[Any, ...], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    index: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        # Like sqlite3.Row: the first of two columns with one name wins.
        index.setdefault(column.name, position)

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(tuple(values), index)

    return make


class _PgSession:
    """One connection as the mixins speak to it: `?` placeholders, text values cleaned."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.Connection[PgRow]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(pyformat(sql), clean_params(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(pyformat(sql), [clean_params(row) for row in rows])


class PostgresConnection:
    """A PostgreSQL database, one connection per calling thread."""

    dialect = POSTGRESQL
    path = None

    def __init__(self, conninfo: str, shown: str) -> None:
        self._conninfo = conninfo
        self.shown = shown
        # One writer per process at a time: the SQLite store's guarantees (an article's
        # dedupe and insert seen whole by the next batch) hold unchanged on this backend.
        self.lock = threading.RLock()
        self._local = threading.local()
        self._opened: list[psycopg.Connection[PgRow]] = []
        self._opened_lock = threading.Lock()
        try:
            self._migrate(self._connection())
        except BaseException:
            self.close()
            raise

    def _connection(self) -> psycopg.Connection[PgRow]:
        conn: psycopg.Connection[PgRow] | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        try:
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                row_factory=_row_factory,
                connect_timeout=_CONNECT_TIMEOUT_S,
                application_name="monitor",
            )
        except psycopg.Error as exc:
            raise StoreError(connect_problem(self.shown, exc)) from None
        self._local.conn = conn
        with self._opened_lock:
            self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()

    def _migrate(self, conn: psycopg.Connection[PgRow]) -> None:
        """Apply the migrations newer than the database, each in one transaction, while
        holding the advisory lock (another daemon starting now waits, then sees them)."""
        steps = migrations("postgresql")
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                conn.execute(
                    'CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT)'
                )
                self._apply(conn, steps)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        except psycopg.OperationalError as exc:
            raise StoreError(f"store: upgrading {self.shown} failed: {_one_line(exc)}") from exc

    def _apply(
        self, conn: psycopg.Connection[PgRow], steps: tuple[tuple[int, str, str], ...]
    ) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row["value"]) if row else 0
        if version > len(steps):
            raise StoreError(
                f"store: {self.shown} has schema version {version}, newer than this "
                f"monitor understands ({len(steps)}); upgrade monitor"
            )
        for target, name, script in steps[version:]:
            try:
                with conn.transaction():
                    # Without parameters psycopg sends the file as one simple query: every
                    # statement in it, in this transaction.
                    conn.execute(script.encode("utf-8"))
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(target),),
                    )
            except psycopg.Error as exc:
                raise StoreError(
                    f"store: migration 'postgresql/{name}' failed on {self.shown}: "
                    f"{_one_line(exc)}; the database is left at version {target - 1}"
                ) from exc

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[_PgSession]:
        with self.lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    if not durable:
                        # A feed state rewritten at every poll: committed atomically, not
                        # waited for on the disk (the SQLite store's synchronous=NORMAL).
                        conn.execute("SET LOCAL synchronous_commit = off")
                    yield _PgSession(conn)
            except psycopg.OperationalError as exc:
                # Connection lost, serialization failure, deadlock: the caller's cycle
                # fails as a whole and is retried on the next one; nothing half-done.
                raise StoreError(f"store: write to {self.shown} failed: {_one_line(exc)}") from exc

    @contextmanager
    def reading(self) -> Iterator[_PgSession]:
        conn = self._connection()
        try:
            yield _PgSession(conn)
        except psycopg.Error as exc:
            # Every driver error, not only a lost connection: a statement the server refuses
            # (ProgrammingError: no such column; DataError: a value of the wrong type) names
            # the store as SQLite's OperationalError does, and never reaches callers raw.
            raise StoreError(f"store: read from {self.shown} failed: {_one_line(exc)}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.reading() as session:
            return session.execute(sql, params).fetchall()

    # --- health -----------------------------------------------------------------

    def quick_check(self) -> str | None:
        """None when the server answers, else why it does not."""
        try:
            self.query("SELECT 1")
        except StoreError as exc:
            return str(exc)
        return None

    def is_writable(self, *, wait_s: float = 1.0) -> bool:
        """Whether a small write commits within `wait_s` (for the health endpoint)."""
        try:
            with self.transaction() as session:
                session.execute(f"SET LOCAL statement_timeout = {int(wait_s * 1000)}")
                session.execute(
                    "INSERT INTO meta (key, value) VALUES ('health_probe', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (datetime.now(UTC).isoformat(),),
                )
        except (StoreError, psycopg.Error):
            return False
        return True


def probe(conninfo: str, shown: str) -> None:
    """Connect, ask the schema version and leave; StoreError saying why it failed."""
    try:
        with psycopg.connect(conninfo, connect_timeout=_CONNECT_TIMEOUT_S) as conn:
            # A new, empty database is fine: the daemon migrates it at start.
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except psycopg.errors.UndefinedTable:
        found = None
    except psycopg.Error as exc:
        raise StoreError(connect_problem(shown, exc)) from None
    version, known = int(found[0]) if found else 0, len(migrations("postgresql"))
    if version > known:
        raise StoreError(
            f"store: {shown} has schema version {version}, newer than this monitor "
            f"understands ({known}); upgrade monitor"
        )


def connect_problem(shown: str, exc: psycopg.Error) -> str:
    """Why connecting to `shown` failed, and what to check; never the password."""
    reason = _one_line(exc)
    if "password" in reason or "authentication" in reason:
        hint = "check the user name and PGPASSWORD (or the password in the store URL)"
    elif "does not exist" in reason:
        hint = "create the database (createdb) or correct the store URL"
    else:
        hint = "check the host and port in the store URL and that the server is running"
    return f"store: cannot connect to {shown} ({reason}); {hint}"


def _one_line(exc: BaseException) -> str:
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
