"""The full text of an article page, for feeds that carry only a summary.

Owns the trafilatura call. The page always comes through `Fetcher.fetch_page`, so the
size cap, the deadline and the SSRF guard apply to links found in feeds. Any failure
gives None and the caller keeps the summary; nothing here raises for a bad page.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

import trafilatura

from monitor.errors import FetchError
from monitor.logs import log_crash, log_event
from monitor.model import FetchResult
from monitor.text import drop_invisible, truncate

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_log = logging.getLogger("monitor.ingest.extract")


class PageFetcher(Protocol):
    """What extraction needs from `monitor.ingest.fetch.Fetcher`: its guarded page fetch."""

    async def fetch_page(self, url: str, now: datetime) -> FetchResult: ...


async def extract_full_text(
    fetcher: PageFetcher, url: str, now: datetime, *, max_chars: int
) -> str | None:
    """The main text of the page at `url`, at most `max_chars`, or None on any failure."""
    try:
        page = await fetcher.fetch_page(url, now)
    except FetchError as exc:
        log_event(_log, logging.WARNING, "article.full_text_failed", url=url, error=str(exc))
        return None
    return await page_text(page, max_chars=max_chars)


async def page_text(page: FetchResult, *, max_chars: int) -> str | None:
    """The main text of a fetched HTML page, at most `max_chars`, or None."""
    content_type = (page.header("content-type") or "text/html").split(";", 1)[0].strip().lower()
    if content_type not in _HTML_TYPES:
        log_event(
            _log, logging.INFO, "article.full_text_skipped", url=page.url, content_type=content_type
        )
        return None
    # Extraction is CPU-bound (lxml and scoring): keep it off the event loop.
    text = await asyncio.to_thread(_main_text, page.body, page.url)
    if not text:
        log_event(_log, logging.INFO, "article.full_text_empty", url=page.url)
        return None
    return truncate(text, max_chars)


def _main_text(body: bytes, url: str) -> str | None:
    try:
        text = trafilatura.extract(
            body,
            url=url,
            output_format="txt",
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            favor_precision=True,
        )
    # trafilatura documents no exception set; any failure on one page means "no full text",
    # logged with its traceback so a systematic problem still shows.
    except Exception:
        log_crash(_log, "article.full_text_error", level=logging.WARNING, url=url)
        return None
    return drop_invisible(text).strip() if text else None
