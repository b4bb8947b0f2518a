"""Deliver what is due: per subscription, compose the digest, render it, enqueue, flush.

Immediate alerts and scheduled digests alike go through the durable outbox: rows are
committed before any channel is called, and sending is awaited, so a slow channel holds
up only its caller, never the event loop. Reads matches from the store; never matches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from monitor.deliver import (
    FlushReport,
    Outbox,
    clause_words,
    compose_digest,
    delivery_id,
    payload_format,
    redact_channel,
    rule_ids_for,
)
from monitor.errors import MonitorError
from monitor.logs import log_event
from monitor.metrics import Metrics
from monitor.model import (
    Article,
    Delivery,
    Digest,
    DigestEntry,
    Feed,
    FeedState,
    Match,
    Message,
    Priority,
    RuleSet,
    StoryCoverage,
    Subscription,
)
from monitor.pipeline.follow_up import FollowUpStore, follow_ups_due, sending_coverage
from monitor.pipeline.spikes import SpikeStore, enqueue_spike_alerts, rule_trends
from monitor.rules import rule_clauses
from monitor.schedule import PollPolicy, health_report, is_digest_due, parse_schedule

_log = logging.getLogger("monitor.pipeline.deliver")


class DigestRenderer(Protocol):
    def render(self, digest: Digest, *, payload_format: str = "standard") -> Message: ...


class DigestStore(SpikeStore, FollowUpStore, Protocol):
    """What delivering reads and records: matches owed, digest runs, outbox rows, feed health."""

    def undelivered(
        self,
        subscription_id: str,
        rule_ids: Iterable[str],
        *,
        min_priority: Priority = ...,
        limit: int = ...,
        since: datetime | None = ...,
        recorded_from: int = ...,
    ) -> list[tuple[Article, list[Match]]]: ...

    def match_horizon(self) -> int:
        """The sequence number below which every match is committed."""
        ...

    def owed_cursor(self, subscription_id: str, kind: str) -> int:
        """Below which sequence number the subscription's `kind` of sending saw every match."""
        ...

    def set_owed_cursor(self, subscription_id: str, kind: str, seq: int) -> None: ...

    def matched_since(
        self, rule_ids: Iterable[str], since: datetime, *, limit: int = ...
    ) -> list[tuple[Article, list[Match]]]: ...

    def last_digest_at(self, subscription_id: str) -> datetime | None: ...

    def set_last_digest_at(self, subscription_id: str, at: datetime) -> None: ...

    def enqueue(
        self,
        deliveries: Sequence[Delivery],
        story_ids: Iterable[str],
        *,
        digest_run_at: datetime | None = ...,
        coverage: Sequence[StoryCoverage] = ...,
    ) -> None: ...

    def feed_states(self) -> list[FeedState]: ...

    def recent_published_by_feed(self, feed_ids: Iterable[str]) -> dict[str, list[datetime]]:
        """Each feed's newest publication times, newest first, in one read."""
        ...

    def coverage_gaps(self, since: datetime) -> list[tuple[str, datetime, datetime]]: ...

    def claim_subscription(self, subscription_id: str) -> bool:
        """Whether this daemon may compose for the subscription now (no other daemon is)."""
        ...

    def release_subscription(self, subscription_id: str) -> None: ...

    def claim_digest_slot(self, subscription_id: str, slot: datetime) -> bool:
        """Whether this daemon composes the subscription's digest due at `slot`."""
        ...

    def finish_digest_slot(self, subscription_id: str, slot: datetime) -> None: ...


@dataclass(slots=True)
class DeliverReport:
    enqueued: list[str] = field(default_factory=list)
    flushed: FlushReport = field(default_factory=FlushReport)


class Deliverer:
    """Turns stored matches into outbox rows per subscription and flushes the outbox."""

    def __init__(
        self,
        *,
        store: DigestStore,
        renderer: DigestRenderer,
        outbox: Outbox,
        feeds: Sequence[Feed],
        subscriptions: Sequence[Subscription],
        rules: RuleSet,
        metrics: Metrics,
        poll_policy: PollPolicy,
    ) -> None:
        self._store = store
        self._renderer = renderer
        self._outbox = outbox
        self.feeds = tuple(feeds)
        self.subscriptions = tuple(subscriptions)
        self.rules = rules
        self.metrics = metrics
        self._poll_policy = poll_policy
        # Set while a flush runs: it outlives `reconfigure`, which swaps the outbox.
        self._is_flushing = False

    def reconfigure(
        self,
        *,
        feeds: Sequence[Feed],
        subscriptions: Sequence[Subscription],
        renderer: DigestRenderer,
        outbox: Outbox,
    ) -> None:
        """Swap in a reloaded configuration's feeds, subscriptions, templates and channels."""
        self.feeds = tuple(feeds)
        self.subscriptions = tuple(subscriptions)
        self._renderer = renderer
        self._outbox = outbox

    async def deliver_due(self, now: datetime) -> DeliverReport:
        """Enqueue what each subscription is owed now, then flush the outbox."""
        with self.metrics.cpu("deliver"):
            report = self._enqueue_due(now)
        report.flushed = await self._flush(now)
        return report

    async def _flush(self, now: datetime) -> FlushReport:
        """Flush the outbox, unless a flush is already under way (it, or the next, sends
        what was just enqueued): two at once could send the same row twice."""
        if self._is_flushing:
            return FlushReport()
        self._is_flushing = True
        try:
            return await self._outbox.flush(now)
        finally:
            self._is_flushing = False

    def _enqueue_due(self, now: datetime) -> DeliverReport:
        report = DeliverReport()
        for subscription in self.subscriptions:
            try:
                # Several daemons on one store: one composes a subscription at a time, or
                # both would read the same stories as owed and send them twice.
                if not self._store.claim_subscription(subscription.id):
                    continue
                try:
                    report.enqueued += self._enqueue_for(subscription, now)
                finally:
                    self._store.release_subscription(subscription.id)
            except MonitorError as exc:
                log_event(
                    _log,
                    logging.ERROR,
                    "subscription.failed",
                    subscription_id=subscription.id,
                    error=str(exc),
                )
        return report

    def _enqueue_for(self, subscription: Subscription, now: datetime) -> list[str]:
        enqueued = enqueue_spike_alerts(self._store, self._renderer, subscription, self.rules, now)
        if subscription.immediate is not None:
            enqueued += self._enqueue_digest(
                subscription, "immediate", now, min_priority=subscription.immediate
            )
            enqueued += self._enqueue_follow_up_alert(subscription, now)
        if subscription.schedule is not None:
            cron = parse_schedule(subscription.schedule, subscription.timezone)
            last_run_at = self._store.last_digest_at(subscription.id)
            if last_run_at is None:
                self._store.set_last_digest_at(subscription.id, now)
            elif is_digest_due(cron, last_run_at, now):
                enqueued += self._enqueue_slot(subscription, cron.next_after(last_run_at), now)
        return enqueued

    def _enqueue_slot(self, subscription: Subscription, slot: datetime, now: datetime) -> list[str]:
        """The digest due at `slot`, composed once whichever daemons see it due."""
        if not self._store.claim_digest_slot(subscription.id, slot):
            return []
        enqueued = self._enqueue_digest(subscription, "digest", now)
        self._store.finish_digest_slot(subscription.id, slot)
        return enqueued

    def build_digest(
        self,
        subscription: Subscription,
        kind: str,
        now: datetime,
        *,
        min_priority: Priority = Priority.LOW,
        since: datetime | None = None,
        include_delivered: bool = False,
    ) -> Digest:
        """What `subscription` is owed now: stories it has not received (matched since
        `since`, when given, else since its cursor for `kind`, as its next sending reads
        them); with `include_delivered`, every story matched since `since`."""
        if include_delivered:
            found = self._store.matched_since(
                rule_ids_for(self.rules, subscription),
                since or now,
                limit=_found_limit(subscription),
            )
            return self._digest_of(subscription, kind, found, now, include_delivered=True)
        found, _ = self._owed(subscription, kind, min_priority=min_priority, since=since)
        return self._digest_of(subscription, kind, found, now)

    def _owed(
        self,
        subscription: Subscription,
        kind: str,
        *,
        min_priority: Priority,
        since: datetime | None,
    ) -> tuple[list[tuple[Article, list[Match]]], int]:
        """The stories owed (matched since `since`, else since the cursor for `kind`), and
        the cursor read from (0 with `since`: the whole window is read)."""
        recorded_from = self._store.owed_cursor(subscription.id, kind) if since is None else 0
        found = self._store.undelivered(
            subscription.id,
            rule_ids_for(self.rules, subscription),
            min_priority=min_priority,
            limit=_found_limit(subscription),
            since=since,
            recorded_from=recorded_from,
        )
        return found, recorded_from

    def _follow_ups(
        self, subscription: Subscription, now: datetime, *, min_priority: Priority | None = None
    ) -> list[DigestEntry]:
        return follow_ups_due(
            self._store,
            subscription,
            rule_ids_for(self.rules, subscription),
            self._feed_titles(),
            now,
            min_priority=min_priority,
        )

    def _digest_of(
        self,
        subscription: Subscription,
        kind: str,
        found: Sequence[tuple[Article, Sequence[Match]]],
        now: datetime,
        *,
        include_delivered: bool = False,
    ) -> Digest:
        developing: list[DigestEntry] = []
        if kind == "digest" and not include_delivered:
            # Follow-ups an alert did not send already wait for the digest.
            developing = self._follow_ups(subscription, now)
        digest = compose_digest(
            subscription,
            kind,
            found,
            feed_titles=self._feed_titles(),
            # Only digests show feed health (compose drops it from immediate alerts).
            feed_problems=self.feed_health(now) if kind == "digest" else (),
            rule_clauses=rule_clauses(
                self.rules,
                {match.rule_id for _, matches in found for match in matches},
                gettext=clause_words(subscription.language),
            ),
            now=now,
            developing=developing,
        )
        if kind != "digest":
            return digest
        shown = {match.rule_id for entry in digest.entries for match in entry.matches}
        trends = rule_trends(self._store, self.rules, shown, now, subscription.timezone)
        return replace(digest, trends=trends)

    def _feed_titles(self) -> dict[str, str]:
        return {feed.id: feed.title or feed.id for feed in self.feeds}

    def _enqueue_follow_up_alert(self, subscription: Subscription, now: datetime) -> list[str]:
        """One "story developing" alert for every story due a follow-up (none when the
        subscription's `follow_up` is off). With a digest too, a story no rule at the alert
        priority matched waits for the digest, as its first sending did."""
        developing = self._follow_ups(
            subscription,
            now,
            min_priority=subscription.immediate if subscription.schedule is not None else None,
        )
        if not developing:
            return []
        digest = compose_digest(
            subscription,
            "developing",
            (),
            feed_titles=self._feed_titles(),
            feed_problems=(),
            now=now,
            developing=developing,
        )
        return self._enqueue(subscription, digest, now)

    def feed_health(self, now: datetime) -> list[str]:
        """The feed-health lines for digests and `monitor status` (three reads in all)."""
        return health_report(
            self.feeds,
            self._store.feed_states(),
            dict(self._store.recent_published_by_feed(feed.id for feed in self.feeds)),
            self._store.coverage_gaps(since=now - timedelta(days=7)),
            now=now,
            policy=self._poll_policy,
        )

    async def send_digest_now(
        self, subscription: Subscription, now: datetime, *, since: datetime | None = None
    ) -> DeliverReport:
        """Enqueue and send `subscription`'s digest at once, off its schedule."""
        report = DeliverReport()
        report.enqueued = self._enqueue_digest(subscription, "digest", now, since=since)
        report.flushed = await self._flush(now)
        return report

    def _enqueue_digest(
        self,
        subscription: Subscription,
        kind: str,
        now: datetime,
        *,
        min_priority: Priority = Priority.LOW,
        since: datetime | None = None,
    ) -> list[str]:
        """Compose what `subscription` is owed and put it in the outbox.

        Without `since`, the owed matches are read from the subscription's cursor for this
        kind of sending, which then moves to where the matches stood before the read, once
        every story read went out: a pass costs the matches since the last one, not the
        archive. A story left over (more than `max_items`) keeps the cursor where it was.
        """
        horizon = self._store.match_horizon() if since is None else None
        found, recorded_from = self._owed(
            subscription, kind, min_priority=min_priority, since=since
        )
        digest = self._digest_of(subscription, kind, found, now)
        is_empty = not digest.entries and not digest.developing
        if is_empty and (kind == "immediate" or not subscription.send_empty):
            if kind == "digest":
                self._store.set_last_digest_at(subscription.id, now)
            enqueued = []
        else:
            enqueued = self._enqueue(subscription, digest, now)
        if (
            horizon is not None
            and horizon > recorded_from
            and _sends_all(subscription, found, digest)
        ):
            self._store.set_owed_cursor(subscription.id, kind, horizon)
        return enqueued

    def _enqueue(self, subscription: Subscription, digest: Digest, now: datetime) -> list[str]:
        """Render `digest` once per body format and commit one outbox row per channel, with
        the stories it carries and what each story's sending covered (for follow-ups)."""
        kind = digest.kind
        is_empty = not digest.entries and not digest.developing
        # One rendering per webhook body format the subscription's channels ask for.
        formats = {payload_format(channel) for channel in subscription.channels}
        messages = {fmt: self._renderer.render(digest, payload_format=fmt) for fmt in formats}
        keys = tuple(sorted(entry.article.key for entry in (*digest.entries, *digest.developing)))
        # A follow-up's lead is the article sent before: its outlets tell two follow-ups apart.
        id_parts = (
            *keys,
            *sorted(f"{e.article.key}+{','.join(e.also_in)}" for e in digest.developing),
        )
        deliveries = [
            Delivery(
                id=delivery_id(
                    subscription.id, kind, position, id_parts, now if is_empty else None
                ),
                subscription_id=subscription.id,
                # What the store keeps: no secret, apprise URLs redacted.
                channel=redact_channel(channel),
                message=messages[payload_format(channel)],
                article_keys=keys,
                created_at=now,
            )
            for position, channel in enumerate(subscription.channels)
        ]
        stories = {entry.article.story_id or entry.article.key for entry in digest.entries}
        coverage = sending_coverage(
            self._store,
            (*digest.entries, *digest.developing),
            rule_ids_for(self.rules, subscription),
        )
        self._store.enqueue(
            deliveries,
            stories,
            digest_run_at=now if kind == "digest" else None,
            coverage=coverage,
        )
        for delivery in deliveries:
            log_event(
                _log,
                logging.INFO,
                "delivery.enqueued",
                delivery_id=delivery.id,
                subscription_id=subscription.id,
                channel=delivery.channel.kind,
                kind=kind,
                articles=len(keys),
                developing=len(digest.developing),
            )
        return [delivery.id for delivery in deliveries]


def _found_limit(subscription: Subscription) -> int:
    """How many matched articles a pass reads: room for several copies of each story."""
    return subscription.max_items * 4


def _sends_all(
    subscription: Subscription,
    found: Sequence[tuple[Article, Sequence[Match]]],
    digest: Digest,
) -> bool:
    """Whether `digest` carries every story of `found`, and `found` is all that was owed (it
    did not stop at the read's limit)."""
    stories = {article.story_id or article.key for article, _ in found}
    return len(found) < _found_limit(subscription) and len(digest.entries) == len(stories)
