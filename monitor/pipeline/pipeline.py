"""The only place the stages meet.

`poll(feed)` runs fetch → parse → normalize → store → nlp → match → store, and
`deliver_due(now)` runs schedule → render → outbox. Collaborators are passed
in; this module holds no clients of its own and reads no configuration file.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from monitor.deliver import (
    FlushReport,
    Outbox,
    compose_digest,
    delivery_id,
    redact_channel,
    rule_ids_for,
)
from monitor.errors import MonitorError
from monitor.logs import log_event
from monitor.match import CompiledRules, compile_rules, evaluate
from monitor.metrics import Metrics
from monitor.model import (
    Annotations,
    Article,
    Delivery,
    Digest,
    Feed,
    FeedState,
    Message,
    Priority,
    RuleSet,
    Subscription,
)
from monitor.pipeline.ingest import FeedFetcher, FeedPoller, PollReport
from monitor.rules import rule_clauses
from monitor.schedule import (
    PollPolicy,
    health_report,
    is_digest_due,
    is_poll_due,
    parse_schedule,
)
from monitor.store import Store

# Articles analysed per round: small enough that one busy feed does not delay the others'
# alerts for long, large enough for spaCy's batching to pay off.
MATCH_BATCH = 64
_log = logging.getLogger("monitor.pipeline.pipeline")


class ArticleAnnotator(Protocol):
    # Entity recognition costs about half the analysis time: on only when a rule needs it.
    with_entities: bool

    def annotate(self, articles: Sequence[Article]) -> list[Annotations]: ...


class DigestRenderer(Protocol):
    def render(self, digest: Digest, *, payload_format: str = "standard") -> Message: ...


@dataclass(slots=True)
class DeliverReport:
    enqueued: list[str] = field(default_factory=list)
    flushed: FlushReport = field(default_factory=FlushReport)


class Pipeline:
    """Wires the stages together; every collaborator is given, none is created here."""

    def __init__(
        self,
        *,
        feeds: Sequence[Feed],
        subscriptions: Sequence[Subscription],
        fetcher: FeedFetcher,
        store: Store,
        annotator: ArticleAnnotator,
        rules: RuleSet,
        renderer: DigestRenderer,
        outbox: Outbox,
        max_entries: int = 200,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        poll_policy: PollPolicy | None = None,
        full_text_max_chars: int = 100_000,
    ) -> None:
        self.feeds = tuple(feeds)
        self.subscriptions = tuple(subscriptions)
        self._store = store
        self._annotator = annotator
        self._renderer = renderer
        self._outbox = outbox
        self._rng = rng or random.Random()
        self.metrics = metrics or Metrics()
        self._poll_policy = poll_policy or PollPolicy()
        self._poller = FeedPoller(
            fetcher=fetcher,
            store=store,
            metrics=self.metrics,
            max_entries=max_entries,
            poll_policy=self._poll_policy,
            full_text_max_chars=full_text_max_chars,
            rng=self._rng,
        )
        self._match_lock = asyncio.Lock()
        self.rules = rules
        self._compiled: CompiledRules = compile_rules(rules)
        self._annotator.with_entities = self._compiled.needs_entities

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

    def use_rules(self, rules: RuleSet) -> None:
        """Swap in a validated rule set; takes effect for articles matched from now on."""
        compiled = compile_rules(rules)
        self.rules, self._compiled = rules, compiled
        self._annotator.with_entities = compiled.needs_entities

    # --- ingest ------------------------------------------------------------------

    async def poll_due(self, now: datetime, *, force: bool = False) -> list[PollReport]:
        """Poll every feed that is due (all of them with `force`), concurrently."""
        states = {state.feed_id: state for state in self._store.feed_states()}
        due = [
            feed
            for feed in self.feeds
            if force or is_poll_due(_next_poll(states.get(feed.id)), now)
        ]
        return list(await asyncio.gather(*(self.poll(feed, now) for feed in due)))

    async def poll(self, feed: Feed, now: datetime) -> PollReport:
        """Poll one feed and match what it brought. Never raises for a bad feed."""
        report = await self._poller.poll(feed, now)
        if report.status != "failed":
            await self.match_pending(now)
        return report

    async def ingest(self, articles: Sequence[Article], now: datetime) -> tuple[int, int]:
        """Store and match articles that did not come from a poll (replays, backfills).

        Returns how many were new and how many matches they made.
        """
        added = self._store.add_articles(articles, now)
        self.metrics.articles.inc(len(added))
        return len(added), await self.match_pending(now)

    async def match_pending(self, now: datetime) -> int:
        """Annotate and match every stored article not matched yet; return the match count."""
        async with self._match_lock:
            total = 0
            tags = {feed.id: feed.tags for feed in self.feeds}
            while stored := self._store.unmatched_articles(limit=MATCH_BATCH):
                # Feed tags live in the config, not the store: a rule's `sources` may name them.
                articles = [replace(a, feed_tags=tags.get(a.feed_id, ())) for a in stored]
                # spaCy is CPU-bound: keep it off the event loop that polls feeds.
                notes = await asyncio.to_thread(self._annotate, articles)
                compiled = self._compiled
                with self.metrics.cpu("match"):
                    matches = [
                        match
                        for article, note in zip(articles, notes, strict=True)
                        for match in evaluate(article, note, compiled)
                    ]
                with self.metrics.cpu("store"):
                    self._store.save_matches([article.key for article in articles], matches, now)
                for match in matches:
                    self.metrics.matches.labels(rule_id=match.rule_id).inc()
                    log_event(
                        _log,
                        logging.INFO,
                        "article.matched",
                        rule_id=match.rule_id,
                        article_key=match.article_key,
                        score=match.score,
                    )
                total += len(matches)
            return total

    def _annotate(self, articles: Sequence[Article]) -> list[Annotations]:
        with self.metrics.cpu("nlp"):
            return self._annotator.annotate(articles)

    # --- delivery -------------------------------------------------------------------

    def deliver_due(self, now: datetime) -> DeliverReport:
        """Enqueue what each subscription is owed now, then flush the outbox."""
        with self.metrics.cpu("deliver"):
            return self._deliver_due(now)

    def _deliver_due(self, now: datetime) -> DeliverReport:
        report = DeliverReport()
        for subscription in self.subscriptions:
            try:
                report.enqueued += self._enqueue_for(subscription, now)
            except MonitorError as exc:
                log_event(
                    _log,
                    logging.ERROR,
                    "subscription.failed",
                    subscription_id=subscription.id,
                    error=str(exc),
                )
        report.flushed = self._outbox.flush(now)
        return report

    def _enqueue_for(self, subscription: Subscription, now: datetime) -> list[str]:
        enqueued: list[str] = []
        if subscription.immediate is not None:
            enqueued += self._enqueue_digest(
                subscription, "immediate", now, min_priority=subscription.immediate
            )
        if subscription.schedule is not None:
            cron = parse_schedule(subscription.schedule, subscription.timezone)
            last_run_at = self._store.last_digest_at(subscription.id)
            if last_run_at is None:
                self._store.set_last_digest_at(subscription.id, now)
            elif is_digest_due(cron, last_run_at, now):
                enqueued += self._enqueue_digest(subscription, "digest", now)
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
        `since`, when given); with `include_delivered`, every story matched since then."""
        rule_ids = rule_ids_for(self.rules, subscription)
        limit = subscription.max_items * 4
        if include_delivered:
            found = self._store.matched_since(rule_ids, since or now, limit=limit)
        else:
            found = self._store.undelivered(
                subscription.id, rule_ids, min_priority=min_priority, limit=limit, since=since
            )
        return compose_digest(
            subscription,
            kind,
            found,
            feed_titles={feed.id: feed.title or feed.id for feed in self.feeds},
            feed_problems=self.feed_health(now),
            rule_clauses=rule_clauses(
                self.rules, {match.rule_id for _, matches in found for match in matches}
            ),
            now=now,
        )

    def feed_health(self, now: datetime) -> list[str]:
        """The feed-health lines for digests and `monitor status`."""
        return health_report(
            self.feeds,
            self._store.feed_states(),
            {feed.id: self._store.recent_published(feed.id) for feed in self.feeds},
            self._store.coverage_gaps(since=now - timedelta(days=7)),
            now=now,
            policy=self._poll_policy,
        )

    def send_digest_now(
        self, subscription: Subscription, now: datetime, *, since: datetime | None = None
    ) -> DeliverReport:
        """Enqueue and send `subscription`'s digest at once, off its schedule."""
        report = DeliverReport()
        report.enqueued = self._enqueue_digest(subscription, "digest", now, since=since)
        report.flushed = self._outbox.flush(now)
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
        digest = self.build_digest(subscription, kind, now, min_priority=min_priority, since=since)
        is_empty = not digest.entries
        if is_empty and (kind == "immediate" or not subscription.send_empty):
            if kind == "digest":
                self._store.set_last_digest_at(subscription.id, now)
            return []
        # One rendering per webhook body format the subscription's channels ask for.
        formats = {channel.webhook_format for channel in subscription.channels}
        messages = {fmt: self._renderer.render(digest, payload_format=fmt) for fmt in formats}
        keys = tuple(sorted(entry.article.key for entry in digest.entries))
        deliveries = [
            Delivery(
                id=delivery_id(subscription.id, kind, position, keys, now if is_empty else None),
                subscription_id=subscription.id,
                # What the store keeps: no secret, apprise URLs redacted.
                channel=redact_channel(channel),
                message=messages[channel.webhook_format],
                article_keys=keys,
                created_at=now,
            )
            for position, channel in enumerate(subscription.channels)
        ]
        stories = {entry.article.story_id or entry.article.key for entry in digest.entries}
        self._store.enqueue(deliveries, stories, digest_run_at=now if kind == "digest" else None)
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
            )
        return [delivery.id for delivery in deliveries]


def _next_poll(state: FeedState | None) -> datetime | None:
    return state.next_poll_at if state else None
