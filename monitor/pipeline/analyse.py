"""Analyse stored articles: pending queue → nlp → match → store the matches.

Runs the annotator off the event loop and the matcher on the compiled rules in force;
a rule swap takes effect for the next batch. Stores matches before anything is sent.
An article whose analysis keeps raising is quarantined so the queue goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

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

# Articles analysed per round: small enough that one busy feed does not delay the others'
# alerts for long, large enough for spaCy's batching to pay off.
MATCH_BATCH = 64
# Failed analyses after which an article is taken out of the queue for good: enough to
# ride out a worker restart, few enough that a poison article costs little.
MAX_ANALYSIS_ATTEMPTS = 3
_log = logging.getLogger("monitor.pipeline.analyse")


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


class Analyser:
    """Annotates and matches what the store holds unmatched, one batch at a time."""

    def __init__(
        self,
        *,
        store: AnalysisQueue,
        annotator: ArticleAnnotator,
        rules: RuleSet,
        feeds: Sequence[Feed],
        metrics: Metrics,
        strict: bool = False,
    ) -> None:
        self._store = store
        self._annotator = annotator
        # Tests run strict: an analysis error is raised, not retried and quarantined.
        self._strict = strict
        self.metrics = metrics
        self.feeds = tuple(feeds)
        self._match_lock = asyncio.Lock()
        self.rules = rules
        frequencies = term_frequencies(store.recent_article_texts(SAMPLE_ARTICLES))
        self._compiled: CompiledRules = compile_rules(
            rules, frequencies=frequencies, observer=metrics
        )
        self._gate: EntityGate = entity_gate(rules)

    def compile(self, rules: RuleSet) -> CompiledRules:
        """`rules` compiled against the running set, keeping its word counts and the plans of
        the rules that did not change; safe in a worker thread (it only reads the running set)."""
        return compile_rules(rules, previous=self._compiled)

    def use_rules(self, rules: RuleSet, compiled: CompiledRules | None = None) -> None:
        """Swap in a validated rule set (`compiled` from it by `compile`, if already compiled
        off the event loop); takes effect for articles matched from now on."""
        if compiled is None:
            compiled = self.compile(rules)
        gate = entity_gate(rules)
        self.rules, self._compiled, self._gate = rules, compiled, gate

    async def match_pending(self, now: datetime) -> int:
        """Annotate and match every stored article not matched yet; return the match count.

        A batch that raises is retried one article at a time, so a poison article costs
        only itself an attempt, at most one per round (see `_charge`).
        """
        async with self._match_lock:
            total = 0
            tags = {feed.id: feed.tags for feed in self.feeds}
            failed: set[str] = set()
            while stored := self._next_batch(failed):
                # Feed tags live in the config, not the store: a rule's `sources` may name them.
                articles = [replace(a, feed_tags=tags.get(a.feed_id, ())) for a in stored]
                try:
                    analysed, matches = articles, await self._analyse(articles)
                except Exception as exc:
                    if self._strict:
                        raise
                    analysed, matches = await self._after_failure(articles, exc, now)
                    kept = {article.key for article in analysed}
                    failed.update(a.key for a in articles if a.key not in kept)
                if not analysed:
                    # Nothing in the batch went through: more likely the annotator than the
                    # articles. Stop the round rather than charge the whole queue an attempt.
                    break
                with self.metrics.cpu("store"):
                    self._store.save_matches([article.key for article in analysed], matches, now)
                self.metrics.articles_matched.inc(len(analysed))
                self._count(matches)
                total += len(matches)
            return total

    def _next_batch(self, failed: set[str]) -> list[Article]:
        """The oldest pending articles, without those that already failed this round."""
        pending = self._store.unmatched_articles(limit=MATCH_BATCH + len(failed))
        return [article for article in pending if article.key not in failed][:MATCH_BATCH]

    async def _after_failure(
        self, articles: Sequence[Article], exc: Exception, now: datetime
    ) -> tuple[list[Article], list[Match]]:
        """What analyses of a batch that raised `exc`: each article alone, or charge the one."""
        if len(articles) == 1:
            self._charge(articles[0], _error_text(exc), now)
            return [], []
        log_crash(_log, "analysis.batch_failed", articles=len(articles), retry="one by one")
        return await self._analyse_one_by_one(articles, now)

    async def _analyse(self, articles: Sequence[Article]) -> list[Match]:
        # One rule set for the whole batch: a reload mid-batch must not match with rules
        # whose entity needs the annotation did not serve.
        compiled, gate = self._compiled, self._gate
        # spaCy is CPU-bound: keep it off the event loop that polls feeds.
        notes = await asyncio.to_thread(self._annotate, articles, gate)
        with self.metrics.cpu("match"):
            return [
                match
                for article, note in zip(articles, notes, strict=True)
                for match in evaluate(article, note, compiled)
            ]

    async def _analyse_one_by_one(
        self, articles: Sequence[Article], now: datetime
    ) -> tuple[list[Article], list[Match]]:
        """The articles that analyse alone and their matches; each failure costs its article
        an attempt, and MAX_ANALYSIS_ATTEMPTS of them quarantine it."""
        analysed: list[Article] = []
        matches: list[Match] = []
        for article in articles:
            try:
                matches += await self._analyse([article])
            except Exception as exc:
                self._charge(article, _error_text(exc), now)
            else:
                analysed.append(article)
        return analysed, matches

    def _charge(self, article: Article, error: str, now: datetime) -> None:
        """Count the failure on the article, quarantine it at the limit; log the traceback.

        Called from an `except` block: `log_crash` picks up the exception in flight.
        """
        attempts = self._store.record_analysis_failure(article.key, error)
        is_quarantined = attempts >= MAX_ANALYSIS_ATTEMPTS
        if is_quarantined:
            self._store.quarantine(article.key, now)
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


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
