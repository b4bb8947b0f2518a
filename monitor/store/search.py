"""Archive search over every stored article, matched or not: a page of results, the count,
the rules that matched each, and where the query's words fall (offsets, never markup).

Reads the FTS5 index that migration 0008 keeps in step with `articles`. The query arrives
as the AST of `search_query.py`; `fts5_expression` is the only place that turns it into
FTS5 syntax (a PostgreSQL twin renders the same AST as a tsquery). Never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from monitor.model import Article
from monitor.store.articles import article_of
from monitor.store.db import Database, iso, marks
from monitor.store.search_query import (
    SearchQuery,
    SearchSnippet,
    SearchTerm,
    Span,
    search_snippet,
    term_spans,
)

SearchOrder = Literal["date", "relevance"]
SEARCH_ORDERS: tuple[SearchOrder, ...] = ("date", "relevance")
# bm25 weights of title, summary and body: a name in the title says more than in the body.
_BM25_WEIGHTS = (5.0, 2.0, 1.0)


@dataclass(frozen=True, slots=True)
class ArticleSearch:
    """What to look for and where; an empty or None filter does not filter."""

    query: SearchQuery
    feed_ids: tuple[str, ...] | None = None  # () finds nothing (a tag no feed has)
    language: str | None = None
    published_since: datetime | None = None
    published_before: datetime | None = None
    is_matched: bool | None = None  # True: only articles some rule matched; False: none did
    order: SearchOrder = "date"  # "date": newest published first; "relevance": bm25 rank


@dataclass(frozen=True, slots=True)
class FoundArticle:
    """One result: the article, the rules that matched it, and where the words fall."""

    article: Article
    rules: tuple[tuple[str, str], ...]  # (rule id, rule name), most urgent first
    title_spans: tuple[Span, ...]
    snippet: SearchSnippet


class SearchTables(Database):
    """Full-text search of the stored articles (the web workspace's `/search`)."""

    def search_articles(
        self, search: ArticleSearch, *, limit: int, offset: int = 0
    ) -> list[FoundArticle]:
        """Up to `limit` results after the first `offset`, in `search.order`."""
        if search.query.is_empty or search.feed_ids == ():
            return []
        sql, params = search_sql(search, "a.*")
        order = "a.published_at DESC, a.key"
        if search.order == "relevance":
            order = f"{_fts5_rank()}, a.published_at DESC, a.key"
        rows = self._query(f"{sql} ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset))
        articles = [article_of(row) for row in rows]
        rules = self._rules_of([article.key for article in articles])
        wanted = search.query.wanted()
        return [
            FoundArticle(
                article=article,
                rules=rules.get(article.key, ()),
                title_spans=term_spans(article.title, wanted),
                snippet=_snippet(article, wanted),
            )
            for article in articles
        ]

    def count_search(self, search: ArticleSearch) -> int:
        """How many stored articles the search finds."""
        if search.query.is_empty or search.feed_ids == ():
            return 0
        sql, params = search_sql(search, "COUNT(*) AS n")
        return int(self._query(sql, params)[0]["n"])

    def _rules_of(self, keys: Sequence[str]) -> dict[str, tuple[tuple[str, str], ...]]:
        if not keys:
            return {}
        rows = self._query(
            "SELECT article_key, rule_id, rule_name FROM matches "
            f"WHERE article_key IN ({marks(len(keys))}) "
            "ORDER BY article_key, priority DESC, score DESC, rule_id",
            keys,
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            found.setdefault(row["article_key"], []).append((row["rule_id"], row["rule_name"]))
        return {key: tuple(rules) for key, rules in found.items()}


def search_sql(search: ArticleSearch, columns: str) -> tuple[str, list[Any]]:
    """The SELECT of `columns` of the articles the search finds, without ORDER or LIMIT."""
    where = ["article_search MATCH ?"]
    params: list[Any] = [fts5_expression(search.query)]
    if search.feed_ids is not None:
        where.append(f"a.feed_id IN ({marks(len(search.feed_ids))})")
        params += search.feed_ids
    if search.language:
        where.append("a.language = ?")
        params.append(search.language)
    if search.published_since is not None:
        where.append("a.published_at >= ?")
        params.append(iso(search.published_since))
    if search.published_before is not None:
        where.append("a.published_at < ?")
        params.append(iso(search.published_before))
    if search.is_matched is not None:
        exists = "EXISTS (SELECT 1 FROM matches m WHERE m.article_key = a.key)"
        where.append(exists if search.is_matched else f"NOT {exists}")
    return f"SELECT {columns} FROM {_fts5_source()} WHERE {' AND '.join(where)}", params


# --- SQLite's FTS5: the PostgreSQL store has its own twin of these three -------------------


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


def _fts5_source() -> str:
    # The index's rowid is article_search_rows.id (see migration 0008). CROSS JOIN keeps
    # SQLite from reordering: the MATCH drives, then two primary-key seeks per result.
    return (
        "article_search CROSS JOIN article_search_rows AS r ON r.id = article_search.rowid "
        "CROSS JOIN articles AS a ON a.key = r.article_key"
    )


def _fts5_rank() -> str:
    return f"bm25(article_search, {', '.join(str(w) for w in _BM25_WEIGHTS)})"


def _snippet(article: Article, wanted: tuple[SearchTerm, ...]) -> SearchSnippet:
    # The title is shown (and highlighted) anyway: the snippet comes from the text.
    return search_snippet((("summary", article.summary), ("body", article.body)), wanted)
