"""Archive search in the workspace: the `/search` page and `/api/search` JSON, over every
stored article (matched or not), with the query's words highlighted from offsets.

Owns the search form (query, order, matched-or-not, page, the pages' feed/tag/language/date
filters) and the result views. The query language is the store's (`monitor.store.
parse_search`); a query it cannot run gets its message, never a 500. Read-only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from monitor.deliver import SnippetPart, translations
from monitor.store import (
    SEARCH_ORDERS,
    ArticleSearch,
    FoundArticle,
    MatchedArticle,
    SearchOrder,
    SearchSyntaxError,
    parse_search,
)
from monitor.web.site import Filters, Site
from monitor.web.views import ArticleView, Wording, article_view

SEARCH_SCHEMA = "monitor.search/1"
MAX_PAGE = 200
MATCHED_CHOICES = {"": None, "yes": True, "no": False}
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SearchForm:
    """The search's GET parameters, as typed (unknown values fall back to the defaults)."""

    q: str = ""
    order: SearchOrder = "date"
    matched: str = ""  # "" (any) | "yes" | "no"
    page: int = 1
    filters: Filters = field(default_factory=Filters)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> SearchForm:
        order = params.get("sort", "date")
        matched = params.get("matched", "")
        try:
            page = min(max(int(params.get("page", "1")), 1), MAX_PAGE)
        except ValueError:
            page = 1
        # The rule and priority filters choose matches, which a search of articles has not.
        filters = replace(Filters.parse(params), rule="", priority="")
        return cls(
            q=params.get("q", "").strip(),
            order=next((known for known in SEARCH_ORDERS if known == order), "date"),
            matched=matched if matched in MATCHED_CHOICES else "",
            page=page,
            filters=filters,
        )

    def as_params(self, page: int) -> dict[str, str]:
        """The query string of this search's page `page`, without its defaults."""
        params = {"q": self.q, **self.filters.as_params()}
        if self.order != "date":
            params["sort"] = self.order
        if self.matched:
            params["matched"] = self.matched
        if page > 1:
            params["page"] = str(page)
        return params


@dataclass(frozen=True, slots=True)
class ResultView:
    """One result, ready to display: the article, its marked title and snippet, its rules."""

    article: ArticleView
    title: tuple[SnippetPart, ...]
    snippet: tuple[SnippetPart, ...]
    rules: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """What one search found, or why it did not run."""

    form: SearchForm
    total: int = 0
    found: tuple[FoundArticle, ...] = ()
    offset: int = 0
    size: int = 0
    error: SearchSyntaxError | None = None
    ignored: tuple[str, ...] = ()  # filters ignored, and why

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.found) < self.total and self.form.page < MAX_PAGE


def run_search(site: Site, form: SearchForm) -> SearchOutcome:
    """Parse the query, apply the filters and read one page (a count and the results)."""
    size = site.settings.page_size
    try:
        query = parse_search(form.q)
    except SearchSyntaxError as exc:
        return SearchOutcome(form=form, error=exc, size=size)
    matches, ignored = form.filters.query(site)
    search = ArticleSearch(
        query=query,
        feed_ids=matches.feed_ids,
        language=matches.language,
        published_since=matches.published_since,
        published_before=matches.published_before,
        is_matched=MATCHED_CHOICES[form.matched],
        order=form.order,
    )
    if query.is_empty:
        return SearchOutcome(form=form, size=size, ignored=ignored)
    offset = (form.page - 1) * size
    return SearchOutcome(
        form=form,
        total=site.archive.count_search(search),
        found=tuple(site.archive.search_articles(search, limit=size, offset=offset)),
        offset=offset,
        size=size,
        ignored=ignored,
    )


class SearchPages:
    """The `/search` page and the `/api/search` JSON of one site."""

    def __init__(self, site: Site, page: Callable[..., HTMLResponse]) -> None:
        self.site = site
        self.render = page

    def page(self, request: Request) -> Response:
        """`/search?q=…`: the form, the count, and a page of results, newest first."""
        outcome = run_search(self.site, SearchForm.parse(request.query_params))
        wording = self.site.wording()
        form = outcome.form
        problem = None
        if outcome.error is not None:
            problem = _translated(outcome.error, self.site.settings.language)
        return self.render(
            "search.html.j2",
            status=400 if outcome.error is not None else 200,
            form=form,
            searched=bool(form.q) and outcome.error is None,
            problem=problem,
            ignored=outcome.ignored,
            total=outcome.total,
            first=outcome.offset + 1,
            last=outcome.offset + len(outcome.found),
            results=[result_view(found, wording) for found in outcome.found],
            feeds=self.site.feeds(),
            tags=self.site.tags(),
            next_url=_page_url("/search", form, form.page + 1) if outcome.has_next else None,
            previous_url=_page_url("/search", form, form.page - 1) if form.page > 1 else None,
        )

    def api(self, request: Request) -> Response:
        """`/api/search?q=…`: the same search as JSON (docs/web.md#archive-search)."""
        outcome = run_search(self.site, SearchForm.parse(request.query_params))
        if outcome.error is not None:
            return _error(str(outcome.error), outcome.form.q)
        if outcome.ignored:
            return _error("; ".join(outcome.ignored), outcome.form.q)
        if not outcome.form.q:
            return _error("give the search as q=, as in /api/search?q=Hammouchi", "")
        wording = self.site.wording()
        form = outcome.form
        body = {
            "schema": SEARCH_SCHEMA,
            "q": form.q,
            "sort": form.order,
            "total": outcome.total,
            "offset": outcome.offset,
            "limit": outcome.size,
            "results": [result_json(found, wording) for found in outcome.found],
            "next": _page_url("/api/search", form, form.page + 1) if outcome.has_next else None,
        }
        return JSONResponse(body)


def result_view(found: FoundArticle, wording: Wording) -> ResultView:
    article = article_view(MatchedArticle(found.article, (), None), wording)
    return ResultView(
        article=article,
        title=marked_parts(found.article.title, found.title_spans)
        or (SnippetPart(article.title, False),),
        snippet=marked_parts(found.snippet.text, found.snippet.spans),
        rules=found.rules,
    )


def result_json(found: FoundArticle, wording: Wording) -> dict[str, Any]:
    """One result as `/api/search` writes it; offsets count code points of the text given."""
    article = found.article
    view = article_view(MatchedArticle(article, (), None), wording)
    return {
        "article_key": article.key,
        "story_id": view.story_id,
        "feed_id": article.feed_id,
        "outlet": view.source,
        "language": article.language,
        "published_at": view.published_iso,
        "url": view.url,
        "title": article.title,
        "title_highlights": [list(span) for span in found.title_spans],
        "snippet": {
            "field": found.snippet.field,
            "text": found.snippet.text,
            "highlights": [list(span) for span in found.snippet.spans],
        },
        "rules": [{"id": rule_id, "name": name} for rule_id, name in found.rules],
    }


def marked_parts(text: str, spans: Sequence[tuple[int, int]]) -> tuple[SnippetPart, ...]:
    """`text` cut into plain and marked runs at `spans`; runs of white space become one
    space (offsets are taken before, so they still fall on the words)."""
    parts: list[SnippetPart] = []
    position = 0
    for start, end in spans:
        if start > position:
            parts.append(SnippetPart(_SPACES.sub(" ", text[position:start]), False))
        parts.append(SnippetPart(_SPACES.sub(" ", text[start:end]), True))
        position = end
    if position < len(text):
        parts.append(SnippetPart(_SPACES.sub(" ", text[position:]), False))
    return tuple(part for part in parts if part.text)


def _translated(error: SearchSyntaxError, language: str) -> str:
    template = translations(language).gettext(error.template)
    return template % error.values if error.values else template


def _error(message: str, q: str) -> Response:
    body = {"schema": SEARCH_SCHEMA, "q": q, "error": message}
    return Response(json.dumps(body, ensure_ascii=False), 400, media_type="application/json")


def _page_url(path: str, form: SearchForm, page: int) -> str:
    return f"{path}?{urlencode(form.as_params(page))}"
