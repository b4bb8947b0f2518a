"""The ASGI app: the URL scheme (docs/web.md), Atom feeds, the export API, health, metrics.

Builds one Starlette app from a `Site`: the HTML pages (pages.py), archive search
(search.py), `/feeds/…atom`, `/api/matches`, the feedback routes (feedback.py), the rule
preview (preview.py), the style sheet, and, when the daemon serves it, `/healthz` and
`/metrics`, all behind the security guard. The only writes are the analysts' feedback; the
other POSTs are the login form and the preview, which stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from monitor.errors import ConfigError
from monitor.model import Match
from monitor.store import MatchedArticle, MatchQuery
from monitor.web.atom import (
    MEDIA_TYPE,
    AtomEntry,
    AtomFeed,
    atom_document,
    entry_id,
    feed_id,
    newest,
)
from monitor.web.export import FORMATS, MEDIA_TYPES, export_rows, export_text
from monitor.web.feedback import FeedbackHandlers
from monitor.web.pages import HtmlPages
from monitor.web.preview import PreviewPages
from monitor.web.search import SearchPages
from monitor.web.security import Guard, Keys
from monitor.web.site import Filters, Site, every_match, page_of, since_moment
from monitor.web.templates import Pages
from monitor.web.views import Wording, article_view, match_view

ATOM_ENTRIES = 50
DEFAULT_SINCE = "7d"


def build_web_app(site: Site) -> Guard:
    """The workspace as an ASGI app; raises ConfigError when its templates are unusable."""
    pages = Pages(site.templates_dir, site.settings.language)
    problems = pages.problems()
    if problems:
        raise ConfigError(
            "web: the workspace's templates are not usable: "
            + "; ".join(problems)
            + " (copy templates/web/ from monitor's source, or set `web: null`)"
        )
    keys = Keys.create(site.settings.token)
    html = HtmlPages(site, pages, keys)
    feeds = _Feeds(site, pages)
    search = SearchPages(site, html.page)
    routes = [
        Route("/", html.matches),
        Route("/rules/{rule_id}", html.rule),
        Route("/stories/{story_id}", html.story),
        Route("/search", search.page),
        Route("/feeds/rules/{rule_id}.atom", feeds.rule),
        Route("/feeds/subscriptions/{subscription_id}.atom", feeds.subscription),
        Route("/api/matches", feeds.export),
        Route("/api/search", search.api),
        Route("/login", html.login_form, methods=["GET"]),
        Route("/login", html.login, methods=["POST"]),
        Route("/static/web.css", lambda _: Response(pages.style_sheet(), media_type="text/css")),
        # Browsers ask for it on every site; no icon is no error.
        Route("/favicon.ico", lambda _: Response(status_code=204)),
    ]
    if site.feedback is not None:
        feedback = FeedbackHandlers(site, keys, html.page)
        routes += [
            Route("/feedback", feedback.form, methods=["POST"]),
            Route("/api/feedback", feedback.api_post, methods=["POST"]),
            Route("/api/feedback", feedback.api_get, methods=["GET"]),
        ]
    if site.previewer is not None:
        preview = PreviewPages(html, keys)
        routes += [
            Route("/preview", preview.form, methods=["GET"]),
            Route("/preview", preview.run, methods=["POST"]),
            Route("/api/preview", preview.api, methods=["POST"]),
        ]
    if site.health is not None:
        routes.append(Route("/healthz", _healthz(site)))
    if site.metrics is not None:
        routes.append(Route("/metrics", _metrics(site)))

    def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if "text/html" in request.headers.get("accept", ""):
            message = "this page does not exist" if status == 404 else str(exc)
            return html.page("error.html.j2", status=status, status_code=status, message=message)
        return PlainTextResponse("not found\n" if status == 404 else f"{exc}\n", status)

    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    return Guard(app, keys)


Endpoint = Callable[[Request], Awaitable[Response]]


def _healthz(site: Site) -> Endpoint:
    assert site.health is not None
    verdict = site.health

    async def healthz(request: Request) -> Response:
        is_healthy, details = verdict()
        body = json.dumps(details, default=str) + "\n"
        return Response(body, status_code=200 if is_healthy else 503, media_type="application/json")

    return healthz


def _metrics(site: Site) -> Endpoint:
    assert site.metrics is not None
    exposition = site.metrics

    async def metrics(request: Request) -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return metrics


class _Feeds:
    """Atom feeds of a rule or a subscription, and the export."""

    def __init__(self, site: Site, pages: Pages) -> None:
        self.site = site
        self.pages = pages

    def rule(self, request: Request) -> Response:
        rule_id = request.path_params["rule_id"]
        rule = self.site.rules().rule(rule_id)
        if rule is None:
            return PlainTextResponse(f"no rule '{rule_id}' is loaded\n", 404)
        found, _ = page_of(self.site.archive, MatchQuery(rule_ids=(rule_id,)), ATOM_ENTRIES, None)
        wording = self.site.wording({rule_id})
        entries = tuple(
            self._entry(item, match, wording, entry_id(rule_id, item.article.key))
            for item in found
            for match in item.matches[:1]
        )
        return self._document(
            request,
            AtomFeed(
                id=feed_id("rule", rule_id),
                title=rule.name,
                subtitle=wording.clauses.get(rule_id, ""),
                self_url=str(request.url),
                page_url=_absolute(request, f"/rules/{rule_id}"),
                updated=newest(entries, self.site.clock()),
                entries=entries,
            ),
        )

    def subscription(self, request: Request) -> Response:
        subscription_id = request.path_params["subscription_id"]
        subscription = self.site.subscription(subscription_id)
        if subscription is None:
            return PlainTextResponse(f"no subscription '{subscription_id}' is configured\n", 404)
        rule_ids = self.site.subscription_rules(subscription)
        found, _ = page_of(self.site.archive, MatchQuery(rule_ids=rule_ids), ATOM_ENTRIES, None)
        wording = self.site.wording(set(rule_ids))
        if not rule_ids:
            found = []
        # One entry per article (its most urgent match): a reader shows one story once.
        entries = tuple(
            self._entry(
                item,
                item.matches[0],
                wording,
                feed_id(f"subscription/{subscription_id}", item.article.key),
            )
            for item in found
            if item.matches
        )
        return self._document(
            request,
            AtomFeed(
                id=feed_id("subscription", subscription_id),
                title=subscription.title or subscription_id,
                subtitle=", ".join(rule_ids),
                self_url=str(request.url),
                page_url=_absolute(request, "/"),
                updated=newest(entries, self.site.clock()),
                entries=entries,
            ),
        )

    def export(self, request: Request) -> Response:
        """`/api/matches?since=7d&format=csv|jsonl|json` plus the pages' filters."""
        params = request.query_params
        fmt = params.get("format", "json")
        if fmt not in FORMATS:
            return PlainTextResponse(f"format '{fmt}' is not one of {', '.join(FORMATS)}\n", 400)
        try:
            since = since_moment(params.get("since", DEFAULT_SINCE), self.site.clock())
        except ValueError as exc:
            return PlainTextResponse(f"{exc}\n", 400)
        filters = Filters.parse(params)
        query, problems = filters.query(self.site)
        if problems:
            return PlainTextResponse("; ".join(problems) + "\n", 400)
        query = MatchQuery(
            rule_ids=query.rule_ids,
            feed_ids=query.feed_ids,
            language=query.language,
            min_priority=query.min_priority,
            published_since=max(since, query.published_since or since),
            published_before=query.published_before,
        )
        text = export_text(
            export_rows(every_match(self.site.archive, query), self.site.wording()), fmt
        )
        headers = {}
        if fmt == "csv":
            headers["content-disposition"] = 'attachment; filename="monitor-matches.csv"'
        return StreamingResponse(_encoded(text), media_type=MEDIA_TYPES[fmt], headers=headers)

    def _entry(self, item: MatchedArticle, match: Match, wording: Wording, entry: str) -> AtomEntry:
        view = article_view(item, wording)
        explanation = match_view(item.article, match, wording)
        return AtomEntry(
            id=entry,
            title=view.title,
            updated=item.matched_at or item.article.published_at,
            published=item.article.published_at,
            link=view.url,
            author=view.source,
            content_html=self.pages.render("atom_entry.html.j2", article=view, match=explanation),
            categories=(match.rule_id,),
        )

    def _document(self, request: Request, feed: AtomFeed) -> Response:
        return Response(atom_document(feed), media_type=MEDIA_TYPE)


def _absolute(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


def _encoded(pieces: Iterator[str]) -> Iterator[bytes]:
    for piece in pieces:
        yield piece.encode("utf-8")
