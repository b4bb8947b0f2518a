"""The pipeline: the one object the app drives, made of the three stage meetings.

`poll(feed)` runs ingest (fetch → parse → normalize → store) then analyse (nlp → match →
store); `deliver_due(now)` runs deliver (due → compose → render → outbox). Collaborators
are passed in; this module holds no clients of its own and reads no configuration file.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from monitor.deliver import Outbox
from monitor.match import CompiledRules
from monitor.metrics import Metrics
from monitor.model import Article, Feed, FeedState, RuleSet, Subscription
from monitor.pipeline.analyse import Analyser, AnalysisQueue, ArticleAnnotator
from monitor.pipeline.deliver import Deliverer, DeliverReport, DigestRenderer, DigestStore
from monitor.pipeline.ingest import FeedFetcher, FeedPoller, PollReport, PollStore
from monitor.pipeline.spikes import SpikeStore, SpikeWatch
from monitor.pipeline.stories import StoryStore
from monitor.schedule import PollPolicy, due_feeds
from monitor.settings import STORY_DEFAULTS, StorySettings


class PipelineStore(PollStore, AnalysisQueue, StoryStore, DigestStore, SpikeStore, Protocol):
    """Everything the three meetings need of the store (the SQLite `Store` is one)."""


class Pipeline:
    """Wires the stages together; every collaborator is given, none is created here."""

    def __init__(
        self,
        *,
        feeds: Sequence[Feed],
        subscriptions: Sequence[Subscription],
        fetcher: FeedFetcher,
        store: PipelineStore,
        annotator: ArticleAnnotator,
        rules: RuleSet,
        renderer: DigestRenderer,
        outbox: Outbox,
        max_entries: int = 200,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        poll_policy: PollPolicy | None = None,
        full_text_max_chars: int = 100_000,
        stories: StorySettings = STORY_DEFAULTS,
        strict: bool = False,
    ) -> None:
        self.feeds = tuple(feeds)
        self._store = store
        self.metrics = metrics or Metrics()
        policy = poll_policy or PollPolicy()
        self._poller = FeedPoller(
            fetcher=fetcher,
            store=store,
            metrics=self.metrics,
            max_entries=max_entries,
            poll_policy=policy,
            full_text_max_chars=full_text_max_chars,
            rng=rng or random.Random(),
        )
        self.analyser = Analyser(
            store=store,
            annotator=annotator,
            rules=rules,
            feeds=feeds,
            metrics=self.metrics,
            strict=strict,
            stories=store,
            story_settings=stories,
            spikes=SpikeWatch(store=store, metrics=self.metrics),
        )
        self.deliverer = Deliverer(
            store=store,
            renderer=renderer,
            outbox=outbox,
            feeds=feeds,
            subscriptions=subscriptions,
            rules=rules,
            metrics=self.metrics,
            poll_policy=policy,
        )

    @property
    def rules(self) -> RuleSet:
        return self.analyser.rules

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return self.deliverer.subscriptions

    def reconfigure(
        self,
        *,
        feeds: Sequence[Feed],
        subscriptions: Sequence[Subscription],
        renderer: DigestRenderer,
        outbox: Outbox,
        stories: StorySettings | None = None,
    ) -> None:
        """Swap in a reloaded configuration's feeds, subscriptions, templates, channels and
        story settings (None: keep them)."""
        self.feeds = tuple(feeds)
        self.analyser.feeds = self.feeds
        if stories is not None:
            self.analyser.story_settings = stories
        self.deliverer.reconfigure(
            feeds=feeds, subscriptions=subscriptions, renderer=renderer, outbox=outbox
        )

    def compile_rules(self, rules: RuleSet) -> CompiledRules:
        """`rules` compiled for `use_rules`, reusing what the running set compiled; safe in a
        worker thread."""
        return self.analyser.compile(rules)

    def use_rules(self, rules: RuleSet, compiled: CompiledRules | None = None) -> None:
        """Swap in a validated rule set (and its `compile_rules`, if compiled already); takes
        effect for articles matched from now on."""
        self.analyser.use_rules(rules, compiled)
        self.deliverer.rules = rules

    # --- ingest ------------------------------------------------------------------

    async def poll_due(self, now: datetime, *, force: bool = False) -> list[PollReport]:
        """Poll every feed that is due (all of them with `force`), concurrently."""
        states = {state.feed_id: state for state in self._store.feed_states()}
        due = self.feeds if force else due_feeds(self.feeds, states, now, in_flight=())
        return list(await asyncio.gather(*(self.poll(feed, now) for feed in due)))

    async def ingest_feed(
        self, feed: Feed, now: datetime, *, state: FeedState | None = None
    ) -> PollReport:
        """Poll one feed and store what it brought, unmatched. Never raises for a bad feed.

        `state` is the feed's stored state when the caller holds it (the dispatcher does).
        """
        return await self._poller.poll(feed, now, state=state)

    async def poll(self, feed: Feed, now: datetime) -> PollReport:
        """Poll one feed and match what it brought. Never raises for a bad feed."""
        report = await self.ingest_feed(feed, now)
        if report.status != "failed":
            await self.match_pending(now)
        return report

    async def ingest(self, articles: Sequence[Article], now: datetime) -> tuple[int, int]:
        """Store and match articles that did not come from a poll (replays, backfills).

        Returns how many were new and how many matches they made.
        """
        added = self._poller.add_articles(articles, now)
        return len(added), await self.match_pending(now)

    # --- analyse -----------------------------------------------------------------

    async def match_pending(self, now: datetime) -> int:
        """Annotate and match every stored article not matched yet; return the match count."""
        return await self.analyser.match_pending(now)

    # --- deliver -----------------------------------------------------------------

    async def deliver_due(self, now: datetime) -> DeliverReport:
        """Enqueue what each subscription is owed now, then flush the outbox."""
        return await self.deliverer.deliver_due(now)
