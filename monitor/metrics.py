"""Prometheus metrics: what the daemon counts and how it is exposed.

prometheus-client stays inside this module. Each daemon gets its own registry
(no global state), so tests and several pipelines in one process never mix.
Per-feed labels are limited to gauges that a dashboard needs per feed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.model import FeedState

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The daemon's counters and gauges, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "monitor_polls",
            "Feed polls by outcome (changed, unchanged, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.fetch_seconds = Histogram(
            "monitor_fetch_seconds",
            "Time to fetch one feed, successful or not",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.errors = Counter(
            "monitor_errors",
            "Unexpected errors caught and logged with a traceback, by job",
            ["job"],
            registry=self.registry,
        )
        self.articles = Counter(
            "monitor_articles_ingested", "New articles stored", registry=self.registry
        )
        self.articles_matched = Counter(
            "monitor_articles_matched",
            "Articles whose analysis and matching finished, whether or not a rule fired",
            registry=self.registry,
        )
        self.matches = Counter(
            "monitor_matches", "Rule matches by rule", ["rule_id"], registry=self.registry
        )
        self.analysis_failures = Counter(
            "monitor_analysis_failures",
            "Articles whose annotation or matching raised, by outcome (retry, quarantined)",
            ["outcome"],
            registry=self.registry,
        )
        self.nlp_articles = Counter(
            "monitor_nlp_articles",
            "Articles annotated, by entity recognition: yes, no, or again (run again with it)",
            ["entities"],
            registry=self.registry,
        )
        self.deliveries = Gauge(
            "monitor_deliveries",
            "Deliveries in the outbox by channel and status",
            ["channel", "status"],
            registry=self.registry,
        )
        self.last_reload = Gauge(
            "monitor_rules_last_reload_timestamp_seconds",
            "When the running rules were last loaded successfully (Unix time)",
            registry=self.registry,
        )
        self.rules_loaded = Gauge(
            "monitor_rules_loaded", "Rules in the running set", registry=self.registry
        )
        self.feed_error_streak = Gauge(
            "monitor_feed_error_streak",
            "Consecutive failed polls per feed (0 when healthy)",
            ["feed_id"],
            registry=self.registry,
        )
        self.stage_cpu = Counter(
            "monitor_stage_cpu_seconds",
            "CPU time spent per pipeline stage (thread CPU time)",
            ["stage"],
            registry=self.registry,
        )
        self.last_poll = Gauge(
            "monitor_last_successful_poll_timestamp_seconds",
            "When any feed was last polled successfully (Unix time)",
            registry=self.registry,
        )
        self.feed_polls = Counter(
            "monitor_feed_polls",
            "Polls per feed by outcome (new, unchanged, failed, skipped)",
            ["feed_id", "outcome"],
            registry=self.registry,
        )
        self.feed_last_success = Gauge(
            "monitor_feed_last_success_timestamp_seconds",
            "When each feed was last polled successfully (Unix time; read from the store)",
            ["feed_id"],
            registry=self.registry,
        )
        self.reload_ok = Gauge(
            "monitor_rules_last_reload_success",
            "1 when the last rules load succeeded, 0 while the files on disk are refused",
            registry=self.registry,
        )
        self.rules_from_snapshot = Gauge(
            "monitor_rules_from_snapshot",
            "1 while the daemon runs on the last good rules saved in the store",
            registry=self.registry,
        )
        # Buckets in rules: the presearch should wake about as many rules as match, whatever
        # the size of the rule set (docs/decisions.md#presearch).
        rule_buckets = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 5_000)
        self.rules_woken = Histogram(
            "monitor_rules_woken_per_article",
            "Rules the presearch woke (and evaluation then judged) per article matched",
            buckets=rule_buckets,
            registry=self.registry,
        )
        self.rules_matched = Histogram(
            "monitor_rules_matched_per_article",
            "Rules that matched per article matched",
            buckets=rule_buckets,
            registry=self.registry,
        )
        self.rule_spike = Gauge(
            "monitor_rule_spike",
            "1 while a spike rule is in a surge or the cool-down after its alert, else 0",
            ["rule_id"],
            registry=self.registry,
        )
        self.stories = Counter(
            "monitor_stories",
            "Event stories opened: articles placed in no earlier story",
            registry=self.registry,
        )
        self.story_joins = Counter(
            "monitor_story_joins",
            "Articles placed in stories, by how: copy (a near-duplicate's story), event "
            "(joined a story on the same event), new (opened one)",
            ["how"],
            registry=self.registry,
        )
        for how in ("copy", "event", "new"):
            self.story_joins.labels(how=how)  # shown at 0 before the first article
        self.build_info = Gauge(
            "monitor_build_info",
            "The running monitor's version",
            ["version"],
            registry=self.registry,
        )
        self.build_info.labels(version=_version()).set(1)
        self._newest_success_s = 0.0

    @contextmanager
    def cpu(self, stage: str) -> Iterator[None]:
        """Count the CPU time of the enclosed block, on the current thread, under `stage`."""
        started = time.thread_time()
        try:
            yield
        finally:
            self.stage_cpu.labels(stage=stage).inc(time.thread_time() - started)

    def observe_presearch(self, woken: int, matched: int) -> None:
        """Count one article's rules woken by the presearch and rules matched."""
        self.rules_woken.observe(woken)
        self.rules_matched.observe(matched)

    def count_story_placement(self, how: str) -> None:
        """Count one article placed in a story: "copy", "event" or "new" (which opens one)."""
        self.story_joins.labels(how=how).inc()
        if how == "new":
            self.stories.inc()

    def set_spike_state(self, rule_id: str, state: str) -> None:
        """Mirror a spike rule's last check ("surge" and "cooling" count as in a spike)."""
        self.rule_spike.labels(rule_id=rule_id).set(1 if state in ("surge", "cooling") else 0)

    def set_delivery_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Refresh the outbox gauges from the store's counts by (channel, status)."""
        self.deliveries.clear()
        for (channel, status), count in counts.items():
            self.deliveries.labels(channel=channel, status=status).set(count)

    def record_feed(self, feed_id: str, outcome: str | None, state: FeedState | None) -> None:
        """Count one poll's `outcome` (None: none happened) and mirror the feed's stored state,
        so the last-success times survive a restart."""
        if outcome is not None:
            self.feed_polls.labels(feed_id=feed_id, outcome=outcome).inc()
        if state is None:
            return
        self.feed_error_streak.labels(feed_id=feed_id).set(state.error_streak)
        if state.last_success_at is not None:
            success = state.last_success_at.timestamp()
            self.feed_last_success.labels(feed_id=feed_id).set(success)
            if success > self._newest_success_s:
                self._newest_success_s = success
                self.last_poll.set(success)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def _version() -> str:
    try:
        return metadata.version("monitor")
    except metadata.PackageNotFoundError:
        return "unknown"
