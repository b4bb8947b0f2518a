"""Analyse stored articles: pending queue → nlp → match → store the matches.

Annotation runs in threads that feed the NLP workers, matching and the analysis's store
writes in one thread of their own, so the event loop that polls feeds and answers /healthz
never waits on either. With a pool of workers, the next batches are annotated while one is
matched. Stores matches before anything is sent; an article whose analysis keeps raising is
quarantined so the queue goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from monitor.logs import log_crash, log_event
from monitor.match import (
    SAMPLE_ARTICLES,
    CompiledRules,
    EntityGate,
    compile_rules,
    entity_gate,
    evaluate,
    term_frequencies,
)
from monitor.metrics import Metrics
from monitor.model import Annotations, Article, Feed, Match, RuleSet
from monitor.pipeline.spikes import SpikeWatch
from monitor.pipeline.stories import StoryStore, place_in_stories
from monitor.settings import STORY_DEFAULTS, StorySettings

# Articles analysed per round: small enough that one busy feed does not delay the others'
# alerts for long, large enough for spaCy's batching to pay off.
MATCH_BATCH = 64
# Failed analyses after which an article is taken out of the queue for good: enough to
# ride out a worker restart, few enough that a poison article costs little.
MAX_ANALYSIS_ATTEMPTS = 3
# Articles whose matches are stored in one transaction (a batch's matches took 0.4 s to
# store at 1,000 rules, holding the store's lock that long).
SAVE_CHUNK = 8
_log = logging.getLogger("monitor.pipeline.analyse")
_T = TypeVar("_T")


class ArticleAnnotator(Protocol):
    # Entity recognition costs about half the analysis time: on only when a rule needs it.
    def annotate(
        self, articles: Sequence[Article], *, with_entities: bool
    ) -> list[Annotations]: ...


class AnalysisQueue(Protocol):
    """The store as the analyser sees it: articles waiting, their matches, their failures."""

    def unmatched_articles(self, limit: int = ...) -> list[Article]: ...

    def recent_article_texts(self, limit: int) -> list[str]:
        """What the presearch counts word frequencies on: the newest articles' texts."""
        ...

    def save_matches(
        self, article_keys: Sequence[str], matches: Sequence[Match], now: datetime
    ) -> None: ...

    def record_analysis_failure(self, key: str, error: str) -> int:
        """Count a failed attempt on the article; return its attempts so far."""
        ...

    def quarantine(self, key: str, now: datetime) -> None:
        """Never offer the article for analysis again."""
        ...


@dataclass(frozen=True, slots=True)
class _Batch:
    """Articles on their way through the analysis, with the rules they are analysed by."""

    articles: tuple[Article, ...]
    compiled: CompiledRules
    gate: EntityGate
    notes: asyncio.Future[list[Annotations]]

    @property
    def keys(self) -> list[str]:
        return [article.key for article in self.articles]


class Analyser:
    """Annotates and matches what the store holds unmatched, batch by batch, off the loop.

    With an annotator that has worker processes (`workers` > 1), up to `workers` batches
    are being annotated while the oldest annotated one is matched; batches are matched and
    stored in the order they were read.
    """

    def __init__(
        self,
        *,
        store: AnalysisQueue,
        annotator: ArticleAnnotator,
        rules: RuleSet,
        feeds: Sequence[Feed],
        metrics: Metrics,
        strict: bool = False,
        stories: StoryStore | None = None,
        story_settings: StorySettings = STORY_DEFAULTS,
        spikes: SpikeWatch | None = None,
    ) -> None:
        self._store = store
        # None: articles keep the story the near-duplicate index gave them at ingest.
        self._stories = stories
        # Read at each batch: a reloaded configuration's `stories:` applies from the next one.
        self.story_settings = story_settings
        self._spikes = spikes
        self._annotator = annotator
        # Tests run strict: an analysis error is raised, not retried and quarantined.
        self._strict = strict
        self.metrics = metrics
        self.feeds = tuple(feeds)
        self._match_lock = asyncio.Lock()
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.rules = rules
        frequencies = term_frequencies(store.recent_article_texts(SAMPLE_ARTICLES))
        self._compiled: CompiledRules = compile_rules(
            rules, frequencies=frequencies, observer=metrics
        )
        self._gate: EntityGate = entity_gate(rules)
        # In-process annotation has no second process to overlap with: one batch at a time.
        workers = getattr(annotator, "workers", 1)
        self.in_flight = workers if isinstance(workers, int) and workers > 1 else 1
        # Each annotating thread mostly waits for the workers' answer.
        self._nlp_threads = ThreadPoolExecutor(self.in_flight, thread_name_prefix="monitor-nlp")
        # One thread: batches are matched and stored in order, never two at once.
        self._match_thread = ThreadPoolExecutor(1, thread_name_prefix="monitor-match")

    def compile(self, rules: RuleSet) -> CompiledRules:
        """`rules` compiled against the running set, keeping its word counts and the plans of
        the rules that did not change; safe in a worker thread (it only reads the running set)."""
        return compile_rules(rules, previous=self._compiled)

    def use_rules(self, rules: RuleSet, compiled: CompiledRules | None = None) -> None:
        """Swap in a validated rule set (`compiled` from it by `compile`, if already compiled
        off the event loop); batches read from the store from now on use it."""
        if compiled is None:
            compiled = self.compile(rules)
        gate = entity_gate(rules)
        self.rules, self._compiled, self._gate = rules, compiled, gate

    async def match_pending(self, now: datetime) -> int:
        """Annotate and match every stored article not matched yet; return the match count.

        A batch that raises is retried one article at a time, so a poison article costs
        only itself an attempt, at most one per round (see `_charge`).
        """
        async with self._round_lock():
            total = 0
            failed: set[str] = set()
            batches: deque[_Batch] = deque()
            try:
                await self._start_batches(batches, failed)
                while batches:
                    batch = batches.popleft()
                    analysed, matches = await self._finish(batch, batches, failed, now)
                    if not analysed:
                        # Nothing in the batch went through: more likely the annotator than
                        # the articles. Stop the round rather than charge the whole queue.
                        break
                    await self._in_match_thread(self._save, analysed, matches, now)
                    total += len(matches)
                    await self._start_batches(batches, failed)
            finally:
                for left in batches:
                    # Abandoned (strict raise, a stopped round): their articles stay pending.
                    left.notes.add_done_callback(_ignore_outcome)
            return total

    def _round_lock(self) -> asyncio.Lock:
        """The lock that keeps rounds one at a time, for the running loop.

        An asyncio lock belongs to the loop it first waited on, and the CLI and the tests run
        one analyser under several `asyncio.run` calls in turn.
        """
        loop = asyncio.get_running_loop()
        if self._lock_loop is not loop:
            self._match_lock, self._lock_loop = asyncio.Lock(), loop
        return self._match_lock

    async def _finish(
        self, batch: _Batch, batches: deque[_Batch], failed: set[str], now: datetime
    ) -> tuple[list[Article], list[Match]]:
        """Await the batch's annotations and match them: the articles that went through."""
        try:
            notes = await batch.notes
        except Exception as exc:
            return await self._recover(batch, exc, failed, now)
        if self.in_flight > 1:
            # Its annotation is done: the workers take the next batches while it is matched.
            # In-process there is no one to take them: spaCy would only slow the matcher.
            await self._start_batches(batches, failed, batch)
        try:
            return list(batch.articles), await self._in_match_thread(
                self._evaluate, batch, notes, now
            )
        except Exception as exc:
            return await self._recover(batch, exc, failed, now)

    async def _recover(
        self, batch: _Batch, exc: Exception, failed: set[str], now: datetime
    ) -> tuple[list[Article], list[Match]]:
        """Analyse a batch that raised `exc` again, article by article (raise it when strict)."""
        if self._strict:
            raise exc
        analysed, matches = await self._after_failure(batch, exc, now)
        kept = {article.key for article in analysed}
        failed.update(key for key in batch.keys if key not in kept)
        return analysed, matches

    async def _start_batches(
        self, batches: deque[_Batch], failed: set[str], current: _Batch | None = None
    ) -> None:
        """Read pending articles and start annotating them, up to `in_flight` batches queued."""
        wanted = self.in_flight - len(batches)
        if wanted <= 0:
            return
        under_way = [*batches, current] if current is not None else batches
        taken = failed.union(key for batch in under_way for key in batch.keys)
        pending = await self._in_match_thread(self._next_articles, taken, wanted * MATCH_BATCH)
        # Feed tags live in the config, not the store: a rule's `sources` may name them.
        tags = {feed.id: feed.tags for feed in self.feeds}
        articles = [replace(a, feed_tags=tags.get(a.feed_id, ())) for a in pending]
        loop = asyncio.get_running_loop()
        for start in range(0, len(articles), MATCH_BATCH):
            chosen = tuple(articles[start : start + MATCH_BATCH])
            # One rule set for the whole batch: a reload mid-batch must not match with rules
            # whose entity needs the annotation did not serve.
            compiled, gate = self._compiled, self._gate
            notes = loop.run_in_executor(self._nlp_threads, self._annotate, chosen, gate)
            batches.append(_Batch(chosen, compiled, gate, notes))

    def _next_articles(self, taken: set[str], count: int) -> list[Article]:
        """The oldest pending articles, without those failed this round or under way."""
        pending = self._store.unmatched_articles(limit=count + len(taken))
        return [article for article in pending if article.key not in taken][:count]

    async def _in_match_thread(self, work: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._match_thread, work, *args)

    def _evaluate(self, batch: _Batch, notes: Sequence[Annotations], now: datetime) -> list[Match]:
        if self._stories is not None:
            # Before the matches are stored: deliveries go by story, one alert per event.
            with self.metrics.cpu("stories"):
                place_in_stories(
                    self._stories, batch.articles, notes, now, self.story_settings, self.metrics
                )
        with self.metrics.cpu("match"):
            return [
                match
                for article, note in zip(batch.articles, notes, strict=True)
                for match in evaluate(article, note, batch.compiled)
            ]

    def _save(self, analysed: Sequence[Article], matches: Sequence[Match], now: datetime) -> None:
        """Store the matches and mark their articles matched, a few articles per transaction.

        Each transaction holds the store's one lock, which the loop needs too (a poll's
        writes, the /healthz write probe): short ones keep it from waiting behind a batch.
        """
        by_article: dict[str, list[Match]] = {article.key: [] for article in analysed}
        for match in matches:
            by_article[match.article_key].append(match)
        keys = list(by_article)
        for start in range(0, len(keys), SAVE_CHUNK):
            chunk = keys[start : start + SAVE_CHUNK]
            found = [match for key in chunk for match in by_article[key]]
            with self.metrics.cpu("store"):
                self._store.save_matches(chunk, found, now)
            self.metrics.articles_matched.inc(len(chunk))
            self._count(found)
        if self._spikes is not None:
            # Once per batch, after its matches are stored: one read for all its spike rules.
            with self.metrics.cpu("spikes"):
                self._spikes.check(self.rules, analysed, matches, now)

    async def _after_failure(
        self, batch: _Batch, exc: Exception, now: datetime
    ) -> tuple[list[Article], list[Match]]:
        """What analyses of a batch that raised `exc`: each article alone, or charge the one."""
        if len(batch.articles) == 1:
            await self._charge(batch.articles[0], _error_text(exc), now)
            return [], []
        log_crash(_log, "analysis.batch_failed", articles=len(batch.articles), retry="one by one")
        return await self._analyse_one_by_one(batch, now)

    async def _analyse_one_by_one(
        self, batch: _Batch, now: datetime
    ) -> tuple[list[Article], list[Match]]:
        """The articles that analyse alone and their matches; each failure costs its article
        an attempt, and MAX_ANALYSIS_ATTEMPTS of them quarantine it."""
        loop = asyncio.get_running_loop()
        analysed: list[Article] = []
        matches: list[Match] = []
        for article in batch.articles:
            try:
                notes = await loop.run_in_executor(
                    self._nlp_threads, self._annotate, (article,), batch.gate
                )
                alone = replace(batch, articles=(article,))
                matches += await self._in_match_thread(self._evaluate, alone, notes, now)
            except Exception as exc:
                await self._charge(article, _error_text(exc), now)
            else:
                analysed.append(article)
        return analysed, matches

    async def _charge(self, article: Article, error: str, now: datetime) -> None:
        """Count the failure on the article, quarantine it at the limit; log the traceback.

        Called from an `except` block: `log_crash` picks up the exception in flight.
        """
        attempts = await self._in_match_thread(self._record_failure, article, error, now)
        is_quarantined = attempts >= MAX_ANALYSIS_ATTEMPTS
        outcome = "quarantined" if is_quarantined else "retry"
        self.metrics.analysis_failures.labels(outcome=outcome).inc()
        log_crash(
            _log,
            "article.analysis_failed",
            article_key=article.key,
            feed_id=article.feed_id,
            attempts=attempts,
            outcome=outcome,
        )

    def _record_failure(self, article: Article, error: str, now: datetime) -> int:
        attempts = self._store.record_analysis_failure(article.key, error)
        if attempts >= MAX_ANALYSIS_ATTEMPTS:
            self._store.quarantine(article.key, now)
        return attempts

    def _count(self, matches: Sequence[Match]) -> None:
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

    def _annotate(self, articles: Sequence[Article], gate: EntityGate) -> list[Annotations]:
        with self.metrics.cpu("nlp"):
            notes, counts = annotate_gated(self._annotator, articles, gate)
        for entities, count in counts.items():
            self.metrics.nlp_articles.labels(entities=entities).inc(count)
        return notes


def annotate_gated(
    annotator: ArticleAnnotator, articles: Sequence[Article], gate: EntityGate
) -> tuple[list[Annotations], dict[str, int]]:
    """Annotate `articles`, with entities only where `gate` says a rule may need them.

    Returns the annotations in article order and how many articles ran NER: "yes" (the text
    test asked for it), "no", and "again" (annotated a second time, with NER, because the
    matcher's own patterns found an entity-requiring alias the text test did not foresee).
    """
    wanted = [gate.needs_entities(article) for article in articles]
    notes: list[Annotations | None] = [None] * len(articles)
    with_them = [index for index, is_wanted in enumerate(wanted) if is_wanted]
    without = [index for index, is_wanted in enumerate(wanted) if not is_wanted]
    _annotate_into(notes, annotator, articles, with_them, with_entities=True)
    _annotate_into(notes, annotator, articles, without, with_entities=False)
    again = [index for index in without if gate.missed(_present(notes[index]))]
    _annotate_into(notes, annotator, articles, again, with_entities=True)
    counts = {"yes": len(with_them), "no": len(without) - len(again), "again": len(again)}
    return [_present(note) for note in notes], counts


def _annotate_into(
    notes: list[Annotations | None],
    annotator: ArticleAnnotator,
    articles: Sequence[Article],
    indexes: Sequence[int],
    *,
    with_entities: bool,
) -> None:
    if indexes:
        chosen = [articles[index] for index in indexes]
        found = annotator.annotate(chosen, with_entities=with_entities)
        for index, note in zip(indexes, found, strict=True):
            notes[index] = note


def _present(note: Annotations | None) -> Annotations:
    assert note is not None, "every article is annotated once before it is read"
    return note


def _ignore_outcome(notes: asyncio.Future[list[Annotations]]) -> None:
    """Retrieve an abandoned batch's outcome, so asyncio does not report it as unhandled."""
    if not notes.cancelled():
        notes.exception()


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
