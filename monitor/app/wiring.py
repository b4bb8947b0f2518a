"""Build a ready `Pipeline` and its collaborators from a validated `Config`.

This is the composition root: the one place that chooses concrete stages
(httpx fetcher, spaCy annotator, Jinja2 renderer, channels, SQLite store).
It starts nothing and schedules nothing; the service does that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from monitor.config import Config
from monitor.deliver import (
    ChannelContext,
    EndpointGone,
    Outbox,
    Renderer,
    RendererBySubscription,
    build_channels,
    display_url,
    target_problems,
)
from monitor.ingest import Fetcher
from monitor.metrics import Metrics
from monitor.model import Delivery, RuleSet
from monitor.nlp import Annotator
from monitor.pipeline import ArticleAnnotator, Pipeline
from monitor.schedule import PollPolicy
from monitor.store import Store
from monitor.targets import WebhookTarget


@dataclass(slots=True)
class Parts:
    """The pipeline and the collaborators whose lifetime the caller manages."""

    pipeline: Pipeline
    store: Store
    fetcher: Fetcher
    outbox: Outbox
    renderer: RendererBySubscription
    annotator: Annotator | None  # None when the caller passed its own

    async def close(self) -> None:
        """Release the HTTP client, the NLP workers and the database."""
        await self.fetcher.aclose()
        if self.annotator is not None:
            self.annotator.close()
        self.store.close()


def build_parts(
    config: Config,
    rules: RuleSet,
    *,
    annotator: ArticleAnnotator | None = None,
    rng: random.Random | None = None,
    metrics: Metrics | None = None,
) -> Parts:
    """Open the store and create every stage; the caller calls `Parts.close()`."""
    store = Store(config.store_path)
    fetcher = build_fetcher(config)
    outbox = build_outbox(config, store, rng=rng)
    renderer = build_renderer(config)
    owned = None
    if annotator is None:
        owned = annotator = build_annotator(config)
    pipeline = Pipeline(
        feeds=config.feeds,
        subscriptions=config.subscriptions,
        fetcher=fetcher,
        store=store,
        annotator=annotator,
        rules=rules,
        renderer=renderer,
        outbox=outbox,
        max_entries=config.fetch.max_entries,
        rng=rng,
        metrics=metrics,
        poll_policy=PollPolicy.from_settings(config.fetch),
    )
    return Parts(
        pipeline=pipeline,
        store=store,
        fetcher=fetcher,
        outbox=outbox,
        renderer=renderer,
        annotator=owned,
    )


def build_fetcher(config: Config) -> Fetcher:
    return Fetcher(config.fetch, base_dir=config.base_dir)


def build_annotator(config: Config) -> Annotator:
    return Annotator.from_settings(config.nlp)


def build_outbox(config: Config, store: Store, *, rng: random.Random | None = None) -> Outbox:
    """The outbox with one channel per kind, set up from `config`."""
    channels = build_channels(_channel_context(config))

    def remember_gone(delivery: Delivery, exc: EndpointGone) -> None:
        store.record_gone_endpoint(exc.url, display_url(exc.url), str(exc), delivery.created_at)

    webhook_urls = {
        channel.url
        for subscription in config.subscriptions
        for channel in subscription.channels
        if isinstance(channel, WebhookTarget)
    }
    return Outbox(
        store,
        channels,
        config.subscriptions,
        settings=config.delivery,
        rng=rng,
        on_endpoint_gone=remember_gone,
        disabled_webhook_urls=[url for url in webhook_urls if store.is_gone(url)],
    )


def build_renderer(config: Config) -> RendererBySubscription:
    """The configured templates, and each subscription's own where it names a folder."""
    default = Renderer(config.templates_dir)
    overrides = {
        subscription.id: Renderer(Path(subscription.templates), fallback_dir=config.templates_dir)
        for subscription in config.subscriptions
        if subscription.templates
    }
    return RendererBySubscription(default, overrides)


def template_errors(config: Config) -> list[str]:
    """Every template that is missing or does not compile, as 'file:line: problem'."""
    return build_renderer(config).template_errors()


def channel_errors(config: Config) -> list[str]:
    """Channel settings the channels themselves refuse (apprise URLs they cannot use, email
    without an smtp section), as 'config.yaml: subscription ID: problem'."""
    context = _channel_context(config)
    return [
        f"{config.path}: subscription '{subscription.id}': {problem}"
        for subscription in config.subscriptions
        for channel in subscription.channels
        for problem in target_problems(channel, context)
    ]


def _channel_context(config: Config) -> ChannelContext:
    return ChannelContext(
        base_dir=config.base_dir, smtp=config.smtp, thread_timeout_s=config.delivery.send_timeout_s
    )
