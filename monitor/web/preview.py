"""The rule preview: `GET /preview` (the form, `?rule=<id>` prefilled with that rule's file),
`POST /preview` (the form's result page) and `POST /api/preview` (the same as JSON).

A draft is validated with `monitor check`'s messages and run over the archive by the
pipeline's `Previewer`, off the event loop, with its limits; nothing is stored or sent. Every
POST carries the CSRF token of the form (or, for the API, in `X-CSRF-Token`, or a bearer
token when one is set). This module words the results; the templates mark them up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from monitor.deliver import SnippetPart, clause_words, highlight_snippet
from monitor.match import near_miss_words
from monitor.pipeline import DEFAULT_DAYS, PreviewedNearMiss, Previewer, PreviewReport
from monitor.rules import MAX_FILE_BYTES, rule_clauses
from monitor.store import MatchedArticle
from monitor.web.pages import HtmlPages
from monitor.web.security import CSRF_COOKIE, Keys, cookies_of, csrf_problem
from monitor.web.views import ArticleView, Wording, article_view, snippet_text

# Not the login form's cookie: that one lives on /login only, this one on both preview paths.
PREVIEW_CSRF_COOKIE = "monitor_preview_csrf"
CSRF_HEADER = "x-csrf-token"
DRAFT_NAME = "draft.yaml"
# A form-encoded rule may triple in size (%XX); past this the form is refused unread.
MAX_BODY_BYTES = 3 * MAX_FILE_BYTES + 4096
SCHEMA = "monitor.preview/1"


@dataclass(frozen=True, slots=True)
class NearMissView:
    """One near miss, ready to display: the article, the clause that failed, the evidence."""

    article: ArticleView
    clause: str  # where the rule has it, e.g. "match.all[1]"
    failed: str  # the failed clause in words
    found: tuple[str, ...]  # what the clauses that held found
    snippet: tuple[SnippetPart, ...]


class PreviewPages:
    """The preview's handlers over one site."""

    def __init__(self, html: HtmlPages, keys: Keys) -> None:
        self.html = html
        self.site = html.site
        self.keys = keys

    def form(self, request: Request) -> Response:
        """`GET /preview`: the form, empty or with `?rule=<id>`'s YAML to edit."""
        text, problem = "", None
        rule_id = request.query_params.get("rule", "")
        if rule_id:
            text, problem = self._rule_text(rule_id)
        return self._page(
            request, text=text, days=DEFAULT_DAYS, problems=(problem,) if problem else ()
        )

    async def run(self, request: Request) -> Response:
        """`POST /preview`: validate the draft, run it, show the three sections."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return self._page(request, status=413, problems=("the form is too large",))
        form = {
            name: values[0]
            for name, values in parse_qs(body.decode("utf-8", "replace"), max_num_fields=10).items()
        }
        problem = csrf_problem(self.keys, self._csrf_cookies(request), form)
        if problem is not None:
            return self._page(request, status=403, problems=(problem,))
        text = form.get("rule", "")
        days, problem = _days(form.get("days", str(DEFAULT_DAYS)))
        if problem is not None:
            return self._page(request, status=400, text=text, problems=(problem,))
        report = await self._preview(text, days)
        if report.errors:
            return self._page(request, status=422, text=text, days=days, problems=report.errors)
        return self._page(request, text=text, days=days, report=report)

    async def api(self, request: Request) -> Response:
        """`POST /api/preview` with `{"rule": YAML, "days": 30}`: the report as JSON."""
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _problem(415, 'send the rule as JSON: {"rule": "...", "days": 30}')
        if not self._is_scripted(request):
            sent = {"csrf": request.headers.get(CSRF_HEADER, "")}
            problem = csrf_problem(self.keys, self._csrf_cookies(request), sent)
            if problem is not None:
                return _problem(403, problem.replace("the form has", "the request has"))
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _problem(413, "the request is too large")
        try:
            data = json.loads(body)
        except ValueError:
            return _problem(400, "the body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("rule"), str):
            return _problem(400, "'rule' must be the rule's YAML, as a string")
        days, problem = _days(str(data.get("days", DEFAULT_DAYS)))
        if problem is not None:
            return _problem(400, problem)
        report = await self._preview(data["rule"], days)
        return JSONResponse(self._json(report), status_code=422 if report.errors else 200)

    # --- helpers -----------------------------------------------------------------------

    def _previewer(self) -> Previewer:
        assert self.site.previewer is not None, "the preview routes exist only with a previewer"
        return self.site.previewer

    async def _preview(self, text: str, days: int) -> PreviewReport:
        now = self.site.clock()
        previewer = self._previewer()
        # spaCy and the archive scan take seconds: never on the event loop.
        return await run_in_threadpool(
            lambda: previewer.preview(text.encode("utf-8"), name=DRAFT_NAME, days=days, now=now)
        )

    def _rule_text(self, rule_id: str) -> tuple[str, str | None]:
        rule = self.site.rules().rule(rule_id)
        if rule is None:
            return "", f"no rule '{rule_id}' is loaded"
        path = Path(rule.source.rpartition(":")[0])
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                return "", f"'{path.name}' is larger than a rule file may be"
            return path.read_text(encoding="utf-8"), None
        except (OSError, UnicodeDecodeError) as exc:
            return "", f"cannot read '{path.name}': {exc}"

    def _is_scripted(self, request: Request) -> bool:
        # A browser never adds an Authorization header on its own: a request that carries
        # the token comes from a script that holds it, not from a forged page.
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.keys.is_token(offered.strip())

    def _csrf_cookies(self, request: Request) -> dict[str, str]:
        return {CSRF_COOKIE: cookies_of(request.headers).get(PREVIEW_CSRF_COOKIE, "")}

    def _wording(self, report: PreviewReport) -> Wording:
        wording = self.site.wording(set())
        assert report.rule is not None
        clauses = rule_clauses(
            report.rules, {report.rule.id}, gettext=clause_words(wording.language)
        )
        return replace(wording, clauses=dict(clauses))

    def _page(
        self,
        request: Request,
        *,
        status: int = 200,
        text: str = "",
        days: int = DEFAULT_DAYS,
        problems: tuple[str, ...] = (),
        report: PreviewReport | None = None,
    ) -> Response:
        kept = cookies_of(request.headers).get(PREVIEW_CSRF_COOKIE, "")
        csrf = kept if kept and self.keys.is_csrf(kept) else self.keys.new_csrf()
        context: dict[str, Any] = {"matches": (), "near_misses": (), "clause": ""}
        if report is not None:
            wording = self._wording(report)
            assert report.rule is not None
            context = {
                "matches": [
                    article_view(MatchedArticle(found.article, (found.match,), None), wording)
                    for found in report.matches
                ],
                "near_misses": [near_miss_view(missed, wording) for missed in report.near_misses],
                "clause": wording.clauses.get(report.rule.id, ""),
            }
        response = self.html.page(
            "preview.html.j2",
            status=status,
            csrf=csrf,
            text=text,
            days=days,
            max_days=self._previewer().limits.max_days,
            problems=problems,
            report=report,
            most=max((day.matches + day.near_misses for day in report.per_day), default=0)
            if report
            else 0,
            **context,
        )
        if csrf != kept:
            response.set_cookie(
                PREVIEW_CSRF_COOKIE,
                csrf,
                path="/",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    def _json(self, report: PreviewReport) -> dict[str, Any]:
        if report.errors:
            return {"schema": SCHEMA, "valid": False, "errors": list(report.errors)}
        assert report.rule is not None and report.since is not None
        wording = self._wording(report)
        matches = [
            article_view(MatchedArticle(found.article, (found.match,), None), wording)
            for found in report.matches
        ]
        return {
            "schema": SCHEMA,
            "valid": True,
            "errors": [],
            "rule_id": report.rule.id,
            "days": report.days,
            "since": report.since.isoformat(),
            "match_count": report.match_count,
            "near_miss_count": report.near_miss_count,
            "matches": [
                {
                    **_article_json(view),
                    "score": view.matches[0].score,
                    "terms": list(view.matches[0].terms),
                    "actors": list(view.matches[0].actors),
                    "sentence": snippet_text(view.matches[0].snippet),
                    "why": view.matches[0].why,
                }
                for view in matches
            ],
            "near_misses": [
                {
                    **_article_json(view.article),
                    "clause": view.clause,
                    "failed": view.failed,
                    "found": list(view.found),
                    "sentence": snippet_text(view.snippet),
                }
                for view in (near_miss_view(missed, wording) for missed in report.near_misses)
            ],
            "per_day": [
                {"day": day.day, "matches": day.matches, "near_misses": day.near_misses}
                for day in report.per_day
            ],
            "scanned": report.scanned,
            "annotated": report.annotated,
            "stopped": report.stopped,
            "reached": report.reached.isoformat() if report.reached else None,
        }


def near_miss_view(missed: PreviewedNearMiss, wording: Wording) -> NearMissView:
    found = missed.near_miss
    return NearMissView(
        article=article_view(MatchedArticle(missed.article, (), None), wording),
        clause=found.failed.key,
        failed=near_miss_words(found.failed, clause_words(wording.language)),
        found=tuple(dict.fromkeys(label for held in found.held for label in held.found)),
        snippet=highlight_snippet(missed.article, found.hits),
    )


def _article_json(view: ArticleView) -> dict[str, Any]:
    return {
        "article_key": view.key,
        "title": view.title,
        "url": view.url,
        "feed_id": view.feed_id,
        "published_at": view.published_iso,
    }


def _days(text: str) -> tuple[int, str | None]:
    try:
        days = float(text.strip() or DEFAULT_DAYS)
    except ValueError:
        return DEFAULT_DAYS, f"days '{text[:20]}' is not a number of days"
    if not math.isfinite(days) or days != int(days) or days < 1:
        return DEFAULT_DAYS, f"days '{text[:20]}' is not a whole number of days (1 or more)"
    return int(days), None


def _problem(status: int, message: str) -> Response:
    return JSONResponse({"schema": SCHEMA, "valid": False, "errors": [message]}, status_code=status)
