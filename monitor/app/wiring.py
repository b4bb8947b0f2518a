"""Build a ready `Pipeline` and its collaborators from a validated `Config`.

This is the composition root: the one place that chooses concrete stages
(httpx fetcher, spaCy annotator, Jinja2 renderer, channels, SQLite store).
It starts nothing and schedules nothing; the service does that.
"""

from __future__ import annotations

import random
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config import Config
from monitor.deliver import (
    ChannelContext,
    EndpointGone,
    Outbox,
    Renderer,
    RendererBySubscription,
    build_channels,
    display_url,
    mailing_list,
    target_problems,
)
from monitor.errors import ConfigError, RuleSetError
from monitor.ingest import Fetcher
from monitor.metrics import Metrics
from monitor.model import Delivery, RuleSet
from monitor.nlp import Annotator
from monitor.pipeline import ArticleAnnotator, Pipeline, Previewer
from monitor.rules import load_rules
from monitor.schedule import PollPolicy
from monitor.settings import WebSettings
from monitor.store import RulesSnapshot, Store, open_store, store_problem
from monitor.targets import WebhookTarget
from monitor.web import Pages, Site, WebServer, build_web_app, listen_problem


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
    fetcher: Fetcher | None = None,
) -> Parts:
    """Open the store and create every stage; the caller calls `Parts.close()` (which closes
    a `fetcher` passed in too)."""
    store = open_store(config.store.url, lease_s=config.store.lease_s)
    fetcher = fetcher or build_fetcher(config)
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
        stories=config.stories,
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


def build_web_server(
    config: Callable[[], Config],
    store: Store,
    rules: Callable[[], RuleSet],
    *,
    clock: Callable[[], datetime],
    listen: tuple[str, int] | None = None,
    health: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
    annotator: Callable[[], ArticleAnnotator] | None = None,
) -> WebServer:
    """The workspace on `listen` (default: `web.listen`) over `store`; not started yet.

    Raises ConfigError when the address needs a token that MONITOR_WEB_TOKEN does not give,
    or the templates in `templates/web/` are not usable. `config` and `rules` are read at
    each request, so the daemon's reloads show. `annotator` gives the rule preview its spaCy
    (the daemon's); without it, an in-process one is loaded on the first preview.
    """
    first = config()
    settings = first.web or WebSettings()
    if listen is not None:
        settings = replace(settings, host=listen[0], port=listen[1])
    problem = listen_problem(settings.host, settings.port, settings.token)
    if problem is not None:
        raise ConfigError(problem, path=str(first.path))
    site = Site(
        archive=store,
        rules=rules,
        feeds=lambda: config().feeds,
        subscriptions=lambda: config().subscriptions,
        settings=settings,
        templates_dir=first.templates_dir / "web",
        clock=clock,
        health=health,
        metrics=metrics,
        feedback=store,
        previewer=Previewer(
            archive=store,
            annotator=annotator or _lazy_annotator(first),
            rules=rules,
            feeds=lambda: config().feeds,
            zone=ZoneInfo(settings.timezone),
        ),
    )
    setting = "--listen" if listen is not None else "web.listen"
    return WebServer(build_web_app(site), host=settings.host, port=settings.port, setting=setting)


def _lazy_annotator(config: Config) -> Callable[[], ArticleAnnotator]:
    """An in-process annotator, loaded when first asked for (a preview), then kept."""
    loaded: list[Annotator] = []
    lock = threading.Lock()

    def annotator() -> ArticleAnnotator:
        with lock:
            if not loaded:
                # One process: `monitor web` has no worker pool to close.
                loaded.append(Annotator.from_settings(replace(config.nlp, workers=1)))
            return loaded[0]

    return annotator


def web_errors(config: Config) -> list[str]:
    """Why the daemon's web server would refuse to start: an address that needs a token
    MONITOR_WEB_TOKEN does not give, or unusable templates in `templates/web/`."""
    if config.web is None:
        return []
    problem = listen_problem(config.web.host, config.web.port, config.web.token)
    if problem is not None:
        return [f"{config.path}: {problem}"]
    return Pages(config.templates_dir / "web", config.web.language).problems()


def template_errors(config: Config) -> list[str]:
    """Every template that is missing or does not compile, as 'file:line: problem'."""
    return build_renderer(config).template_errors()


def store_errors(config: Config) -> list[str]:
    """Why the configured store cannot be used (unknown kind, server unreachable, login
    refused, database missing), as 'config.yaml:LINE: problem'; never its password."""
    problem = store_problem(config.store.url)
    if problem is None:
        return []
    line = config.line_of("store")
    return [f"{config.path}{f':{line}' if line else ''}: {problem}"]


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
        base_dir=config.base_dir,
        smtp=config.smtp,
        mailing_lists=tuple(mailing_list(subscription) for subscription in config.subscriptions),
        thread_timeout_s=config.delivery.send_timeout_s,
    )


# --- the rules to start with ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRules:
    """The rules a daemon starts with: the folder's, or the store's last good snapshot."""

    rules: RuleSet
    refused: RuleSetError | None = None  # set when `rules` is the snapshot: why rules/ was not
    snapshot_saved_at: datetime | None = None


def rules_for_start(config: Config) -> StartRules:
    """The rules folder's rules; when it does not validate, the last rule set that did (saved
    in the store by a daemon). Raises the folder's `RuleSetError` when there is no snapshot."""
    try:
        return StartRules(load_rules(config.rules_dir))
    except RuleSetError as exc:
        fallback = _snapshot_rules(config)
        if fallback is None:
            raise
        rules, snapshot = fallback
        return StartRules(rules, refused=exc, snapshot_saved_at=snapshot.saved_at)


def _snapshot_rules(config: Config) -> tuple[RuleSet, RulesSnapshot] | None:
    if config.store_path is not None and not config.store_path.is_file():
        return None
    store = open_store(config.store.url)
    try:
        snapshot = store.rules_snapshot()
    finally:
        store.close()
    if snapshot is None:
        return None
    with tempfile.TemporaryDirectory(prefix="monitor-rules-") as folder:
        for name, text in snapshot.files.items():
            # The name only: a stored path never writes outside the temporary folder.
            (Path(folder) / Path(name).name).write_text(text, encoding="utf-8")
        try:
            rules = load_rules(Path(folder))
        except RuleSetError:
            return None  # saved by another version of monitor that read rules differently
    # Point explanations at the files the user knows, not at the vanished temporary copy.
    real = str(config.rules_dir)
    return (
        RuleSet(
            rules=tuple(
                replace(rule, source=rule.source.replace(folder, real, 1)) for rule in rules.rules
            ),
            actors=tuple(
                replace(actor, source=actor.source.replace(folder, real, 1))
                for actor in rules.actors
            ),
        ),
        snapshot,
    )
