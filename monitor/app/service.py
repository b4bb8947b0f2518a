"""The daemon: one feed dispatcher and a few APScheduler jobs that call the pipeline,
reloads, signals, the web server (workspace, health, metrics).

It owns the event loop and the lifetime of the store, the HTTP client and the web
server. Every job and poll catches what it does not expect, logs it with a traceback
and carries on: one broken feed or subscription never stops the rest.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app.background import BackgroundJob
from monitor.app.dispatch import FeedDispatcher
from monitor.app.lock import NoStoreLock, StoreLock
from monitor.app.rulesbook import RulesBook, RulesRead
from monitor.app.status import effective_spike_state
from monitor.app.verdict import HealthFacts, health_body, health_verdict
from monitor.app.wiring import (
    Parts,
    build_outbox,
    build_parts,
    build_renderer,
    build_web_server,
)
from monitor.config import Config, load_config, reference_problems
from monitor.errors import ConfigError, MonitorError, RuleSetError
from monitor.logs import log_crash, log_event
from monitor.metrics import CONTENT_TYPE, Metrics
from monitor.model import Feed, RuleSet
from monitor.pipeline import DeliverReport, PollReport
from monitor.rules import RulesWatch, rules_snapshot
from monitor.schedule import PollPolicy
from monitor.web import WebServer

# How often the dispatcher looks for due feeds: the most a due feed waits for its poll.
DISPATCH_EVERY_S = 2.0
RULES_CHECK_EVERY_S = 2.0
RETENTION_EVERY_S = 6 * 3600.0
_log = logging.getLogger("monitor.app.service")


@dataclass(slots=True)
class RunOnceReport:
    polls: list[PollReport] = field(default_factory=list)
    delivered: DeliverReport = field(default_factory=DeliverReport)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    """Runs the pipeline once or forever for one validated config.

    `clock` gives the time every decision uses (tests pass their own); APScheduler's
    own timing stays on the wall clock. `refused` says that `rules` is the store's snapshot
    of the last good rules, because the rules folder failed to validate with that error.
    """

    def __init__(
        self,
        config: Config,
        rules: RuleSet,
        *,
        parts: Parts | None = None,
        clock: Callable[[], datetime] = utc_now,
        dispatch_every_s: float = DISPATCH_EVERY_S,
        strict: bool = False,
        refused: RuleSetError | None = None,
        snapshot_saved_at: datetime | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        # Tests run strict: an unexpected exception in a job stops the daemon and is raised
        # from run_forever instead of being logged and carried past.
        self._strict = strict
        self.crash: BaseException | None = None
        # One daemon per SQLite file. Daemons on one PostgreSQL store share its work by row
        # leases instead (store/leases.py; docs/operations.md, several daemons).
        self._lock: StoreLock | NoStoreLock = (
            StoreLock(config.store_path) if config.store_path else NoStoreLock()
        )
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
                f"store: '{config.store.shown}' failed its integrity check ({problem}); "
                "restore it from a backup, the daemon will not overwrite it"
            )
        self.pipeline = self.parts.pipeline
        now = clock()
        self.rules_book = RulesBook(
            RulesWatch(rules_snapshot(config.rules_dir), None, now),
            store=self.parts.store,
            metrics=self.metrics,
            rules_dir=config.rules_dir,
        )
        self.rules_watch = self.rules_book.watch
        if refused is None:
            texts = self.rules_book.record_good(rules, now)
            if texts is not None:
                self.rules_book.save_snapshot(texts, now)
        else:
            self.rules_book.record_snapshot_start(rules, refused, snapshot_saved_at)
        for state in self.parts.store.feed_states():
            self.metrics.record_feed(state.feed_id, None, state)
        self._stop = asyncio.Event()
        # One rules reload at a time; a reload waiting here reads the folder after the
        # running one is done, so an edit landing meanwhile is never lost.
        self._rules_lock = asyncio.Lock()
        self._analysis = BackgroundJob(
            "analyse", self._guarded("analyse", self._analyse), is_stopping=self._stop.is_set
        )
        self._delivery = BackgroundJob(
            "deliver", self._guarded("deliver", self._deliver), is_stopping=self._stop.is_set
        )
        self._scheduler: AsyncIOScheduler | None = None
        self._web: WebServer | None = None
        self.dispatcher = FeedDispatcher(
            self.parts.store,
            clock=clock,
            every_s=dispatch_every_s,
            policy=PollPolicy.from_settings(config.fetch),
            max_claims=config.fetch.max_concurrency,
        )

    async def close(self) -> None:
        if self._web is not None:
            await self._web.close()
        try:
            # A clean stop hands its work over at once; a killed daemon's leases lapse.
            self.parts.store.release_leases()
        except MonitorError as exc:
            log_event(_log, logging.WARNING, "leases.not_released", error=str(exc))
        await self.parts.close()
        self._lock.release()

    async def run_once(self) -> RunOnceReport:
        """Poll every feed once, match, deliver what is due."""
        polls = await self.pipeline.poll_due(self._clock(), force=True)
        await self.pipeline.match_pending(self._clock())
        delivered = await self.pipeline.deliver_due(self._clock())
        return RunOnceReport(polls=polls, delivered=delivered)

    async def run_forever(self) -> None:
        """Schedule the jobs and run until SIGTERM or SIGINT; SIGHUP reloads everything."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        await self._start_web()
        scheduler = AsyncIOScheduler(timezone=UTC, event_loop=loop)
        self._scheduler = scheduler
        self.dispatcher.restart()
        start = utc_now()
        every_s = self.dispatcher.every_s
        self._add_job("dispatch", self._dispatch_job, every_s, start, delay_s=0)
        self._add_job("deliver", self._deliver, self.config.delivery.check_every_s, start)
        self._add_job("rules", self.reload_rules_if_changed, RULES_CHECK_EVERY_S, start)
        self._add_job("retention", self._purge_old_articles, RETENTION_EVERY_S, start)
        store = self.parts.store
        if store.shares_work:
            # Three renewals a lease: one late or failed renewal does not lose the work.
            self._add_job("leases", self._renew_leases, store.lease_s / 3, start)
        # What start-up loaded (rules, lexicon, the model's tables) lives as long as the daemon:
        # kept out of the collector's full passes, which would walk all of it and hold the
        # event loop for as long (https://docs.python.org/3/library/gc.html#gc.freeze).
        gc.collect()
        gc.freeze()
        scheduler.start()
        web = self._web.url if self._web else None
        log_event(
            _log,
            logging.INFO,
            "service.started",
            feeds=len(self.config.feeds),
            subscriptions=len(self.config.subscriptions),
            rules=len(self.pipeline.rules.rules),
            store=self.config.store.shown,
            daemon_id=store.daemon_id,
            lease_s=store.lease_s if store.shares_work else None,
            web_url=web,
            health_url=f"{web}/healthz" if web else None,
        )
        await self._stop.wait()
        # Stop starting jobs, let running ones finish within the budget, then cancel
        # the rest: a poll cut short is redone after a restart, nothing is half-written.
        scheduler.pause()
        await self._drain()
        scheduler.shutdown(wait=False)
        log_event(_log, logging.INFO, "service.stopped")
        if self.crash is not None:
            raise self.crash

    def stop(self) -> None:
        self._stop.set()

    def _add_job(
        self,
        name: str,
        job: Callable[[], Awaitable[None]],
        every_s: float,
        start: datetime,
        *,
        delay_s: float = 1.0,
    ) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(
            self._guarded(name, job),
            IntervalTrigger(seconds=every_s),
            id=name,
            next_run_time=start + timedelta(seconds=delay_s),
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

    # --- the dispatcher --------------------------------------------------------------

    def dispatch(self) -> list[asyncio.Task[None]]:
        """Start a poll for every feed whose stored next poll has come; return those tasks.

        It does not wait for them: a slow feed never delays the next dispatch, and a feed
        still being polled is not started again. Call it from the running event loop.
        """
        return self.dispatcher.dispatch(self.config.feeds, self._start_poll)

    async def _dispatch_job(self) -> None:
        self.dispatch()

    def _start_poll(self, feed: Feed) -> Coroutine[Any, Any, None]:
        async def poll() -> None:
            with self.dispatcher.polling(feed.id) as polling:
                report = await self.pipeline.ingest_feed(feed, self._clock(), state=polling.state)
                polling.saved = report.state
            self.metrics.record_feed(feed.id, report.status, self.dispatcher.states().get(feed.id))
            if report.new_articles:
                # Analysis, then immediate alerts, run beside the polls: the feed is free
                # for its next dispatch as soon as its articles are stored.
                self._analysis.kick()

        return self._guarded(f"poll:{feed.id}", poll)()

    def kick_delivery(self) -> asyncio.Task[None]:
        """Deliver what is due in the background (see `BackgroundJob`)."""
        return self._delivery.kick()

    async def _analyse(self) -> None:
        if await self.pipeline.match_pending(self._clock()):
            # Immediate alerts leave as soon as their article is matched.
            self._delivery.kick()

    async def _deliver(self) -> None:
        await self.pipeline.deliver_due(self._clock())

    async def _renew_leases(self) -> None:
        self.parts.store.renew_leases()
        # Articles whose daemon died are free once their lease lapses, whether or not a
        # poll here brings new ones: look for them at every renewal.
        self._analysis.kick()

    async def _purge_old_articles(self) -> None:
        cutoff = self._clock() - timedelta(seconds=self.config.retention_s)
        purged = self.parts.store.purge_before(cutoff)
        self.parts.store.purge_stories_before(cutoff)
        if purged:
            log_event(_log, logging.INFO, "store.purged", articles=purged, before=cutoff)

    def _guarded(
        self, name: str, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
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
            except Exception as exc:
                # One label per kind of job ("poll", not "poll:seed-fr"): bounded cardinality.
                self.metrics.errors.labels(job=name.split(":", 1)[0]).inc()
                log_crash(_log, "job.crashed", job=name)
                if self._strict and self.crash is None:
                    self.crash = exc
                    self._stop.set()

        return run

    # --- web server and health --------------------------------------------------------

    async def _start_web(self) -> None:
        if self.config.web is None:
            return
        owned = self.parts.annotator
        server = build_web_server(
            lambda: self.config,
            self.parts.store,
            lambda: self.pipeline.rules,
            clock=self._clock,
            health=self.health,
            metrics=self._exposition,
            # The rule preview shares the daemon's spaCy workers rather than load another copy.
            annotator=(lambda: owned) if owned is not None else None,
        )
        await server.start()
        self._web = server

    def health(self, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
        """The verdict at `now` (default: the service's clock): failing when polling stalled,
        the store is not writable or no feed succeeded for long; degraded while the rules on
        disk are refused or some feeds fail."""
        now = now or self._clock()
        activity = self.dispatcher.activity
        polling = self.dispatcher.health(self.config.feeds, now)
        facts = HealthFacts(
            started_at=activity.started_at,
            feeds=self.config.feeds,
            states=self.dispatcher.states(),
            polling_problem=polling.problem,
            is_store_writable=self.parts.store.is_writable(),
            store_path=self.config.store.shown,
            rules_error=self.rules_watch.last_error,
            is_on_snapshot=self.rules_book.is_on_snapshot,
        )
        verdict = health_verdict(facts, now)
        return verdict.is_healthy, health_body(
            verdict,
            facts,
            polling,
            activity,
            now=now,
            polls_in_flight=self.dispatcher.polls_in_flight,
            rules=len(self.pipeline.rules.rules),
        )

    def _exposition(self) -> tuple[bytes, str]:
        self.metrics.set_delivery_counts(self.parts.store.delivery_counts())
        now = self._clock()
        for state in self.parts.store.spike_states().values():
            # Read back from the store: the gauge survives a restart, a cool-down runs out.
            shown = effective_spike_state(state.state, state.quiet_until, now)
            self.metrics.set_spike_state(state.rule_id, shown)
        return self.metrics.exposition(), CONTENT_TYPE

    # --- reloads -----------------------------------------------------------------------

    async def reload_rules_if_changed(self) -> None:
        """Reload the rules if a rule file changed, in a worker thread: polls and `/healthz`
        go on meanwhile. The first call also warms the per-file cache, so that later edits
        parse only the files they touch."""
        async with self._rules_lock:
            folder, before = self.config.rules_dir, self.rules_watch.snapshot
            read = await asyncio.to_thread(
                self.rules_book.read_if_changed, folder, before, self.pipeline.compile_rules
            )
            if read is not None:
                await self._take_rules(read)

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
        async with self._rules_lock:
            read = await asyncio.to_thread(
                self.rules_book.read_if_changed,
                config.rules_dir,
                None,
                self.pipeline.compile_rules,
            )
            assert read is not None  # read unconditionally without a snapshot to compare
            if read.compiled is None:
                await self._take_rules(read)  # refused: logged, and the running set stays
                return
            self._apply_config(config)
            await self._take_rules(read)
        log_event(_log, logging.INFO, "config.reloaded", feeds=len(config.feeds))

    async def _take_rules(self, read: RulesRead) -> None:
        """On the event loop: swap in what `read_if_changed` validated, or record why not."""
        self.rules_watch.snapshot = read.snapshot
        rules, running = read.loaded.rules, len(self.pipeline.rules.rules)
        if read.compiled is None:
            self.rules_book.reject(RuleSetError(list(read.loaded.errors)), kept=running)
            return
        # One assignment: an analysis batch uses the old compiled set or the new, never a mix.
        self.pipeline.use_rules(rules, read.compiled)
        now = self._clock()
        self.rules_book.rules_dir = self.config.rules_dir
        texts = self.rules_book.record_good(rules, now, read.loaded.texts)
        log_event(
            _log,
            logging.INFO,
            "rules.reloaded",
            rules=len(rules.rules),
            files_parsed=read.loaded.parsed,
            cpu_ms=round(read.elapsed_s * 1000),
        )
        # Valid rules that name a missing feed, or that no subscription can reach any more,
        # still run: say so at every swap, as `run` does at start and `check` as an error.
        for problem in reference_problems(self.config, rules):
            log_event(_log, logging.WARNING, "rules.dangling_reference", problem=problem)
        if texts is not None:
            await asyncio.to_thread(self.rules_book.save_snapshot, texts, now)

    def _apply_config(self, config: Config) -> None:
        if config.store != self.config.store:
            log_event(_log, logging.WARNING, "config.restart_needed", setting="store")
        old_feeds = {feed.id: feed for feed in self.config.feeds}
        self.pipeline.reconfigure(
            feeds=config.feeds,
            subscriptions=config.subscriptions,
            renderer=build_renderer(config),
            outbox=build_outbox(config, self.parts.store),
            stories=config.stories,
        )
        self.config = config
        # The dispatcher reads `self.config.feeds` at each run: added and removed feeds take
        # effect at the next one. A changed `every` re-plans the feed's stored next poll.
        self.dispatcher.replan(old_feeds, config.feeds, config.fetch)
