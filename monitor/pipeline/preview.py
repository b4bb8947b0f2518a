"""Preview a draft rule on the stored archive: its matches, its near misses, counts per day.

The draft is validated by the checks `monitor check` runs (`rules.read_draft_rule`); a rule
with an error never runs. The archive is read newest first, a page at a time; a cheap text
test (`match.candidate_test`) skips the articles that share no word with the rule, and only
the rest are annotated (spaCy, gated for entities as the daemon does) and matched by the
daemon's own `match.evaluate`. Stores nothing and sends nothing. Bounded like rule loading:
the rule's size, a time budget and a cap on the articles read; a stopped run says how far
back it got.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from monitor.match import (
    NearMiss,
    candidate_test,
    compile_rules,
    entity_gate,
    evaluate,
    near_miss,
)
from monitor.model import Article, Feed, Match, Rule, RuleSet
from monitor.pipeline.analyse import ArticleAnnotator, annotate_gated
from monitor.rules import read_draft_rule
from monitor.store import PageCursor

DEFAULT_DAYS = 30
# Articles read from the store per page; the time budget is checked between pages.
PAGE_ARTICLES = 100


@dataclass(frozen=True, slots=True)
class PreviewLimits:
    """What one preview may cost (docs/web.md#rule-preview)."""

    max_days: int = 3660  # ten years: the article cap and the time budget bound the cost
    max_articles: int = 20_000  # articles read from the archive, candidates or not
    time_budget_s: float = 60.0
    max_listed: int = 200  # matches and near misses shown each; all of them are counted


class PreviewArchive(Protocol):
    """The store's read the preview needs (`monitor.store.Store` has it)."""

    def archive_page(
        self, since: datetime, *, limit: int, after: PageCursor | None = None
    ) -> list[Article]: ...


@dataclass(frozen=True, slots=True)
class PreviewedMatch:
    article: Article
    match: Match


@dataclass(frozen=True, slots=True)
class PreviewedNearMiss:
    article: Article
    near_miss: NearMiss


@dataclass(frozen=True, slots=True)
class PreviewDay:
    day: str  # YYYY-MM-DD in the preview's zone
    matches: int
    near_misses: int


@dataclass(frozen=True, slots=True)
class PreviewReport:
    """What a draft rule makes of the archive, or why it could not run."""

    name: str  # the draft's file name, as messages show it
    errors: tuple[str, ...]  # `monitor check`'s messages; non-empty: nothing ran
    rule: Rule | None = None
    rules: RuleSet = field(default_factory=lambda: RuleSet(rules=()))  # the draft and actors
    since: datetime | None = None
    days: int = DEFAULT_DAYS
    matches: tuple[PreviewedMatch, ...] = ()
    near_misses: tuple[PreviewedNearMiss, ...] = ()
    match_count: int = 0
    near_miss_count: int = 0
    per_day: tuple[PreviewDay, ...] = ()  # newest day first, days with neither left out
    scanned: int = 0  # articles read from the archive
    annotated: int = 0  # of them, those the text test kept (annotated and matched)
    stopped: str | None = None  # why it stopped before `since`; None: the whole period
    reached: datetime | None = None  # the publication time of the oldest article read
    elapsed_s: float = 0.0


class Previewer:
    """Runs draft rules over one archive, one preview at a time (spaCy is not shared)."""

    def __init__(
        self,
        *,
        archive: PreviewArchive,
        annotator: Callable[[], ArticleAnnotator],
        rules: Callable[[], RuleSet],
        feeds: Callable[[], Sequence[Feed]],
        zone: tzinfo = UTC,
        limits: PreviewLimits | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._archive = archive
        self._annotator = annotator
        self._rules = rules
        self._feeds = feeds
        self.zone = zone
        self.limits = limits or PreviewLimits()
        self._timer = timer
        self._lock = threading.Lock()

    def check(self, raw: bytes, *, name: str) -> tuple[Rule | None, tuple[str, ...]]:
        """The draft rule, or `monitor check`'s messages about it."""
        rule, errors = read_draft_rule(raw, name=name, actors=self._rules().actors)
        return rule, tuple(str(error) for error in errors)

    def preview(self, raw: bytes, *, name: str, days: int, now: datetime) -> PreviewReport:
        """Validate the draft in `raw`, then run it over the articles of the last `days`."""
        if not 1 <= days <= self.limits.max_days:
            problem = f"days: expected 1 to {self.limits.max_days}, got {days}"
            return PreviewReport(name, (problem,), days=days)
        rule, errors = self.check(raw, name=name)
        if rule is None:
            return PreviewReport(name, errors or (f"{name}: no rule",), days=days)
        rules = RuleSet((rule,), self._rules().actors)
        with self._lock:
            return self._run(rule, rules, name, days, now)

    def _run(
        self, rule: Rule, rules: RuleSet, name: str, days: int, now: datetime
    ) -> PreviewReport:
        started = self._timer()
        since = now - timedelta(days=days)
        scan = _Scan(rule, rules, self.limits.max_listed, self.zone)
        tags = {feed.id: feed.tags for feed in self._feeds()}
        after: PageCursor | None = None
        stopped: str | None = None
        annotator = self._annotator()
        while True:
            if scan.scanned >= self.limits.max_articles:
                stopped = f"stopped at the cap of {self.limits.max_articles} articles read"
                break
            if self._timer() - started > self.limits.time_budget_s:
                stopped = f"stopped after the time budget of {self.limits.time_budget_s:g} s"
                break
            limit = min(PAGE_ARTICLES, self.limits.max_articles - scan.scanned)
            page = self._archive.archive_page(since, limit=limit, after=after)
            if not page:
                break
            after = PageCursor(page[-1].published_at, page[-1].key)
            # Feed tags live in the config, not the store: a rule's `sources` may name them.
            scan.page([replace(a, feed_tags=tags.get(a.feed_id, ())) for a in page], annotator)
        return scan.report(name, since, days, stopped, self._timer() - started)


class _Scan:
    """One preview under way: what the text test kept, matched and almost matched."""

    def __init__(self, rule: Rule, rules: RuleSet, max_listed: int, zone: tzinfo) -> None:
        self.rule = rule
        self.rules = rules
        self.compiled = compile_rules(rules)
        self.test = candidate_test(self.compiled, rule.id)
        self.gate = entity_gate(rules)
        self.max_listed = max_listed
        self.zone = zone
        self.matches: list[PreviewedMatch] = []
        self.near_misses: list[PreviewedNearMiss] = []
        self.match_count = 0
        self.near_miss_count = 0
        self.days: dict[str, list[int]] = {}
        self.scanned = 0
        self.annotated = 0
        self.reached: datetime | None = None

    def page(self, articles: list[Article], annotator: ArticleAnnotator) -> None:
        chosen = [article for article in articles if self.test.is_candidate(article)]
        notes, _ = annotate_gated(annotator, chosen, self.gate) if chosen else ([], {})
        for article, note in zip(chosen, notes, strict=True):
            found = evaluate(article, note, self.compiled)
            if found:
                self._count(article, 0)
                self.match_count += 1
                if len(self.matches) < self.max_listed:
                    self.matches.append(PreviewedMatch(article, found[0]))
                continue
            missed = near_miss(article, note, self.compiled, self.rule.id)
            if missed is not None:
                self._count(article, 1)
                self.near_miss_count += 1
                if len(self.near_misses) < self.max_listed:
                    self.near_misses.append(PreviewedNearMiss(article, missed))
        self.scanned += len(articles)
        self.annotated += len(chosen)
        self.reached = articles[-1].published_at

    def _count(self, article: Article, column: int) -> None:
        day = article.published_at.astimezone(self.zone).date().isoformat()
        self.days.setdefault(day, [0, 0])[column] += 1

    def report(
        self, name: str, since: datetime, days: int, stopped: str | None, elapsed_s: float
    ) -> PreviewReport:
        return PreviewReport(
            name=name,
            errors=(),
            rule=self.rule,
            rules=self.rules,
            since=since,
            days=days,
            matches=tuple(self.matches),
            near_misses=tuple(self.near_misses),
            match_count=self.match_count,
            near_miss_count=self.near_miss_count,
            per_day=tuple(
                PreviewDay(day, counts[0], counts[1])
                for day, counts in sorted(self.days.items(), reverse=True)
            ),
            scanned=self.scanned,
            annotated=self.annotated,
            stopped=stopped,
            reached=self.reached,
            elapsed_s=elapsed_s,
        )
