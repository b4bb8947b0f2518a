"""How each backend's full-text index answers an archive search: SQLite's FTS5 table
(migration 0009) and PostgreSQL's tsvector index (postgresql/0006), both reading the same
query AST from `search_query.py`.

Renders SQL and its parameters only (`search.py` runs them). The user's words reach the
database as bound values, never as query syntax: FTS5 gets each word as a quoted string,
PostgreSQL a tsquery assembled from `phraseto_tsquery`/`to_tsquery` calls on bound words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from monitor.store.search_query import SearchQuery, SearchTerm

# Weights of title, summary and body: a name in the title says more than in the body.
FIELD_WEIGHTS = (5.0, 2.0, 1.0)


@dataclass(frozen=True, slots=True)
class FoundBy:
    """The FROM clause that names the found articles `a`, the condition that finds them, and
    the values of their `?` placeholders (the FROM clause's first)."""

    source: str
    condition: str
    params: tuple[Any, ...]


class FullText(Protocol):
    """One backend's full-text search, as `search.py` composes it."""

    # ORDER BY fragment, best match first.
    @property
    def rank(self) -> str: ...

    # One row per word of a `?` text array: (word, lexemes) as the index stems it; None when
    # the index stores words as typed (folded), so a word is its own lexeme.
    @property
    def lexemes_sql(self) -> str | None: ...

    def found_by(self, query: SearchQuery) -> FoundBy: ...


# --- SQLite's FTS5 ------------------------------------------------------------------------


class Fts5:
    """SQLite: the contentless FTS5 table `article_search` beside `article_search_rows`."""

    # bm25 is negative, the lower the better.
    rank = f"bm25(article_search, {', '.join(str(w) for w in FIELD_WEIGHTS)})"
    lexemes_sql = None

    def found_by(self, query: SearchQuery) -> FoundBy:
        # The index's rowid is article_search_rows.id (see migration 0009). CROSS JOIN keeps
        # SQLite from reordering: the MATCH drives, then two primary-key seeks per result.
        return FoundBy(
            source=(
                "article_search CROSS JOIN article_search_rows AS r "
                "ON r.id = article_search.rowid CROSS JOIN articles AS a ON a.key = r.article_key"
            ),
            condition="article_search MATCH ?",
            params=(fts5_expression(query),),
        )


def fts5_expression(query: SearchQuery) -> str:
    """The query in FTS5 syntax: every word a quoted string, so no input is an operator."""
    groups = " AND ".join(
        "(" + " OR ".join(_fts5_term(term) for term in group) + ")" for group in query.groups
    )
    for term in query.excluded:
        groups = f"({groups}) NOT {_fts5_term(term)}"
    return groups


def _fts5_term(term: SearchTerm) -> str:
    # Words hold only letters and digits; doubling quotes keeps that harmless if they ever
    # did not (FTS5 strings escape " as "").
    quoted = '"' + " ".join(word.replace('"', '""') for word in term.words) + '"'
    return quoted + ("*" if term.is_prefix else "")


# --- PostgreSQL's tsvector ------------------------------------------------------------------

# The text search configurations (stems; words as typed) of migration postgresql/0006, and
# each article's document as `article_search` keeps it (migration postgresql/0008).
_CONFIG = "'monitor_french'"
_WORDS = "'monitor_words'"
_DOCUMENT = "s.document"


class Tsvector:
    """PostgreSQL: the GIN index on `article_search.document`, a trigger-kept
    `monitor_search_document(title, summary, body)` of each article."""

    # ts_rank's weights are {D, C, B, A}: body C, summary B, title A, scaled like bm25's.
    rank = (
        "ts_rank('{0, "
        + ", ".join(str(weight / FIELD_WEIGHTS[0]) for weight in FIELD_WEIGHTS[::-1])
        + f"}}', {_DOCUMENT}, found.q) DESC"
    )
    lexemes_sql = (
        f"SELECT word, tsvector_to_array(to_tsvector({_CONFIG}, word)) AS lexemes "
        "FROM unnest(?::text[]) AS word"
    )

    def found_by(self, query: SearchQuery) -> FoundBy:
        # The tsquery is built once in a one-row subquery, which the planner folds into a
        # constant: the index condition, and ts_rank's argument, without binding it twice.
        expression, params = tsquery_expression(query)
        return FoundBy(
            source=(
                "articles AS a JOIN article_search AS s ON s.key = a.key "
                f"CROSS JOIN (SELECT {expression} AS q) AS found"
            ),
            condition=f"{_DOCUMENT} @@ found.q",
            params=tuple(params),
        )


def tsquery_expression(query: SearchQuery) -> tuple[str, list[str]]:
    """A SQL expression of type tsquery for the query, and the words it binds."""
    params: list[str] = []
    groups = []
    for group in query.groups:
        groups.append("(" + " || ".join(_tsquery_term(term, params) for term in group) + ")")
    expression = " && ".join(groups)
    for term in query.excluded:
        expression = f"({expression}) && !! {_tsquery_term(term, params)}"
    return expression, params


def _tsquery_term(term: SearchTerm, params: list[str]) -> str:
    if not term.is_prefix:
        params.append(" ".join(term.words))
        return f"phraseto_tsquery({_CONFIG}, ?)"
    # A prefix is read against the unstemmed words (a stem may be shorter than the prefix
    # typed); to_tsquery reads a quoted lexeme with :* as a prefix. The word holds letters
    # and digits only; quotes and backslashes would be escaped anyway.
    last = term.words[-1].replace("\\", "\\\\").replace("'", "''")
    prefix = f"to_tsquery({_WORDS}, ?)"
    if len(term.words) == 1:
        params.append(f"'{last}':*")
        return prefix
    params += [" ".join(term.words[:-1]), f"'{last}':*"]
    return f"tsquery_phrase(phraseto_tsquery({_WORDS}, ?), {prefix})"
