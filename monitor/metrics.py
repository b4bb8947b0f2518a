"""Prometheus metrics: what the daemon counts and how it is exposed.

prometheus-client stays inside this module. Each daemon gets its own registry
(no global state), so tests and several pipelines in one process never mix.
Per-feed labels are limited to gauges that a dashboard needs per feed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
        self.matches = Counter(
            "monitor_matches", "Rule matches by rule", ["rule_id"], registry=self.registry
        )
        self.analysis_failures = Counter(
            "monitor_analysis_failures",
            "Articles whose annotation or matching raised, by outcome (retry, quarantined)",
            ["outcome"],
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

    @contextmanager
    def cpu(self, stage: str) -> Iterator[None]:
        """Count the CPU time of the enclosed block, on the current thread, under `stage`."""
        started = time.thread_time()
        try:
            yield
        finally:
            self.stage_cpu.labels(stage=stage).inc(time.thread_time() - started)

    def set_delivery_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Refresh the outbox gauges from the store's counts by (channel, status)."""
        self.deliveries.clear()
        for (channel, status), count in counts.items():
            self.deliveries.labels(channel=channel, status=status).set(count)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
