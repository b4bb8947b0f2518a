"""The daemon: APScheduler jobs that call the pipeline, reloads, signals, health.

It owns the event loop and the lifetime of the store, the HTTP client and the
health endpoint. Every job catches what it does not expect, logs it with a
traceback and carries on: one broken feed or subscription never stops the rest.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app.health import HealthServer
from monitor.app.lock import StoreLock
from monitor.app.wiring import Parts, build_outbox, build_parts, build_renderer
from monitor.config import Config, load_config
from monitor.errors import ConfigError, MonitorError, RuleSetError
from monitor.logs import log_event
from monitor.metrics import CONTENT_TYPE, Metrics
from monitor.model import Feed, RuleSet
from monitor.pipeline import DeliverReport, PollReport
from monitor.rules import RulesWatch, load_rules, rules_snapshot
from monitor.schedule import is_poll_due

RULES_CHECK_EVERY_S = 2.0
RETENTION_EVERY_S = 6 * 3600.0
FIRST_POLL_SPREAD_S = 30.0
_log = logging.getLogger("monitor.app.service")


@dataclass(slots=True)
class RunOnceReport:
    polls: list[PollReport] = field(default_factory=list)
    delivered: DeliverReport = field(default_factory=DeliverReport)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    """Runs the pipeline once or forever for one validated config."""

    def __init__(self, config: Config, rules: RuleSet, *, parts: Parts | None = None) -> None:
        self.config = config
        self._lock = StoreLock(config.store_path)
        self._lock.acquire()
        try:
            self.metrics = Metrics()
            self.parts = parts or build_parts(config, rules, metrics=self.metrics)
            problem = self.parts.store.quick_check()
        except BaseException:
            self._lock.release()
            raise
        if problem is not None:
            self.parts.store.close()
            self._lock.release()
            raise MonitorError(
                f"store: '{config.store_path}' failed its integrity check ({problem}); "
                "restore it from a backup, the daemon will not overwrite it"
            )
        self.pipeline = self.parts.pipeline
        self.rules_watch = RulesWatch(rules_snapshot(config.rules_dir), None, utc_now())
        self.metrics.rules_loaded.set(len(rules.rules))
        self.metrics.last_reload.set(utc_now().timestamp())
        self.parts.store.set_note("rules_error", None)
        self.parts.store.set_note("rules_loaded_at", utc_now().isoformat())
        self._stop = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self._health: HealthServer | None = None

    async def close(self) -> None:
        if self._health is not None:
            await self._health.close()
        await self.parts.close()
        self._lock.release()

    # --- one pass ------------------------------------------------------------------

    async def run_once(self) -> RunOnceReport:
        """Poll every feed once, match, deliver what is due."""
        polls = await self.pipeline.poll_due(utc_now(), force=True)
        await self.pipeline.match_pending(utc_now())
        delivered = await self.pipeline.deliver_due(utc_now())
        return RunOnceReport(polls=polls, delivered=delivered)

    # --- the daemon ----------------------------------------------------------------

    async def run_forever(self) -> None:
        """Schedule the jobs and run until SIGTERM or SIGINT; SIGHUP reloads everything."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        await self._start_health()
        scheduler = AsyncIOScheduler(timezone=UTC, event_loop=loop)
        self._scheduler = scheduler
        start = utc_now()
        feeds = self.config.feeds
        for index, feed in enumerate(feeds):
            # Spread the first polls over (at most) 30 s so that feeds sharing an
            # interval do not arrive, and queue for analysis, all in the same second.
            offset_s = min(feed.poll_every_s, FIRST_POLL_SPREAD_S) * index / len(feeds)
            self._schedule_feed(feed, start + timedelta(seconds=offset_s))
        self._add_job("deliver", self._deliver, self.config.deliver_every_s, start)
        self._add_job("rules", self.reload_rules_if_changed, RULES_CHECK_EVERY_S, start)
        self._add_job("retention", self._purge_old_articles, RETENTION_EVERY_S, start)
        scheduler.start()
        health = self._health.address if self._health else None
        log_event(
            _log,
            logging.INFO,
            "service.started",
            feeds=len(self.config.feeds),
            subscriptions=len(self.config.subscriptions),
            rules=len(self.pipeline.rules.rules),
            store=str(self.config.store_path),
            health_url=f"http://{health[0]}:{health[1]}/healthz" if health else None,
        )
        await self._stop.wait()
        # Stop starting jobs, let running ones finish within the budget, then cancel
        # the rest: a poll cut short is redone after a restart, nothing is half-written.
        scheduler.pause()
        await self._drain()
        scheduler.shutdown(wait=False)
        log_event(_log, logging.INFO, "service.stopped")

    def stop(self) -> None:
        self._stop.set()

    def _schedule_feed(self, feed: Feed, start: datetime) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(
            self._guarded(f"poll:{feed.id}", self._make_poll(feed)),
            IntervalTrigger(seconds=feed.poll_every_s, jitter=min(30, feed.poll_every_s // 10)),
            id=f"poll:{feed.id}",
            next_run_time=start,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )

    def _add_job(
        self, name: str, job: Callable[[], Awaitable[None]], every_s: float, start: datetime
    ) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(
            self._guarded(name, job),
            IntervalTrigger(seconds=every_s),
            id=name,
            next_run_time=start + timedelta(seconds=1),
            max_instances=1,
            coalesce=True,
        )

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        def on_stop() -> None:
            if self._stop.is_set():
                log_event(_log, logging.WARNING, "service.killed", reason="second stop signal")
                raise SystemExit(1)
            log_event(_log, logging.INFO, "service.stopping")
            self._stop.set()

        loop.add_signal_handler(signal.SIGTERM, on_stop)
        loop.add_signal_handler(signal.SIGINT, on_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload_all()))

    async def _drain(self) -> None:
        """Give in-flight jobs a bounded time to finish; what is cut off is retried on restart."""
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
        if others:
            await asyncio.wait(others, timeout=self.config.stop_budget_s)

    def _make_poll(self, feed: Feed) -> Callable[[], Awaitable[None]]:
        async def poll() -> None:
            state = self.parts.store.feed_state(feed.id)
            now = utc_now()
            # The job fires at the configured interval; the feed's recorded next poll
            # (adaptive rhythm, server hints, backoff) may say to wait longer. Within half
            # an interval counts as due: two jitters must not turn one skip into a
            # doubled delay for a healthy feed.
            next_poll = state.next_poll_at if state else None
            if not is_poll_due(next_poll, now, early_s=feed.poll_every_s * 0.5):
                return
            report = await self.pipeline.poll(feed, now)
            if report.new_articles:
                # Immediate alerts leave as soon as their article is matched.
                await self.pipeline.deliver_due(utc_now())

        return poll

    async def _deliver(self) -> None:
        await self.pipeline.deliver_due(utc_now())

    async def _purge_old_articles(self) -> None:
        cutoff = utc_now() - timedelta(seconds=self.config.retention_s)
        purged = self.parts.store.purge_before(cutoff)
        if purged:
            log_event(_log, logging.INFO, "store.purged", articles=purged, before=cutoff)

    def _guarded(
        self, name: str, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self._stop.is_set():
                return
            try:
                await job()
            except asyncio.CancelledError:
                # Only happens at shutdown, once the stop budget is spent.
                log_event(_log, logging.WARNING, "job.abandoned", job=name)
            except MonitorError as exc:
                log_event(_log, logging.ERROR, "job.failed", job=name, error=str(exc))
            except Exception:
                _log.exception("job.crashed", extra={"event_fields": {"job": name}})

        return run

    # --- health ----------------------------------------------------------------------

    async def _start_health(self) -> None:
        if self.config.health_listen is None:
            return
        host, port = self.config.health_listen
        server = HealthServer(host=host, port=port, health=self.health, metrics=self._exposition)
        try:
            await server.start()
        except OSError as exc:
            raise MonitorError(
                f"health: cannot listen on {host}:{port} ({exc.strerror}); "
                "change health.listen in the config or set it to null"
            ) from exc
        self._health = server

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Scheduler alive, age of the last successful poll, store writable."""
        now = utc_now()
        successes = [s.last_success_at for s in self.parts.store.feed_states() if s.last_success_at]
        last_poll_age_s = (now - max(successes)).total_seconds() if successes else None
        is_scheduler_alive = self._scheduler is not None and self._scheduler.running
        is_store_writable = self.parts.store.is_writable()
        slowest_s = max((feed.poll_every_s for feed in self.config.feeds), default=0) * 3
        is_polling = last_poll_age_s is None or last_poll_age_s <= max(slowest_s, 60)
        is_healthy = is_scheduler_alive and is_store_writable and is_polling
        return is_healthy, {
            "status": "ok" if is_healthy else "failing",
            "scheduler_alive": is_scheduler_alive,
            "store_writable": is_store_writable,
            "last_poll_age_s": last_poll_age_s,
            "rules": len(self.pipeline.rules.rules),
            "rules_error": self.rules_watch.last_error,
        }

    def _exposition(self) -> tuple[bytes, str]:
        self.metrics.set_delivery_counts(self.parts.store.delivery_counts())
        return self.metrics.exposition(), CONTENT_TYPE

    # --- reloads -----------------------------------------------------------------------

    async def reload_rules_if_changed(self) -> None:
        snapshot = rules_snapshot(self.config.rules_dir)
        if snapshot != self.rules_watch.snapshot:
            self.rules_watch.snapshot = snapshot
            rules = self._load_rules_or_keep()
            if rules is not None:
                self._use_rules(rules)

    async def reload_all(self) -> None:
        """SIGHUP: validate config, rules and templates together, then swap; else keep all."""
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            log_event(_log, logging.ERROR, "config.rejected", error=str(exc))
            return
        problems = build_renderer(config).template_errors()
        if problems:
            log_event(_log, logging.ERROR, "templates.rejected", error="; ".join(problems))
            return
        self.rules_watch.snapshot = rules_snapshot(config.rules_dir)
        rules = self._load_rules_or_keep(config)
        if rules is None:
            return
        self._apply_config(config)
        self._use_rules(rules)
        log_event(_log, logging.INFO, "config.reloaded", feeds=len(config.feeds))

    def _apply_config(self, config: Config) -> None:
        if config.store_path != self.config.store_path:
            log_event(_log, logging.WARNING, "config.restart_needed", setting="store")
        old_feeds = {feed.id: feed for feed in self.config.feeds}
        self.pipeline.reconfigure(
            feeds=config.feeds,
            subscriptions=config.subscriptions,
            renderer=build_renderer(config),
            outbox=build_outbox(config, self.parts.store),
        )
        self.config = config
        if self._scheduler is None:
            return
        new_ids = {feed.id for feed in config.feeds}
        for feed_id in old_feeds.keys() - new_ids:
            self._scheduler.remove_job(f"poll:{feed_id}")
        for feed in config.feeds:
            if old_feeds.get(feed.id) != feed:
                self._schedule_feed(feed, utc_now())

    def _load_rules_or_keep(self, config: Config | None = None) -> RuleSet | None:
        """Validate the whole rules folder; on any error keep the running rules."""
        folder = (config or self.config).rules_dir
        try:
            return load_rules(folder)
        except RuleSetError as exc:
            self.rules_watch.last_error = str(exc)
            self.parts.store.set_note("rules_error", str(exc))
            log_event(
                _log,
                logging.ERROR,
                "rules.rejected",
                error=str(exc),
                kept=len(self.pipeline.rules.rules),
            )
            return None

    def _use_rules(self, rules: RuleSet) -> None:
        self.pipeline.use_rules(rules)
        self.rules_watch.last_error = None
        self.rules_watch.loaded_at = utc_now()
        self.parts.store.set_note("rules_error", None)
        self.parts.store.set_note("rules_loaded_at", self.rules_watch.loaded_at.isoformat())
        self.metrics.rules_loaded.set(len(rules.rules))
        self.metrics.last_reload.set(self.rules_watch.loaded_at.timestamp())
        log_event(_log, logging.INFO, "rules.reloaded", rules=len(rules.rules))
