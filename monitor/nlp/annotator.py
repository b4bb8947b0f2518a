"""The annotator: articles in, `Annotations` out, in this process or in a pool of workers.

The workers are forked from a fork server that imported spaCy and loaded the models before
any daemon thread existed (preload.py): they share the model's memory pages copy-on-write
instead of loading a copy each. It does not match rules and does no I/O of its own.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

from monitor.model import Annotations, Article
from monitor.nlp.engine import Engine
from monitor.settings import NlpSettings
from monitor.text import language_code

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Imported by the fork server before it forks any worker: it loads the models once.
PRELOAD_MODULE = "monitor.nlp.preload"


class Annotator:
    """Annotate articles with one spaCy pipeline per language, in-process or in a worker pool.

    Each call says whether the entity recognizer runs (the compiled rules know whether any
    rule needs entities). Call `close()` when done if `workers` > 1.
    """

    def __init__(
        self,
        *,
        max_chars: int = 20_000,
        batch_size: int = 8,
        default_language: str = "fr",
        workers: int = 1,
    ) -> None:
        self.max_chars = max_chars
        self.batch_size = batch_size
        self.default_language = language_code(default_language) or "fr"
        self.workers = max(1, workers)
        self._engine = Engine(max_chars, batch_size, self.default_language)
        self._pool: ProcessPoolExecutor | None = None
        # Guards starting and replacing the pool only: submissions from several threads
        # must interleave in the pool's queue, or no batch overlaps another.
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: NlpSettings) -> Annotator:
        """The annotator the `nlp:` section describes."""
        return cls(
            max_chars=settings.max_chars, batch_size=settings.batch_size, workers=settings.workers
        )

    def annotate(self, articles: Sequence[Article], *, with_entities: bool) -> list[Annotations]:
        """Annotate `articles` in batches; the result is in the same order.

        Entity recognition (about half the cost) runs only `with_entities`. Safe to call from
        several threads at once: their chunks share the pool's queue.
        """
        pool, notes = self._submit(articles, with_entities)
        try:
            return notes.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start fresh ones and try once more.
            self._replace_broken_pool(pool)
            return self._submit(articles, with_entities)[1].result()

    def submit(
        self, articles: Sequence[Article], *, with_entities: bool
    ) -> Future[list[Annotations]]:
        """Start annotating `articles`; the future holds what `annotate` would return.

        With workers the call returns at once and the chunks queue behind those submitted
        before, so the caller can use earlier results while the workers go on. In-process
        the work is done before the call returns. A dead worker fails the future with
        `BrokenProcessPool` (`annotate` retries once instead).
        """
        return self._submit(articles, with_entities)[1]

    def annotate_text(
        self, text: str, *, language: str = "fr", key: str = "text", with_entities: bool = True
    ) -> Annotations:
        """Annotate a bare text as one 'body' field (for `monitor test-rule --text`)."""
        language = language_code(language) or self.default_language
        article = text_article(text, language=language, key=key)
        return self.annotate([article], with_entities=with_entities)[0]

    def warm_up(self) -> None:
        """Load the default language's model now (in every worker), not on the first article."""
        if self.workers == 1:
            self._engine.pipeline(self.default_language)
            return
        with self._lock:
            # n tasks submitted at once start n workers, each loading the model in its initializer
            languages = [self.default_language] * self.workers
            list(self._started_pool().map(_load_in_worker, languages))

    def worker_pids(self) -> list[int]:
        """The process ids of the running workers (none in-process): for memory accounting."""
        with self._lock:
            # _processes is the executor's own table; it has no public accessor.
            processes = getattr(self._pool, "_processes", None) or {}
            return sorted(int(pid) for pid in processes)

    def close(self) -> None:
        """Stop the worker processes, if any."""
        with self._lock:
            self._close_pool()

    def __enter__(self) -> Annotator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _started_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Not a plain fork: the daemon has threads (asyncio, APScheduler) that fork would
            # copy mid-flight. The fork server is a fresh process without them; it loads the
            # models once (PRELOAD_MODULE) and every worker forked from it shares those pages.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([PRELOAD_MODULE])
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self.max_chars, self.batch_size, self.default_language),
            )
        return self._pool

    def _submit(
        self, articles: Sequence[Article], with_entities: bool
    ) -> tuple[ProcessPoolExecutor | None, Future[list[Annotations]]]:
        """The pool used (None in-process) and the future of the annotations."""
        if self.workers == 1 or not articles:
            done: Future[list[Annotations]] = Future()
            try:
                done.set_result(self._engine.annotate(articles, with_entities) if articles else [])
            except Exception as exc:
                done.set_exception(exc)
            return None, done
        with self._lock:
            pool = self._started_pool()
            # About four chunks per worker keep them all busy to the end even when one gets
            # the longer articles; a chunk of up to two batches still amortises the round trip.
            size = max(1, min(-(-len(articles) // (4 * self.workers)), 2 * self.batch_size))
            chunks = [
                list(articles[start : start + size]) for start in range(0, len(articles), size)
            ]
            try:
                parts = [pool.submit(_annotate_in_worker, chunk, with_entities) for chunk in chunks]
            except BrokenProcessPool as exc:
                failed: Future[list[Annotations]] = Future()
                failed.set_exception(exc)
                return pool, failed
        return pool, _joined(parts)

    def _replace_broken_pool(self, broken: ProcessPoolExecutor | None) -> None:
        with self._lock:
            # Several threads may meet the same dead pool: the first one replaces it.
            if broken is not None and self._pool is broken:
                self._close_pool()

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def text_article(text: str, *, language: str = "fr", key: str = "text") -> Article:
    """A bare text as an article with only a body, from no feed (for `monitor test-rule`)."""
    return Article(
        key=key,
        feed_id="",
        url=None,
        guid=None,
        title="",
        summary="",
        body=text,
        published_at=_EPOCH,
        fetched_at=_EPOCH,
        language=language,
        content_hash="",
    )


# --- the work, in whichever process runs it ------------------------------------------------


_WORKER_ENGINE: Engine | None = None


def _start_worker(max_chars: int, batch_size: int, default_language: str) -> None:
    global _WORKER_ENGINE  # one engine per worker process, built once by the pool initializer
    _WORKER_ENGINE = Engine(max_chars, batch_size, default_language)
    _WORKER_ENGINE.pipeline(default_language)


def _joined(parts: list[Future[list[Annotations]]]) -> Future[list[Annotations]]:
    """One future for the chunks' results in order; it fails as soon as one chunk fails."""
    joined: Future[list[Annotations]] = Future()
    lock = threading.Lock()

    def on_done(part: Future[list[Annotations]]) -> None:
        with lock:
            if joined.done():
                return
            error = CancelledError() if part.cancelled() else part.exception()
            if error is not None:
                joined.set_exception(error)
            elif all(one.done() for one in parts):
                joined.set_result([notes for one in parts for notes in one.result()])

    for part in parts:
        part.add_done_callback(on_done)
    return joined


def _annotate_in_worker(articles: list[Article], with_entities: bool) -> list[Annotations]:
    assert _WORKER_ENGINE is not None, "the pool initializer builds the engine"
    return _WORKER_ENGINE.annotate(articles, with_entities)


def _load_in_worker(language: str) -> bool:
    assert _WORKER_ENGINE is not None, "the pool initializer builds the engine"
    return bool(_WORKER_ENGINE.pipeline(language))
