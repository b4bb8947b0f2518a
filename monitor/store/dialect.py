"""How the store's SQL is spoken to each backend: the few fragments SQLite and PostgreSQL
spell differently, the `?` placeholders translated for psycopg, and the text cleaning
both backends apply to every value they are given.

Owns no connection and no table; the mixins write portable SQL and take the odd fragment
from `Dialect`, so a backend difference lives here rather than in `if postgres:` branches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.store.fulltext import Fts5, FullText, Tsvector


class Row(Protocol):
    """One result row, read by column name or position (sqlite3.Row and `PgRow`)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Cursor(Protocol):
    """What the mixins read from a statement: its rows and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    """A connection inside a transaction (or a read): statements with `?` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL fragments that differ between the backends; everything else is shared."""

    name: str
    # A join whose order the planner must keep (SQLite's CROSS JOIN; PostgreSQL plans well).
    ordered_join: str
    # The newest stored articles first, without a sort where the backend allows.
    newest_articles: str
    # The `limit` newest publication times per feed of a JSON list of feed ids (?, ?).
    newest_published_per_feed: str
    # The archive search: FTS5 on SQLite, a tsvector index on PostgreSQL (fulltext.py).
    full_text: FullText
    # The sequence number the matches a transaction saves record (after `next_match_seq`,
    # when the backend needs it), and the number below which every match is committed: the
    # horizon a subscription's cursor moves to (migration 0013).
    match_seq: str
    match_horizon: str
    next_match_seq: str | None

    def json_values(self, column: str, alias: str) -> str:
        """A table of the elements of a JSON text array, each as `<alias>.value`."""
        if self.name == "sqlite":
            return f"json_each({column}) AS {alias}"
        return f"json_array_elements_text({column}::json) AS {alias} (value)"

    def json_text(self, column: str, key: str) -> str:
        """The text of one key of a JSON object stored as text."""
        if self.name == "sqlite":
            return f"json_extract({column}, '$.{key}')"
        return f"({column}::json ->> '{key}')"


SQLITE = Dialect(
    name="sqlite",
    ordered_join="CROSS JOIN",
    # rowid follows insertion: the newest rows without a sort or an extra index.
    newest_articles="rowid DESC",
    # Per feed, a correlated LIMIT on the (feed_id, published_at) index: the query reads
    # `limit` rows a feed however long the archive (a window function would rank it all).
    newest_published_per_feed="""
        WITH wanted (feed_id) AS (SELECT value FROM json_each(?))
        SELECT wanted.feed_id, articles.published_at FROM wanted JOIN articles
        ON articles.rowid IN (
            SELECT newest.rowid FROM articles AS newest WHERE newest.feed_id = wanted.feed_id
            ORDER BY newest.published_at DESC LIMIT ?)
        ORDER BY wanted.feed_id, articles.published_at DESC
    """,
    full_text=Fts5(),
    # One writer at a time: the transaction's number is above every committed one.
    match_seq="(SELECT seq FROM match_counter)",
    match_horizon="SELECT seq + 1 AS seq FROM match_counter",
    next_match_seq="UPDATE match_counter SET seq = seq + 1",
)
POSTGRESQL = Dialect(
    name="postgresql",
    ordered_join="JOIN",
    # PostgreSQL has no rowid; `articles_stored` (its migration) serves this order.
    newest_articles="stored_at DESC, key DESC",
    # LATERAL is PostgreSQL's correlated LIMIT: `limit` index rows a feed, as on SQLite.
    newest_published_per_feed="""
        SELECT wanted.feed_id, newest.published_at
        FROM json_array_elements_text(?::json) AS wanted (feed_id)
        CROSS JOIN LATERAL (
            SELECT published_at FROM articles WHERE articles.feed_id = wanted.feed_id
            ORDER BY published_at DESC LIMIT ?) AS newest
        ORDER BY wanted.feed_id, newest.published_at DESC
    """,
    full_text=Tsvector(),
    # Transaction ids: a transaction still running when a subscription looks is at or above
    # the snapshot's xmin, so its matches are read at the next pass, whatever they commit.
    match_seq="pg_current_xact_id()::text::bigint",
    match_horizon="SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS seq",
    next_match_seq=None,
)


@functools.lru_cache(maxsize=2048)
def pyformat(sql: str) -> str:
    """`sql` with its `?` placeholders as psycopg's `%s`, and literal `%` doubled.

    A `?` inside a quoted string, a quoted name or a `--` comment is text, not a
    placeholder; a `%` is doubled everywhere, since psycopg reads the whole statement.
    """
    return "".join(_pyformat_parts(sql))


def _pyformat_parts(sql: str) -> Iterator[str]:
    quote: str | None = None
    in_comment = False
    for index, char in enumerate(sql):
        if char == "%":
            yield "%%"
            continue
        if in_comment:
            in_comment = char != "\n"
        elif quote is not None:
            # A doubled quote inside a literal closes and reopens it: the same state after.
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "-" and sql.startswith("--", index):
            in_comment = True
        elif char == "?":
            yield "%s"
            continue
        yield char


# --- text both backends accept ---------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` as both backends store it: without NUL, and with lone surrogates (which no
    UTF-8 encoder accepts) replaced by U+FFFD.

    PostgreSQL refuses NUL in text (and SQLite's C API cuts strings at it); a feed or an
    error message can carry either, so both backends store the cleaned text.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def clean_params(params: Sequence[Any]) -> tuple[Any, ...]:
    """The statement's values with every text cleaned (`clean_text`); others unchanged."""
    return tuple(clean_text(value) if isinstance(value, str) else value for value in params)
