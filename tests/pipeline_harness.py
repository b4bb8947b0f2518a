"""An in-process pipeline over `seeds/`: a fake fetcher, a real store, the real annotator and
rules, the real renderer and outbox, and a channel that records what it is given.

The fetcher is the only fake: it serves each feed's fixture body (or a scripted answer) so
that tests decide what the network says. Everything after the fetch is the daemon's code.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from monitor.app.wiring import build_renderer
from monitor.config import Config, load_config
from monitor.deliver import Outbox
from monitor.errors import FetchError
from monitor.model import Delivery, Feed, FeedState, FetchResult, RuleSet
from monitor.pipeline import Pipeline, PollReport
from monitor.rules import load_rules
from monitor.store import Store
from tests.conftest import ROOT
from tests.fixtures_nlp import shared_annotator

# A scripted answer: a FetchResult, a FetchError to raise, or None for "serve the fixture".
Answer = FetchResult | FetchError | None


@dataclass
class FakeFetcher:
    """Serves fixture files by feed URL; `script[url]` overrides the next answers in order."""

    base_dir: Path
    script: dict[str, list[Answer]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def fetch(self, feed: Feed, state: FeedState | None, now: datetime) -> FetchResult:
        self.calls.append(feed.url)
        queued = self.script.get(feed.url)
        answer = queued.pop(0) if queued else None
        if isinstance(answer, FetchError):
            raise answer
        if answer is not None:
            return replace(answer, feed_id=feed.id, fetched_at=now)
        return body_result(feed, (self.base_dir / feed.url).read_bytes(), now)

    async def fetch_page(self, url: str, now: datetime) -> FetchResult:
        raise FetchError("pages are not served by the fake fetcher", url=url)


def body_result(feed: Feed, body: bytes, now: datetime, **changes: object) -> FetchResult:
    """A 200 answer carrying `body`, as the real fetcher returns it."""
    result = FetchResult(
        feed_id=feed.id,
        url=feed.url,
        status=200,
        body=body,
        headers=(("content-type", "application/xml"),),
        fetched_at=now,
        etag=f'"{hashlib.sha256(body).hexdigest()[:16]}"',
    )
    return replace(result, **changes)  # type: ignore[arg-type]


@dataclass
class RecordingChannel:
    """A channel of one kind that keeps every delivery it is asked to send."""

    kind: str
    sent: list[Delivery] = field(default_factory=list)

    async def send(self, delivery: Delivery) -> None:
        self.sent.append(delivery)


class RecordingAnnotator:
    """The real annotator, noting whether each call asked for entities."""

    def __init__(self) -> None:
        self._real = shared_annotator()
        self.entity_flags: list[bool] = []
        self.poison: str | None = None  # a title word that makes annotation raise
        self.titles: list[str] = []  # every title it was asked to annotate

    def annotate(self, articles, *, with_entities):
        self.entity_flags.append(with_entities)
        self.titles.extend(article.title for article in articles)
        if self.poison and any(self.poison in article.title for article in articles):
            raise ValueError(f"the analysis cannot read {self.poison!r}")
        return self._real.annotate(articles, with_entities=with_entities)


@dataclass
class Harness:
    config: Config
    store: Store
    fetcher: FakeFetcher
    annotator: RecordingAnnotator
    channel: RecordingChannel
    pipeline: Pipeline

    def poll(self, now: datetime, *, force: bool = False) -> list[PollReport]:
        """Poll what is due (everything with `force`) and match it, as one daemon pass."""
        return asyncio.run(self.pipeline.poll_due(now, force=force))

    def match_pending(self, now: datetime) -> int:
        return asyncio.run(self.pipeline.match_pending(now))

    def deliver(self, now: datetime) -> None:
        """Enqueue and flush what is due."""
        outcome = self.pipeline.deliver_due(now)
        if inspect.isawaitable(outcome):
            asyncio.run(_awaited(outcome))

    def close(self) -> None:
        self.store.close()


async def _awaited(outcome: Awaitable[object]) -> object:
    return await outcome


def make_harness(
    tmp_path: Path,
    *,
    feeds: Callable[[tuple[Feed, ...]], tuple[Feed, ...]] | None = None,
    rules: RuleSet | None = None,
    store_url: str | None = None,
) -> Harness:
    """The shipped configuration and rules over the seed feeds, state in `tmp_path` (or in
    the store at `store_url`)."""
    config = load_config(ROOT / "config.yaml")
    if feeds is not None:
        config = replace(config, feeds=feeds(config.feeds))
    store = Store(store_url or tmp_path / "monitor.db")
    fetcher = FakeFetcher(ROOT)
    annotator = RecordingAnnotator()
    channel = RecordingChannel("folder")
    outbox = Outbox(store, {"folder": channel}, config.subscriptions)
    pipeline = Pipeline(
        feeds=config.feeds,
        subscriptions=config.subscriptions,
        fetcher=fetcher,
        store=store,
        annotator=annotator,
        rules=rules or load_rules(config.rules_dir),
        renderer=build_renderer(config),
        outbox=outbox,
    )
    return Harness(config, store, fetcher, annotator, channel, pipeline)
