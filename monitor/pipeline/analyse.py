"""Analyse stored articles: pending queue → nlp → match → store the matches.

Runs the annotator off the event loop and the matcher on the compiled rules in force;
a rule swap takes effect for the next batch. Stores matches before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from monitor.logs import log_event
from monitor.match import CompiledRules, compile_rules, evaluate
from monitor.metrics import Metrics
from monitor.model import Annotations, Article, Feed, Match, RuleSet

# Articles analysed per round: small enough that one busy feed does not delay the others'
# alerts for long, large enough for spaCy's batching to pay off.
MATCH_BATCH = 64
_log = logging.getLogger("monitor.pipeline.analyse")


class ArticleAnnotator(Protocol):
    # Entity recognition costs about half the analysis time: on only when a rule needs it.
    with_entities: bool

    def annotate(self, articles: Sequence[Article]) -> list[Annotations]: ...


class AnalysisQueue(Protocol):
    """The store as the analyser sees it: articles waiting and their matches."""

    def unmatched_articles(self, limit: int = ...) -> list[Article]: ...

    def save_matches(
        self, article_keys: Sequence[str], matches: Sequence[Match], now: datetime
    ) -> None: ...


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
    ) -> None:
        self._store = store
        self._annotator = annotator
        self.metrics = metrics
        self.feeds = tuple(feeds)
        self._match_lock = asyncio.Lock()
        self.rules = rules
        self._compiled: CompiledRules = compile_rules(rules)
        self._annotator.with_entities = self._compiled.needs_entities

    def use_rules(self, rules: RuleSet) -> None:
        """Swap in a validated rule set; takes effect for articles matched from now on."""
        compiled = compile_rules(rules)
        self.rules, self._compiled = rules, compiled
        self._annotator.with_entities = compiled.needs_entities

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
