"""Copying a SQLite store into another store, a PostgreSQL database as a rule (`monitor store
copy`): every table the daemon keeps, in batches, then every table counted on both sides.

Reads the source with SQLite's own cursor, a batch at a time, and writes the target in one
transaction per batch. SQLite's internals are not copied: the near-duplicate sketches get
the target's own ids (their bands follow by article), and the archive search index is the
target's own (PostgreSQL indexes the copied articles itself). Knows no CLI and no lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from monitor.errors import StoreError
from monitor.store.db import Database, marks

# Every table copied as it is, in the order its references need (articles before what names
# them). A table missing here is not copied: tests/test_store_copy.py checks the list
# against the target's schema.
COPIED_TABLES = (
    "feed_state",
    "gone_endpoints",
    "coverage_gaps",
    "articles",
    "matches",
    "deliveries",
    "delivered",
    "story_coverage",
    "digest_runs",
    "rules_snapshot",
    "feedback",
    "muted_stories",
    "story_events",
    "story_keys",
    "story_members",
    "story_term_counts",
    "rule_stories",
    "spike_states",
    "spikes",
    "spike_deliveries",
)
# Copied apart: sketches get the target's ids and their bands follow them by article; the
# daemon's notes are `meta` rows (the rest of `meta` is each store's own schema version).
SKETCHES, BANDS, NOTES = "story_sketches", "story_bands", "notes"
_COUNTED = {
    SKETCHES: "SELECT COUNT(*) AS n FROM story_sketches",
    BANDS: "SELECT COUNT(*) AS n FROM story_bands",
    NOTES: "SELECT COUNT(*) AS n FROM meta WHERE key LIKE 'note:%'",
}
BATCH_ROWS = 2000

# (table, rows copied so far, rows to copy)
OnProgress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class TableCount:
    """One table's rows in the source and, after the copy, in the target."""

    table: str
    source_rows: int
    target_rows: int


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What was copied, table by table, and which counts disagree."""

    tables: tuple[TableCount, ...]
    into_existing: bool

    @property
    def mismatched(self) -> tuple[TableCount, ...]:
        """Tables whose target does not hold the source's rows: a different count, or (into
        an existing store, which may hold more) fewer."""
        if self.into_existing:
            return tuple(count for count in self.tables if count.target_rows < count.source_rows)
        return tuple(count for count in self.tables if count.target_rows != count.source_rows)


def copy_store(
    source: Database,
    target: Database,
    *,
    into_existing: bool = False,
    batch_rows: int = BATCH_ROWS,
    on_progress: OnProgress | None = None,
) -> CopyReport:
    """Copy every table of the SQLite store `source` into `target`, then count both.

    Refuses (StoreError) a target that already holds articles, feeds or deliveries unless
    `into_existing`, when rows the target already has (same key) are kept as they are.
    """
    if source.dialect.name != "sqlite":
        raise StoreError(f"store: {source.shown} is not a SQLite store; copy from sqlite:///PATH")
    if not into_existing:
        _refuse_a_filled_target(target)
    progress = on_progress or _quiet
    for table in COPIED_TABLES:
        _copy_rows(source, target, table, f"SELECT * FROM {table}", batch_rows, progress)
    _copy_rows(
        source,
        target,
        SKETCHES,
        "SELECT article_key, story_id, stored_at, signature, band_keys FROM story_sketches "
        "ORDER BY id",
        batch_rows,
        progress,
    )
    _copy_bands(source, target, batch_rows, progress)
    _copy_notes(source, target, progress)
    return CopyReport(_counts(source, target), into_existing)


def _refuse_a_filled_target(target: Database) -> None:
    for table in ("articles", "feed_state", "deliveries"):
        rows = int(target._query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])
        if rows:
            raise StoreError(
                f"store: {target.shown} already holds {rows} rows in '{table}'; copy into a "
                "new, empty database, or pass --into-existing to add what it lacks"
            )


def _batches(
    source: Database, sql: str, batch_rows: int
) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """The column names and rows of `sql` on the SQLite source, a batch at a time."""
    with source._reading():
        cursor = source._db.execute(sql)
        columns = [column[0] for column in cursor.description]
        while rows := cursor.fetchmany(batch_rows):
            yield columns, [tuple(row) for row in rows]


def _copy_rows(
    source: Database, target: Database, table: str, sql: str, batch_rows: int, progress: OnProgress
) -> None:
    total = _count(source, f"SELECT COUNT(*) AS n FROM {table}")
    done = 0
    progress(table, done, total)
    for columns, rows in _batches(source, sql, batch_rows):
        # No conflict target: whichever key or unique column a row repeats, it is kept once.
        insert = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(len(columns))}) "
            "ON CONFLICT DO NOTHING"
        )
        with target._transaction() as db:
            db.executemany(insert, rows)
        done += len(rows)
        progress(table, done, total)


def _copy_bands(source: Database, target: Database, batch_rows: int, progress: OnProgress) -> None:
    """Each band row, pointed at its article's sketch as the target numbered it."""
    total = _count(source, _COUNTED[BANDS])
    done = 0
    progress(BANDS, done, total)
    sql = (
        "SELECT b.key, s.article_key FROM story_bands AS b "
        "JOIN story_sketches AS s ON s.id = b.sketch_id ORDER BY b.sketch_id, b.key"
    )
    insert = (
        "INSERT INTO story_bands (key, sketch_id) SELECT ?, id FROM story_sketches "
        "WHERE article_key = ? ON CONFLICT DO NOTHING"
    )
    for _, rows in _batches(source, sql, batch_rows):
        with target._transaction() as db:
            db.executemany(insert, rows)
        done += len(rows)
        progress(BANDS, done, total)


def _copy_notes(source: Database, target: Database, progress: OnProgress) -> None:
    rows = source._query("SELECT key, value FROM meta WHERE key LIKE 'note:%'")
    with target._transaction() as db:
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(row["key"], row["value"]) for row in rows],
        )
    progress(NOTES, len(rows), len(rows))


def _counts(source: Database, target: Database) -> tuple[TableCount, ...]:
    counted = {table: f"SELECT COUNT(*) AS n FROM {table}" for table in COPIED_TABLES}
    counted |= _COUNTED
    return tuple(
        TableCount(table, _count(source, sql), _count(target, sql))
        for table, sql in counted.items()
    )


def _count(store: Database, sql: str) -> int:
    return int(store._query(sql)[0]["n"])


def _quiet(table: str, done: int, total: int) -> None:
    """No progress shown."""
