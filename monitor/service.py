"""The daemon: APScheduler jobs that call the pipeline, rule hot-reload, signals.

It owns the event loop and the lifetime of the store and the HTTP client. Every
job catches what it does not expect, logs it with a traceback and carries on:
one broken feed or one failing subscription never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config
from monitor.errors import RuleSetError
from monitor.logs import log_event
from monitor.model import Feed, RuleSet
from monitor.pipeline import DeliverReport, PollReport
from monitor.rules import load_rules
from monitor.schedule import is_poll_due
from monitor.wiring import Parts, build_parts

RULES_CHECK_EVERY_S = 2.0
STOP_BUDGET_S = 20.0
_log = logging.getLogger("monitor.service")


@dataclass(slots=True)
class RunOnceReport:
    polls: list[PollReport] = field(default_factory=list)
    delivered: DeliverReport = field(default_factory=DeliverReport)


@dataclass(slots=True)
class RulesWatch:
    """What the rules folder looked like when the running rules were loaded."""

    snapshot: tuple[tuple[str, int, int], ...] = ()
    last_error: str | None = None
    loaded_at: datetime | None = None


def rules_snapshot(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the rule files: cheap change detection."""
    entries = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    """Runs the pipeline once or forever for one validated config."""

    def __init__(self, config: Config, rules: RuleSet, *, parts: Parts | None = None) -> None:
        self.config = config
        self.parts = parts or build_parts(config, rules)
        self.pipeline = self.parts.pipeline
        self.rules_watch = RulesWatch(rules_snapshot(config.rules_dir), None, utc_now())
        self._stop = asyncio.Event()

    async def close(self) -> None:
        await self.parts.fetcher.aclose()
        self.parts.store.close()

    # --- one pass ------------------------------------------------------------------

    async def run_once(self) -> RunOnceReport:
        """Poll every feed once, match, deliver what is due."""
        now = utc_now()
        polls = await self.pipeline.poll_due(now, force=True)
        await self.pipeline.match_pending(utc_now())
        delivered = self.pipeline.deliver_due(utc_now())
        return RunOnceReport(polls=polls, delivered=delivered)

    # --- the daemon ----------------------------------------------------------------

    async def run_forever(self) -> None:
        """Schedule the jobs and run until SIGTERM or SIGINT; SIGHUP reloads the rules."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        scheduler = AsyncIOScheduler(timezone=UTC, event_loop=loop)
        start = utc_now()
        for feed in self.config.feeds:
            scheduler.add_job(
                self._guarded(f"poll:{feed.id}", self._make_poll(feed)),
                IntervalTrigger(seconds=feed.poll_every_s, jitter=min(30, feed.poll_every_s // 10)),
                id=f"poll:{feed.id}",
                next_run_time=start,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.add_job(
            self._guarded("deliver", self._deliver),
            IntervalTrigger(seconds=self.config.deliver_every_s),
            id="deliver",
            next_run_time=start + timedelta(seconds=1),
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self._guarded("rules", self.reload_rules_if_changed),
            IntervalTrigger(seconds=RULES_CHECK_EVERY_S),
            id="rules",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        log_event(
            _log,
            logging.INFO,
            "service.started",
            feeds=len(self.config.feeds),
            subscriptions=len(self.config.subscriptions),
            rules=len(self.pipeline.rules.rules),
            store=str(self.config.store_path),
        )
        await self._stop.wait()
        scheduler.shutdown(wait=False)
        await self._drain()
        log_event(_log, logging.INFO, "service.stopped")

    def stop(self) -> None:
        self._stop.set()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        def on_stop() -> None:
            if self._stop.is_set():
                log_event(_log, logging.WARNING, "service.killed", reason="second stop signal")
                raise SystemExit(1)
            log_event(_log, logging.INFO, "service.stopping")
            self._stop.set()

        loop.add_signal_handler(signal.SIGTERM, on_stop)
        loop.add_signal_handler(signal.SIGINT, on_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._reload_now()))

    async def _drain(self) -> None:
        """Give in-flight jobs a bounded time to finish; what is cut off is retried on restart."""
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
        if others:
            await asyncio.wait(others, timeout=STOP_BUDGET_S)

    def _make_poll(self, feed: Feed) -> Callable[[], Awaitable[None]]:
        async def poll() -> None:
            state = self.parts.store.feed_state(feed.id)
            now = utc_now()
            # The interval job sets the rhythm of a healthy feed; after errors (or a
            # server's Retry-After) next_poll_at holds the backoff, so the job skips.
            is_backing_off = state is not None and state.error_streak > 0
            if is_backing_off and not is_poll_due(state.next_poll_at if state else None, now):
                return
            report = await self.pipeline.poll(feed, now)
            if report.new_articles:
                # Immediate alerts leave as soon as their article is matched.
                self.pipeline.deliver_due(utc_now())

        return poll

    async def _deliver(self) -> None:
        self.pipeline.deliver_due(utc_now())

    def _guarded(
        self, name: str, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self._stop.is_set():
                return
            try:
                await job()
            except Exception:
                _log.exception("job.crashed", extra={"event_fields": {"job": name}})

        return run

    # --- rules -----------------------------------------------------------------------

    async def reload_rules_if_changed(self) -> None:
        snapshot = rules_snapshot(self.config.rules_dir)
        if snapshot != self.rules_watch.snapshot:
            self._reload_rules(snapshot)

    async def _reload_now(self) -> None:
        self._reload_rules(rules_snapshot(self.config.rules_dir))

    def _reload_rules(self, snapshot: tuple[tuple[str, int, int], ...]) -> None:
        """Validate the whole folder, then swap; on any error keep the running rules."""
        self.rules_watch.snapshot = snapshot
        try:
            rules = load_rules(self.config.rules_dir)
        except RuleSetError as exc:
            self.rules_watch.last_error = str(exc)
            log_event(
                _log,
                logging.ERROR,
                "rules.rejected",
                error=str(exc),
                kept=len(self.pipeline.rules.rules),
            )
            return
        self.pipeline.use_rules(rules)
        self.rules_watch.last_error = None
        self.rules_watch.loaded_at = utc_now()
        log_event(_log, logging.INFO, "rules.reloaded", rules=len(rules.rules))
