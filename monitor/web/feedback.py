"""The workspace's one write action: analysts' verdicts on matches and mutes of stories.

Owns `POST /feedback` (the buttons' form: CSRF checked, then a 303 back to the page it came
from, so a reload never posts twice), `POST /api/feedback` and `GET /api/feedback` (JSON and
the export), the CSRF token the pages' forms carry, and what a page shows of the feedback.
Writes only through the `FeedbackBook`; what is delivered is the store's owed-stories query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from monitor.store import VERDICTS, MatchedArticle
from monitor.text import one_line
from monitor.web.export import MEDIA_TYPES
from monitor.web.security import CSRF_COOKIE, CSRF_FIELD, Keys, cookies_of, csrf_problem
from monitor.web.site import FeedbackBook, Site, since_moment
from monitor.web.verdicts import feedback_text
from monitor.web.views import NO_MARKS, FeedbackMarks

# Scripts send the CSRF token in this header (a form sends the `csrf` field).
CSRF_HEADER = "x-csrf-token"
MAX_BODY_BYTES = 4096
MAX_FIELD_CHARS = 200
MAX_BY_CHARS = 100
CLEAR = "clear"


def page_marks(book: FeedbackBook | None, found: Sequence[MatchedArticle]) -> FeedbackMarks:
    """The verdicts and muted stories of the articles on one page (two reads)."""
    if book is None or not found:
        return NO_MARKS
    return FeedbackMarks(
        verdicts=book.verdicts_for(item.article.key for item in found),
        muted=frozenset(
            book.muted_story_ids(item.article.story_id or item.article.key for item in found)
        ),
    )


def csrf_token(keys: Keys, request: Request) -> str:
    """The browser's CSRF token if this server signed it, else a new one (see keep_csrf)."""
    kept = cookies_of(request.headers).get(CSRF_COOKIE, "")
    return kept if kept and keys.is_csrf(kept) else keys.new_csrf()


def keep_csrf(response: Response, token: str, request: Request) -> None:
    """Set the CSRF cookie when the browser does not hold `token` yet.

    One cookie for the whole site (path /): the login form and every feedback button
    check the same double-submitted token, and open tabs keep working.
    """
    if cookies_of(request.headers).get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def back_path(request: Request) -> str:
    """Where a feedback form sends the browser back to: this page, query string included."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@dataclass(frozen=True, slots=True)
class FeedbackAction:
    """One analyst's click: a verdict on a match (or clearing it), or a story's mute."""

    article_key: str = ""
    rule_id: str = ""
    verdict: str | None = None  # "relevant" | "not_relevant" | "clear"
    story_id: str = ""
    mute: bool | None = None
    by: str | None = None


def parse_action(fields: Mapping[str, Any]) -> FeedbackAction | str:
    """The action a form or a JSON body asks for, or why it is not one."""
    text: dict[str, str] = {}
    for name in ("article_key", "rule_id", "story_id", "by"):
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            return f"'{name}' must be a string"
        text[name] = one_line(value or "")[:MAX_FIELD_CHARS]
    verdict = fields.get("verdict")
    if verdict is not None and verdict not in (*VERDICTS, CLEAR):
        return f"verdict '{one_line(str(verdict))[:40]}' is not one of {', '.join(VERDICTS)}, clear"
    raw_mute = fields.get("mute")
    mute: bool | None = None
    if raw_mute is True or raw_mute == "on":
        mute = True
    elif raw_mute is False or raw_mute == "off":
        mute = False
    elif raw_mute is not None:
        return "'mute' must be on or off (true or false in JSON)"
    if (verdict is None) == (mute is None):
        return "send either a verdict (with article_key and rule_id) or mute (with story_id)"
    if verdict is not None and not (text["article_key"] and text["rule_id"]):
        return "a verdict needs the match's article_key and rule_id"
    if mute is not None and not text["story_id"]:
        return "a mute needs the story_id"
    return FeedbackAction(
        article_key=text["article_key"],
        rule_id=text["rule_id"],
        verdict=verdict,
        story_id=text["story_id"],
        mute=mute,
        by=text["by"][:MAX_BY_CHARS] or None,
    )


class FeedbackHandlers:
    """The feedback routes of one site (its `feedback` book is not None)."""

    def __init__(self, site: Site, keys: Keys, error_page: Any) -> None:
        assert site.feedback is not None
        self.site = site
        self.book: FeedbackBook = site.feedback
        self.keys = keys
        # pages.HtmlPages.page: the error page in the workspace's language and frame.
        self._error_page = error_page

    async def form(self, request: Request) -> Response:
        """POST `/feedback`: a button's form; answers 303 back to its page."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return self._refusal(413, "the form is too large")
        form = {
            name: values[0]
            for name, values in parse_qs(body.decode("utf-8", "replace"), max_num_fields=20).items()
        }
        problem = csrf_problem(self.keys, cookies_of(request.headers), form)
        if problem is not None:
            return self._refusal(403, problem)
        action = parse_action(form)
        if isinstance(action, str):
            return self._refusal(400, action)
        # The form's own `by` is ignored: a browser says nothing trustworthy about who clicked.
        action = FeedbackAction(
            action.article_key, action.rule_id, action.verdict, action.story_id, action.mute
        )
        status, message = await run_in_threadpool(self._apply, action)
        if status != 200:
            return self._refusal(status, message)
        anchor = f"#article-{action.article_key}" if action.article_key else ""
        return RedirectResponse(_local(form.get("back", "/")) + anchor, status_code=303)

    async def api_post(self, request: Request) -> Response:
        """POST `/api/feedback`: the same actions as JSON, CSRF in a header or a bearer token."""
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _json_error(415, "send the action as JSON (Content-Type: application/json)")
        problem = self._api_csrf_problem(request)
        if problem is not None:
            return _json_error(403, problem)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _json_error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            fields = json.loads(body)
        except ValueError:
            return _json_error(400, "the body is not JSON")
        if not isinstance(fields, dict):
            return _json_error(400, "the body must be a JSON object")
        if fields.get("verdict") is None and "verdict" in fields:
            fields["verdict"] = CLEAR
        action = parse_action(fields)
        if isinstance(action, str):
            return _json_error(400, action)
        status, message = await run_in_threadpool(self._apply, action)
        if status != 200:
            return _json_error(status, message)
        return JSONResponse(_answer(action))

    def api_get(self, request: Request) -> Response:
        """GET `/api/feedback?since=30d&rule=…&format=json|csv|jsonl`: every verdict and
        mute, and each rule's tally; it also hands scripts their CSRF token."""
        params = request.query_params
        fmt = params.get("format", "json")
        if fmt not in MEDIA_TYPES:
            return PlainTextResponse(
                f"format '{fmt}' is not one of {', '.join(MEDIA_TYPES)}\n", 400
            )
        since = None
        if params.get("since"):
            try:
                since = since_moment(params["since"], self.site.clock())
            except ValueError as exc:
                return PlainTextResponse(f"{exc}\n", 400)
        rule_id = params.get("rule", "")
        records = [
            record
            for record in self.book.feedback_records(since)
            if not rule_id or record.rule_id == rule_id
        ]
        tallies = {
            rule: tally
            for rule, tally in self.book.feedback_tallies().items()
            if not rule_id or rule == rule_id
        }
        names = {rule.id: rule.name for rule in self.site.rules().rules}
        text = "".join(feedback_text(records, tallies, names, fmt))
        token = csrf_token(self.keys, request)
        headers = {CSRF_HEADER: token}
        if fmt == "csv":
            headers["content-disposition"] = 'attachment; filename="monitor-feedback.csv"'
        response = Response(text, media_type=MEDIA_TYPES[fmt], headers=headers)
        keep_csrf(response, token, request)
        return response

    def _apply(self, action: FeedbackAction) -> tuple[int, str]:
        """Write the action; (200, "") or the status and why it failed."""
        now = self.site.clock()
        if action.mute is True:
            if not self.book.mute_story(
                action.story_id,
                now,
                article_key=action.article_key or None,
                rule_id=action.rule_id or None,
                by=action.by,
            ):
                return 404, f"no story '{action.story_id}' is stored"
        elif action.mute is False:
            self.book.unmute_story(action.story_id)
        elif action.verdict == CLEAR:
            self.book.clear_verdict(action.article_key, action.rule_id)
        elif action.verdict is not None and not self.book.record_verdict(
            action.article_key, action.rule_id, action.verdict, now, by=action.by
        ):
            return 404, (
                f"no match of rule '{action.rule_id}' on article '{action.article_key}' is stored"
            )
        return 200, ""

    def _api_csrf_problem(self, request: Request) -> str | None:
        # A bearer header is never attached by a browser on its own, so it cannot be forged
        # by another site; the Guard has already checked it is the token.
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.keys.is_token(offered.strip()):
            return None
        sent = {CSRF_FIELD: request.headers.get(CSRF_HEADER, "")}
        problem = csrf_problem(self.keys, cookies_of(request.headers), sent)
        if problem is None:
            return None
        return (
            f"{problem.split(':')[0]}: send the {CSRF_HEADER} header with the token (and "
            "cookie) that GET /api/feedback gives, or the bearer token"
        )

    def _refusal(self, status: int, message: str) -> Response:
        response: Response = self._error_page(
            "error.html.j2", status=status, status_code=status, message=message
        )
        return response


def _local(path: str) -> str:
    """`path` when it is a page of this site, else `/` (no redirect to another site)."""
    if (
        not path.startswith("/")
        or path.startswith(("//", "/\\"))
        or any(character in path for character in "\r\n\\")
    ):
        return "/"
    return path.split("#", 1)[0]


def _answer(action: FeedbackAction) -> dict[str, Any]:
    if action.mute is not None:
        return {"story_id": action.story_id, "muted": action.mute}
    verdict = None if action.verdict == CLEAR else action.verdict
    return {"article_key": action.article_key, "rule_id": action.rule_id, "verdict": verdict}


def _json_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
