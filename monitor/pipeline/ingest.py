"""Poll one feed: fetch → parse → normalize → (full text) → store, and keep its state.

The feed's state (validators, rhythm, backoff, moves, coverage gaps) is updated
here after every poll, successful or not. Only entries the store does not know by key are
normalised; new articles join the story of a near-duplicate (the pure band scheme of
`monitor.ingest`), stored by one writer thread off the event loop, and are left unmatched
for the analyser.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from monitor.errors import FetchError, ParseError
from monitor.ingest import (
    STORY_WINDOW,
    NearDuplicates,
    Skim,
    entry_keys,
    extract_full_text,
    normalize_new_entries,
    skim_feed,
)
from monitor.logs import log_event
from monitor.metrics import Metrics
from monitor.model import Article, Feed, FeedState, FetchResult, ParsedFeed
from monitor.schedule import (
    PollPolicy,
    coverage_gap,
    moved_url,
    state_after_failure,
    state_after_success,
)
from monitor.store import StoryLinker
from monitor.urls import without_credentials

_log = logging.getLogger("monitor.pipeline.ingest")
_NEAR_DUPLICATES = NearDuplicates()
_T = TypeVar("_T")


class FeedStateStore(Protocol):
    """What polling needs to remember about each feed."""

    def feed_state(self, feed_id: str) -> FeedState | None: ...

    def save_feed_state(self, state: FeedState) -> None: ...

    def recent_published(self, feed_id: str) -> Sequence[datetime]: ...

    def record_coverage_gap(
        self, feed_id: str, gap: tuple[datetime, datetime], now: datetime
    ) -> None: ...


class ArticleSink(Protocol):
    """Where new articles go: dedupe on arrival, near-duplicates linked into stories."""

    def known_keys(self, keys: Iterable[str]) -> set[str]: ...

    def add_articles(
        self,
        articles: Iterable[Article],
        now: datetime,
        *,
        linker: StoryLinker,
        story_since: datetime,
    ) -> list[Article]: ...


class PollStore(FeedStateStore, ArticleSink, Protocol):
    """Both: the store a poller is given."""


class FeedFetcher(Protocol):
    async def fetch(self, feed: Feed, state: FeedState | None, now: datetime) -> FetchResult: ...

    async def fetch_page(self, url: str, now: datetime) -> FetchResult: ...


@dataclass(frozen=True, slots=True)
class PollReport:
    feed_id: str
    status: str  # "new" | "unchanged" | "failed" | "skipped"
    new_articles: int = 0
    error: str | None = None
    entries: int = 0
    state: FeedState | None = None  # the feed's state as this poll stored it


class FeedPoller:
    """Polls feeds through one fetcher into one store."""

    def __init__(
        self,
        *,
        fetcher: FeedFetcher,
        store: PollStore,
        metrics: Metrics,
        max_entries: int = 200,
        poll_policy: PollPolicy | None = None,
        full_text_max_chars: int = 100_000,
        rng: random.Random | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._store = store
        self.metrics = metrics
        self._max_entries = max_entries
        self._poll_policy = poll_policy or PollPolicy()
        self._full_text_max_chars = full_text_max_chars
        self._rng = rng or random.Random()
        # One thread: articles are stored in the order polls hand them over, each batch in
        # one transaction, and the event loop goes on polling meanwhile (an insert runs the
        # archive's full-text triggers and waits for its commit to reach the disk).
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="monitor-store")

    async def poll(
        self, feed: Feed, now: datetime, *, state: FeedState | None = None
    ) -> PollReport:
        """Fetch one feed and keep its new articles (unmatched). Never raises for a bad feed.

        `state` is the feed's stored state when the caller holds it; without it, it is read.
        """
        if state is None:
            state = self._store.feed_state(feed.id) or FeedState(feed_id=feed.id)
        # Follow a recorded permanent redirect, unless the operator changed the URL since.
        moved_to = moved_url(feed, state)
        target = replace(feed, url=moved_to) if moved_to else feed
        started = time.perf_counter()
        try:
            try:
                result = await self._fetcher.fetch(target, state, now)
            finally:
                self.metrics.fetch_seconds.observe(time.perf_counter() - started)
            body_sha256 = hashlib.sha256(result.body).hexdigest() if result.is_modified else None
            unchanged = not result.is_modified or body_sha256 == state.body_sha256
            with self.metrics.cpu("parse"):
                skim = None if unchanged else skim_feed(result)
            parsed, articles, entries = await self._new_articles(skim, feed, now)
        except (FetchError, ParseError) as exc:
            return self._record_failure(feed, state, exc, now)
        if feed.full_text and articles:
            articles = await self._with_full_text(articles, now)
        added = await self.store_articles(articles, now) if articles else []
        if parsed is not None and state.error_streak > 0:
            self._note_coverage_gap(feed, state, parsed, now)
        saved = self._save_success(feed, state, result, parsed, body_sha256, now)
        log_event(
            _log,
            logging.INFO,
            "feed.polled",
            feed_id=feed.id,
            status=result.status,
            outcome="unchanged" if unchanged else "changed",
            entries=entries,
            new_articles=len(added),
        )
        self.metrics.polls.labels(outcome="unchanged" if unchanged else "changed").inc()
        self.metrics.feed_error_streak.labels(feed_id=feed.id).set(0)
        self.metrics.last_poll.set(now.timestamp())
        return PollReport(
            feed.id,
            "unchanged" if unchanged else "new",
            new_articles=len(added),
            entries=entries,
            state=saved,
        )

    async def _new_articles(
        self, skim: Skim | None, feed: Feed, now: datetime
    ) -> tuple[ParsedFeed | None, list[Article], int]:
        """The feed parsed but for the entries the store knows by key; the others normalised;
        and how many entries the feed holds."""
        if skim is None:
            return None, [], 0
        keys = entry_keys(skim.entries, feed)
        wanted = [key for key in keys if key is not None]
        known = await self._in_writer(self._store.known_keys, wanted) if wanted else set()
        with self.metrics.cpu("parse"):
            # Only the entries the store does not know are parsed whole.
            parsed = skim.parse({index for index, key in enumerate(keys) if key in known})
            articles, entries = normalize_new_entries(
                parsed, feed, now, known_keys=known, max_entries=self._max_entries
            )
        return parsed, articles, entries

    async def store_articles(self, articles: Sequence[Article], now: datetime) -> list[Article]:
        """`add_articles` in the writer thread, off the event loop."""
        return await self._in_writer(self.add_articles, articles, now)

    async def _in_writer(self, work: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work, *args)

    def add_articles(self, articles: Sequence[Article], now: datetime) -> list[Article]:
        """Store the articles not seen before, each in its story; return those stored."""
        with self.metrics.cpu("store"):
            added = self._store.add_articles(
                articles, now, linker=_NEAR_DUPLICATES, story_since=now - STORY_WINDOW
            )
        self.metrics.articles.inc(len(added))
        return added

    def _save_success(
        self,
        feed: Feed,
        state: FeedState,
        result: FetchResult,
        parsed: ParsedFeed | None,
        body_sha256: str | None,
        now: datetime,
    ) -> FeedState:
        moved_to = result.redirected_permanently_to
        if moved_to and without_credentials(moved_to) != state.moved_to:
            log_event(
                _log,
                logging.WARNING,
                "feed.moved",
                feed_id=feed.id,
                feed_url=feed.url,
                moved_to=moved_to,
                hint="update the url in the config",
            )
        saved = state_after_success(
            state,
            feed,
            result,
            now=now,
            body_sha256=body_sha256,
            ttl_s=parsed.ttl_s if parsed else None,
            recent_published=self._store.recent_published(feed.id),
            policy=self._poll_policy,
            rng=self._rng,
        )
        self._store.save_feed_state(saved)
        return saved

    def _note_coverage_gap(
        self, feed: Feed, state: FeedState, parsed: ParsedFeed, now: datetime
    ) -> None:
        dated = [entry.published_at for entry in parsed.entries if entry.published_at]
        gap = coverage_gap(state.last_success_at, min(dated, default=None), recovered=True)
        if gap is not None:
            self._store.record_coverage_gap(feed.id, gap, now)
            log_event(
                _log,
                logging.WARNING,
                "feed.coverage_gap",
                feed_id=feed.id,
                gap_from=gap[0].isoformat(),
                gap_to=gap[1].isoformat(),
            )

    async def _with_full_text(self, articles: list[Article], now: datetime) -> list[Article]:
        """Articles whose feed carries only a summary get their page's main text as body."""
        known = self._store.known_keys(article.key for article in articles)
        completed: list[Article] = []
        for article in articles:
            if article.key not in known and not article.body and article.url:
                text = await extract_full_text(
                    self._fetcher, article.url, now, max_chars=self._full_text_max_chars
                )
                if text:
                    article = replace(article, body=text)
            completed.append(article)
        return completed

    def _record_failure(
        self, feed: Feed, state: FeedState, exc: FetchError | ParseError, now: datetime
    ) -> PollReport:
        is_fetch_error = isinstance(exc, FetchError)
        failed = state_after_failure(
            state,
            feed,
            error=str(exc),
            retry_after_s=exc.retry_after_s if isinstance(exc, FetchError) else None,
            is_permanent=is_fetch_error and getattr(exc, "is_permanent", False),
            now=now,
            policy=self._poll_policy,
            rng=self._rng,
        )
        self._store.save_feed_state(failed)
        log_event(
            _log,
            logging.WARNING,
            "feed.failed",
            feed_id=feed.id,
            error=str(exc),
            error_streak=failed.error_streak,
            next_poll_at=failed.next_poll_at.isoformat() if failed.next_poll_at else None,
        )
        self.metrics.polls.labels(outcome="failed").inc()
        self.metrics.feed_error_streak.labels(feed_id=feed.id).set(failed.error_streak)
        return PollReport(feed.id, "failed", error=str(exc), state=failed)
