"""The analyst's workspace: one ASGI app (Starlette) with the match pages, archive search,
Atom feeds, the export, /healthz and /metrics, served by uvicorn inside the daemon or by
`monitor web`.

Reads the store and the rules; never sends. Its one write is the analysts' feedback
(verdicts on matches, muted stories); the other POSTs are the login form and the rule
preview, which matches a draft rule on the archive and stores nothing.
"""

from monitor.web.app import build_web_app
from monitor.web.export import EXPORT_COLUMNS, FORMATS, export_rows, export_text
from monitor.web.security import is_loopback, listen_problem
from monitor.web.server import WebServer
from monitor.web.site import (
    FeedbackBook,
    Filters,
    MatchArchive,
    Site,
    every_match,
    since_moment,
)
from monitor.web.templates import Pages
from monitor.web.verdicts import FEEDBACK_COLUMNS, PrecisionLine, feedback_text

__all__ = [
    "EXPORT_COLUMNS",
    "FEEDBACK_COLUMNS",
    "FORMATS",
    "FeedbackBook",
    "Filters",
    "MatchArchive",
    "Pages",
    "PrecisionLine",
    "Site",
    "WebServer",
    "build_web_app",
    "every_match",
    "export_rows",
    "export_text",
    "feedback_text",
    "is_loopback",
    "listen_problem",
    "since_moment",
]
