"""The workspace without the daemon: `monitor web` (serve the pages; the only write is the
analysts' feedback), `monitor export matches`, `monitor export feedback` and
`monitor test-rule --since` (preview a rule on the archive).

Opens the configured store beside a running daemon or alone, never takes the daemon's lock
and never writes a match, a delivery or a feed state.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from monitor.app.wiring import build_annotator, build_web_server, rules_for_start
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.pipeline import Previewer, PreviewReport
from monitor.settings import WebSettings
from monitor.store import MatchQuery, Store
from monitor.store import open_store as open_store_at
from monitor.web import (
    Filters,
    Site,
    every_match,
    export_rows,
    export_text,
    feedback_text,
    since_moment,
)


def existing_store(config: Config) -> Store:
    """The configured store, which must exist already (the daemon creates it)."""
    if config.store_path is not None and not config.store_path.is_file():
        raise MonitorError(
            f"store: '{config.store_path}' does not exist yet; run `monitor run --once` "
            "(or the daemon) first to fill it"
        )
    return open_store_at(config.store.url)


async def serve_workspace(
    config: Config,
    *,
    listen: tuple[str, int] | None,
    clock: Callable[[], datetime],
    on_ready: Callable[[str], None],
) -> None:
    """Serve the pages until SIGTERM or SIGINT; `on_ready` gets the address to open."""
    rules = rules_for_start(config).rules
    store = existing_store(config)
    try:
        server = build_web_server(lambda: config, store, lambda: rules, clock=clock, listen=listen)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            on_ready(server.url + "/")
            await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await server.close()
    finally:
        store.close()


def export_matches(
    config: Config,
    out: TextIO,
    *,
    since: str,
    fmt: str,
    now: datetime,
    filters: dict[str, str] | None = None,
) -> None:
    """Write the matches published since `since` (7d, or a date) to `out` in `fmt`.

    The same rows and columns as `/api/matches` (docs/web.md#export).
    """
    rules = rules_for_start(config).rules
    store = existing_store(config)
    try:
        site = Site(
            archive=store,
            rules=lambda: rules,
            feeds=lambda: config.feeds,
            subscriptions=lambda: config.subscriptions,
            settings=config.web or WebSettings(),
            templates_dir=config.templates_dir / "web",
            clock=lambda: now,
        )
        query, problems = Filters.parse(filters or {}).query(site)
        if problems:
            raise MonitorError("export: " + "; ".join(problems))
        moment = since_moment(since, now)
        query = MatchQuery(
            rule_ids=query.rule_ids,
            feed_ids=query.feed_ids,
            language=query.language,
            min_priority=query.min_priority,
            published_since=moment,
        )
        for piece in export_text(export_rows(every_match(store, query), site.wording()), fmt):
            out.write(piece)
    finally:
        store.close()


def export_feedback(
    config: Config, out: TextIO, *, since: str | None, fmt: str, now: datetime, rule: str = ""
) -> None:
    """Write the analysts' verdicts and mutes given since `since` (all when None) to `out`.

    The same rows and columns as `/api/feedback` (docs/web.md#feedback).
    """
    moment = since_moment(since, now) if since else None
    rules = rules_for_start(config).rules
    store = existing_store(config)
    try:
        records = [
            record
            for record in store.feedback_records(moment)
            if not rule or record.rule_id == rule
        ]
        tallies = {
            rule_id: tally
            for rule_id, tally in store.feedback_tallies().items()
            if not rule or rule_id == rule
        }
        names = {item.id: item.name for item in rules.rules}
        for piece in feedback_text(records, tallies, names, fmt):
            out.write(piece)
    finally:
        store.close()


def preview_archive(
    config: Config, raw: bytes, *, name: str, days: int, now: datetime
) -> PreviewReport:
    """Run the draft rule in `raw` (named `name` in messages) over the last `days` of the
    archive; validated against the folder's actors, stores and sends nothing."""
    rules = rules_for_start(config).rules
    store = existing_store(config)
    annotator = build_annotator(config)
    try:
        previewer = Previewer(
            archive=store,
            annotator=lambda: annotator,
            rules=lambda: rules,
            feeds=lambda: config.feeds,
        )
        return previewer.preview(raw, name=name, days=days, now=now)
    finally:
        annotator.close()
        store.close()
