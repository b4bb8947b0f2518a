"""A rule set compiled for matching: one pattern index, a plan per rule, the presearch over them.

`compile_rules(rules, frequencies=..., previous=...)` builds it; given the set in force as
`previous`, it keeps the plans (and patterns) of the rules that did not change, so an edit to
one rule file costs that file plus re-keying the presearch. Pure: no I/O.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from monitor.match.frequency import NO_FREQUENCIES, TermFrequencies, pattern_share
from monitor.match.patterns import Found, PatternIndex
from monitor.match.plan import RulePlan, plan_rule
from monitor.match.presearch import COMMON_SHARE, Anchor, AnchorChooser, Gate, WakeIndex
from monitor.model import Actor, ActorRef, Clause, RuleSet, Term

# An index kept across edits also keeps the patterns of rules since changed or removed (they
# wake nothing); past this many times the patterns of a fresh build, build afresh.
MAX_INDEX_GROWTH = 1.5


class PresearchObserver(Protocol):
    """Told, for each article evaluated, how many rules it woke and how many matched."""

    def observe_presearch(self, woken: int, matched: int) -> None: ...


@dataclass(frozen=True, slots=True)
class PresearchSummary:
    """What `monitor check --verbose` and the logs say about the presearch."""

    rules: int
    always: tuple[str, ...]  # ids of the rules every article wakes
    common: tuple[str, ...]  # ids of the rules anchored on a branch in > COMMON_SHARE
    documents: int  # articles the frequencies were counted on (0: guessed by length)


class CompiledRules:
    """A rule set turned into a pattern index, rule plans and a presearch. Build once per set."""

    __slots__ = (
        "_actors",
        "_anchors",
        "_by_id",
        "_fresh_patterns",
        "_gates",
        "_plans",
        "_shared",
        "_shares",
        "_source_keys",
        "_wake",
        "frequencies",
        "index",
        "needs_entities",
        "observer",
    )

    def __init__(
        self,
        rules: RuleSet,
        *,
        frequencies: TermFrequencies = NO_FREQUENCIES,
        previous: CompiledRules | None = None,
        observer: PresearchObserver | None = None,
    ) -> None:
        self.frequencies = frequencies
        self.observer = observer
        reused = _reusable(previous)
        self.index: PatternIndex = reused.index if reused else PatternIndex()
        self._shared: dict[object, object] = reused._shared if reused else {}
        self._fresh_patterns: int = reused._fresh_patterns if reused else 0
        kept = _kept_plans(reused, rules)
        self._actors: dict[str, Actor] = {actor.id: actor for actor in rules.actors}
        self._plans = [
            kept.get(rule.id) or plan_rule(rule, self._actors, self.index, self._shared)
            for rule in rules.rules
        ]
        if not reused:
            self._fresh_patterns = len(self.index.patterns)
        same_counts = reused is not None and reused.frequencies is frequencies
        self._shares: list[float] = list(reused._shares) if reused and same_counts else []
        known, index = len(self._shares), self.index
        self._shares += [
            pattern_share(pattern, forms, frequencies)
            for pattern, forms in zip(index.patterns[known:], index.forms[known:], strict=True)
        ]
        # Feeds are keyed below the pattern ids, which only grow: an id never means two things.
        self._source_keys: dict[str, int] = reused._source_keys if reused else {}
        old: dict[str, Anchor] = reused._anchors if reused and same_counts else {}
        chooser = AnchorChooser(self._shares.__getitem__, self._source_key)
        self._anchors: dict[str, Anchor] = {
            plan.rule.id: (
                anchor
                if (anchor := old.get(plan.rule.id)) and kept.get(plan.rule.id) is plan
                else chooser.anchor(plan)
            )
            for plan in self._plans
        }
        # A gate depends on the rule alone, not on the counts: a kept plan keeps its gate.
        old_gates = reused._gates if reused else {}
        self._gates: dict[str, Gate | None] = {
            plan.rule.id: (
                old_gates.get(plan.rule.id)
                if kept.get(plan.rule.id) is plan
                else chooser.gate(plan)
            )
            for plan in self._plans
        }
        self._wake = WakeIndex(
            [self._anchors[plan.rule.id] for plan in self._plans],
            [self._gates[plan.rule.id] for plan in self._plans],
        )
        self._by_id = {plan.rule.id: plan for plan in self._plans}
        #: True when some rule asks for spaCy entities: the annotator must run NER.
        self.needs_entities = any(
            leaf.entity_labels for plan in self._plans for leaf in plan.leaves
        )

    @property
    def plans(self) -> tuple[RulePlan, ...]:
        return tuple(self._plans)

    def plan(self, rule_id: str) -> RulePlan | None:
        return self._by_id.get(rule_id)

    def anchor(self, rule_id: str) -> Anchor | None:
        """The branches that wake the rule, rarest first, with their shares of articles."""
        return self._anchors.get(rule_id)

    def pattern_texts(self, group: Iterable[int]) -> list[str]:
        """The terms and aliases of a group of patterns, as the rules write them."""
        return sorted({self.index.patterns[pattern_id].text for pattern_id in group})

    def presearch_keys(self, found: Found, sources: Iterable[str]) -> Found:
        """`found` plus a key for each of the article's feed and tags that some rule's
        `sources:` names: what `candidates` wakes the rules listing feeds on."""
        keys = self._source_keys
        extra = [keys[source] for source in sources if source in keys] if keys else []
        return {**found, **{key: [] for key in extra}} if extra else found

    def candidates(self, found_patterns: Iterable[int]) -> list[RulePlan]:
        """The rules that may hold given the patterns found, in rule-set order.

        Given `presearch_keys` (patterns with their spots, feeds), the rules' gates are checked
        too; given pattern ids alone, the rules listing `sources:` stay asleep.
        """
        found = found_patterns if isinstance(found_patterns, dict) else set(found_patterns)
        return [self._plans[position] for position in self._wake.woken(found)]

    def _source_key(self, source: str) -> int:
        key = self._source_keys.get(source)
        if key is None:
            key = self._source_keys[source] = -1 - len(self._source_keys)
        return key

    def summary(self) -> PresearchSummary:
        ids = [plan.rule.id for plan in self._plans]
        anchors = [self._anchors[rule_id] for rule_id in ids]
        return PresearchSummary(
            rules=len(ids),
            always=tuple(ids[position] for position in self._wake.always),
            common=tuple(
                rule_id
                for rule_id, anchor in zip(ids, anchors, strict=True)
                if not anchor.is_always and anchor.share > COMMON_SHARE
            ),
            documents=self.frequencies.documents if self.frequencies.is_informed else 0,
        )


def compile_rules(
    rules: RuleSet,
    *,
    frequencies: TermFrequencies | None = None,
    previous: CompiledRules | None = None,
    observer: PresearchObserver | None = None,
) -> CompiledRules:
    """Build the matcher for `rules`; do it once per rule set, not per article.

    `frequencies` (frequency.term_frequencies over stored articles) choose each rule's anchor;
    without them a phrase is guessed rarer than a word. Given the set in force as `previous`,
    its frequencies and observer carry over unless given, and unchanged rules keep their plans.
    """
    if previous is not None:
        frequencies = previous.frequencies if frequencies is None else frequencies
        observer = previous.observer if observer is None else observer
    # Compiling makes a few objects per pattern and leaf and frees almost none: the cycle
    # collector's passes over them found nothing and cost about 40% of the compile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return CompiledRules(
            rules,
            frequencies=NO_FREQUENCIES if frequencies is None else frequencies,
            previous=previous,
            observer=observer,
        )
    finally:
        if collecting:
            gc.enable()


def _reusable(previous: CompiledRules | None) -> CompiledRules | None:
    """`previous` when its index may be extended, None when a fresh build is due."""
    if previous is None:
        return None
    grown = len(previous.index.patterns) > MAX_INDEX_GROWTH * max(previous._fresh_patterns, 1)
    return None if grown else previous


def _kept_plans(previous: CompiledRules | None, rules: RuleSet) -> dict[str, RulePlan]:
    """The plans of `previous` still true for `rules`: same rule, same actors it names."""
    if previous is None:
        return {}
    before = previous._actors
    now = {actor.id: actor for actor in rules.actors}
    changed = {key for key in before.keys() | now.keys() if before.get(key) != now.get(key)}
    kept: dict[str, RulePlan] = {}
    for rule in rules.rules:
        plan = previous._by_id.get(rule.id)
        if plan is None or plan.rule != rule:
            continue
        if changed and not changed.isdisjoint(_actor_ids(rule.clause)):
            continue
        kept[rule.id] = plan
    return kept


def _actor_ids(clause: Clause) -> Iterator[str]:
    for item in clause.items:
        if isinstance(item, ActorRef):
            yield item.actor_id
        elif not isinstance(item, Term):
            yield from _actor_ids(item)
