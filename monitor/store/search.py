"""Archive search over every stored article, matched or not: a page of results, the count,
the rules that matched each, and where the query's words fall (offsets, never markup).

Reads the backend's full-text index (`fulltext.py`: SQLite's FTS5 table, PostgreSQL's
tsvector index), chosen by the store's dialect; the query arrives as the AST of
`search_query.py`. Never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from monitor.model import Article
from monitor.store.articles import article_of
from monitor.store.db import Database, iso, marks
from monitor.store.fulltext import FullText
from monitor.store.search_query import (
    Lexemes,
    SearchQuery,
    SearchSnippet,
    SearchTerm,
    Span,
    folded_words,
    search_snippet,
    term_spans,
)

SearchOrder = Literal["date", "relevance"]
SEARCH_ORDERS: tuple[SearchOrder, ...] = ("date", "relevance")


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
        full_text = self.dialect.full_text
        sql, params = search_sql(search, "a.*", full_text)
        order = "a.published_at DESC, a.key"
        if search.order == "relevance":
            order = f"{full_text.rank}, a.published_at DESC, a.key"
        rows = self._query(f"{sql} ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset))
        articles = [article_of(row) for row in rows]
        rules = self._rules_of([article.key for article in articles])
        wanted = search.query.wanted()
        lexemes = self._lexemes(articles, wanted)
        return [
            FoundArticle(
                article=article,
                rules=rules.get(article.key, ()),
                title_spans=term_spans(article.title, wanted, lexemes),
                snippet=_snippet(article, wanted, lexemes),
            )
            for article in articles
        ]

    def count_search(self, search: ArticleSearch) -> int:
        """How many stored articles the search finds."""
        if search.query.is_empty or search.feed_ids == ():
            return 0
        sql, params = search_sql(search, "COUNT(*) AS n", self.dialect.full_text)
        return int(self._query(sql, params)[0]["n"])

    def _lexemes(self, articles: Sequence[Article], wanted: Sequence[SearchTerm]) -> Lexemes:
        """The lexeme of every word of the results and the query, for an index that stems
        (one statement a page); empty for one that keeps words as typed."""
        sql = self.dialect.full_text.lexemes_sql
        if sql is None or not articles:
            return {}
        words = {word for term in wanted for word in term.words}
        for article in articles:
            for text in (article.title, article.summary, article.body):
                words |= folded_words(text)
        rows = self._query(sql, (sorted(words),))
        # A word of letters and digits is one lexeme; keep a rare split (mixed scripts) as is.
        return {row["word"]: row["lexemes"][0] for row in rows if len(row["lexemes"]) == 1}

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


def search_sql(search: ArticleSearch, columns: str, full_text: FullText) -> tuple[str, list[Any]]:
    """The SELECT of `columns` of the articles the search finds, without ORDER or LIMIT."""
    found = full_text.found_by(search.query)
    where = [found.condition]
    params: list[Any] = list(found.params)
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
    return f"SELECT {columns} FROM {found.source} WHERE {' AND '.join(where)}", params


def _snippet(article: Article, wanted: tuple[SearchTerm, ...], lexemes: Lexemes) -> SearchSnippet:
    # The title is shown (and highlighted) anyway: the snippet comes from the text.
    return search_snippet((("summary", article.summary), ("body", article.body)), wanted, lexemes)
