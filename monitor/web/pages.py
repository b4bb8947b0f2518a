"""The workspace's HTML pages: recent matches by story, one rule (with its measured
precision), one story, the login form.

Each handler reads the archive through the `Site`, builds views and renders one template;
every page works without JavaScript and links its Atom feeds. Handlers are plain functions
that Starlette runs in its thread pool, so a slow read never holds the event loop.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from monitor.store import MatchQuery, PageCursor
from monitor.web.feedback import back_path, csrf_token, keep_csrf, page_marks
from monitor.web.security import CSRF_COOKIE, SESSION_COOKIE, Keys, cookies_of, csrf_problem
from monitor.web.site import Filters, Site, decode_cursor, encode_cursor, page_of
from monitor.web.templates import Pages
from monitor.web.verdicts import rule_precision
from monitor.web.views import article_view, story_views

RULE_DAYS = 30
MAX_FORM_BYTES = 4096


class HtmlPages:
    """The page handlers of one site."""

    def __init__(self, site: Site, pages: Pages, keys: Keys) -> None:
        self.site = site
        self.pages = pages
        self.keys = keys

    def page(
        self, name: str, *, status: int = 200, request: Request | None = None, **context: object
    ) -> HTMLResponse:
        """Render a page; given the request, its feedback buttons get their CSRF token."""
        context.setdefault("feeds_alternate", ())
        context.setdefault("has_login", self.keys.token is not None)
        token = ""
        if request is not None and self.site.feedback is not None:
            token = csrf_token(self.keys, request)
        context.setdefault("csrf", token)
        context.setdefault("has_preview", self.site.previewer is not None)
        context.update(
            has_feedback=bool(token), back=back_path(request) if request is not None else "/"
        )
        response = HTMLResponse(self.pages.render(name, **context), status_code=status)
        if request is not None and token:
            keep_csrf(response, token, request)
        return response

    def not_found(self, what: str) -> HTMLResponse:
        return self.page("error.html.j2", status=404, status_code=404, message=what)

    def matches(self, request: Request) -> Response:
        """`/`: recent matches, newest first, grouped by story, with the filter form."""
        filters = Filters.parse(request.query_params)
        query, problems = filters.query(self.site)
        found, after = page_of(
            self.site.archive,
            query,
            self.site.settings.page_size,
            decode_cursor(request.query_params.get("after", "")),
        )
        rules = self.site.rules()
        return self.page(
            "matches.html.j2",
            request=request,
            stories=story_views(found, self.site.wording(), page_marks(self.site.feedback, found)),
            filters=filters,
            problems=problems,
            next_url=_next_url("/", filters.as_params(), after),
            feeds=self.site.feeds(),
            tags=self.site.tags(),
            rules=sorted(rules.rules, key=lambda rule: rule.name.lower()),
            subscriptions=self.site.subscriptions(),
            feeds_alternate=tuple(
                (
                    subscription.title or subscription.id,
                    f"/feeds/subscriptions/{subscription.id}.atom",
                )
                for subscription in self.site.subscriptions()
            ),
        )

    def rule(self, request: Request) -> Response:
        """`/rules/<id>`: the rule in words, its stories per day over the last 7 days (spikes
        marked), its matches per day, then its matches."""
        rule_id = request.path_params["rule_id"]
        rule = self.site.rules().rule(rule_id)
        if rule is None:
            return self.not_found(f"no rule '{rule_id}' is loaded")
        wording = self.site.wording({rule_id})
        # The most recent days that had matches, not the calendar's: a quiet rule or an old
        # archive still shows its rhythm.
        days: dict[str, int] = {}
        for moment in self.site.archive.rule_match_times(rule_id):
            day = moment.astimezone(wording.zone).date().isoformat()
            if day not in days and len(days) == RULE_DAYS:
                break
            days[day] = days.get(day, 0) + 1
        found, after = page_of(
            self.site.archive,
            MatchQuery(rule_ids=(rule_id,)),
            self.site.settings.page_size,
            decode_cursor(request.query_params.get("after", "")),
        )
        feed_url = f"/feeds/rules/{rule_id}.atom"
        marks = page_marks(self.site.feedback, found)
        trend = self.site.rule_trend(rule_id)
        return self.page(
            "rule.html.j2",
            request=request,
            precision=(
                rule_precision(self.site.feedback.rule_verdicts(rule_id), wording.zone)
                if self.site.feedback is not None
                else None
            ),
            rule=rule,
            clause=wording.clauses.get(rule_id, ""),
            days=sorted(days.items(), reverse=True),
            most=max(days.values(), default=0),
            total=sum(days.values()),
            window_days=RULE_DAYS,
            trend_days=tuple(reversed(trend.days)),  # newest first, as the table below
            trend_most=max((count for _, count, _ in trend.days), default=0),
            trend_total=sum(count for _, count, _ in trend.days),
            trend_has_spike=any(is_spike for _, _, is_spike in trend.days),
            articles=[article_view(item, wording, marks) for item in found],
            next_url=_next_url(f"/rules/{rule_id}", {}, after),
            feed_url=feed_url,
            feeds_alternate=((rule.name, feed_url),),
        )

    def story(self, request: Request) -> Response:
        """`/stories/<id>`: every stored copy of one story, its outlets and their matches."""
        story_id = request.path_params["story_id"]
        found = self.site.archive.story_articles(story_id)
        if not found:
            return self.not_found(f"no story '{story_id}' is stored")
        (story,) = story_views(found, self.site.wording(), page_marks(self.site.feedback, found))
        return self.page("story.html.j2", request=request, story=story)

    def login_form(self, request: Request) -> Response:
        if self.keys.token is None:
            return RedirectResponse("/", status_code=303)
        return self._login_page(request, problem=None, status=200)

    async def login(self, request: Request) -> Response:
        """POST `/login`: the token, with the form's CSRF token, sets the session cookie."""
        if self.keys.token is None:
            return RedirectResponse("/", status_code=303)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return self._login_page(request, problem="the form is too large", status=413)
        form = {
            name: values[0]
            for name, values in parse_qs(body.decode("utf-8", "replace"), max_num_fields=10).items()
        }
        problem = csrf_problem(self.keys, cookies_of(request.headers), form)
        if problem is not None:
            return self._login_page(request, problem=problem, status=403)
        if not self.keys.is_token(form.get("token", "")):
            return self._login_page(request, problem="this is not the token", status=403)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.keys.session_value(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def _login_page(self, request: Request, *, problem: str | None, status: int) -> Response:
        kept = cookies_of(request.headers).get(CSRF_COOKIE, "")
        csrf = kept if kept and self.keys.is_csrf(kept) else self.keys.new_csrf()
        response = self.page("login.html.j2", status=status, csrf=csrf, problem=problem)
        if csrf != kept:
            response.set_cookie(
                CSRF_COOKIE,
                csrf,
                # The whole site's: the feedback buttons double-submit the same token.
                path="/",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response


def _next_url(path: str, params: dict[str, str], after: PageCursor | None) -> str | None:
    if after is None:
        return None
    return f"{path}?{urlencode({**params, 'after': encode_cursor(after)})}"
