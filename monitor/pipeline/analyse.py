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
from monitor.match import SAMPLE_ARTICLES, CompiledRules, compile_rules, evaluate, term_frequencies
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

    def use_rules(self, rules: RuleSet) -> None:
        """Swap in a validated rule set; takes effect for articles matched from now on."""
        compiled = compile_rules(rules, previous=self._compiled)
        self.rules, self._compiled = rules, compiled

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
        compiled = self._compiled
        # spaCy is CPU-bound: keep it off the event loop that polls feeds.
        notes = await asyncio.to_thread(
            self._annotate, articles, with_entities=compiled.needs_entities
        )
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

    def _annotate(self, articles: Sequence[Article], *, with_entities: bool) -> list[Annotations]:
        with self.metrics.cpu("nlp"):
            return self._annotator.annotate(articles, with_entities=with_entities)


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
