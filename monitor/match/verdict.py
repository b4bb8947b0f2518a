"""One rule on one article, explained: the verdict, the hits that made it, why it missed.

A miss is said at the deepest clause that failed ("found 'cobalt' but not 'lithium'
(match.any[1].all)"), in the sentence or window that came closest under `near`. Pure: no
spaCy, no I/O; `monitor test-rule` prints what this returns (explain.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from monitor.errors import RuleError
from monitor.match.blocks import block_finder
from monitor.match.evaluate import (
    ArticleView,
    CompiledRules,
    Counts,
    Present,
    Spots,
    article_language,
    counted,
    everywhere,
    evidence_hits,
    holding,
    holds,
    passes_filters,
    score_of,
    sentence_contents,
    window_contents,
)
from monitor.match.patterns import Found
from monitor.match.plan import Node, RulePlan, Wanted, evidence, leaves
from monitor.model import Annotations, Article, Hit, Match

__all__ = ["RuleVerdict", "evaluate_rule"]

# A clause listing more alternatives than this is cut with "…" in a reason.
MAX_LABELS_SHOWN = 6


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """What one rule makes of one article, including why it did not match."""

    rule_id: str
    matches: tuple[Match, ...]  # the match when the rule matched, else empty
    score: float  # the summed weights of the items in `hits`
    # The evidence: only items in branches that held. On a miss where the clause held, the
    # hits where it held; where it did not, the items of the top-level parts that held.
    hits: tuple[Hit, ...]
    excluded_by: tuple[Hit, ...]  # what the rule's top-level `none` found
    reasons: tuple[str, ...]  # why it did not match; empty when it did

    @property
    def is_match(self) -> bool:
        return bool(self.matches)


def evaluate_rule(
    article: Article, notes: Annotations, compiled: CompiledRules, rule_id: str
) -> RuleVerdict:
    """Evaluate one rule on `article` and say why it matched or not (for `monitor test-rule`)."""
    plan = compiled.plan(rule_id)
    if plan is None:
        known = ", ".join(sorted(p.rule.id for p in compiled.plans)) or "none"
        raise RuleError(f"unknown rule (loaded: {known})", rule_id=rule_id)
    found = compiled.index.find(notes)
    view = ArticleView(notes, found, compiled)
    spots = view.spots(plan)
    excluded_items = [leaf for node in plan.excluded for leaf in leaves(node)]
    excluded_by = tuple(evidence_hits(plan, spots, everywhere, view.maker, excluded_items))
    counts = holding(plan, view)
    held = counts is not None
    if counts is None:
        parts = _held_parts(plan.scoped, lambda wanted: bool(spots[wanted]))
        counts = _only(parts)
    hits = tuple(evidence_hits(plan, spots, counts, view.maker))
    score = score_of(hits)
    min_score = plan.rule.min_score
    admitted = passes_filters(plan, article_language(article, notes), _sources(article))
    if admitted and held and (min_score is None or score >= min_score):
        match = Match(plan.rule.id, plan.rule.name, article.key, plan.rule.priority, score, hits)
        return RuleVerdict(rule_id, (match,), score, hits, excluded_by, ())
    miss = _Miss(plan, article, notes, found, spots, score, excluded_by)
    return RuleVerdict(rule_id, (), score, hits, excluded_by, tuple(miss.reasons(held=held)))


def _sources(article: Article) -> set[str]:
    return {article.feed_id, *article.feed_tags}


def _only(parts: frozenset[Wanted]) -> Counts:
    return lambda wanted, spot: wanted in parts


def _held_parts(node: Node, is_present: Present, *, deep: bool = True) -> frozenset[Wanted]:
    """What the parts of `node` that held count, whether or not `node` itself holds.

    `deep`: also the parts that held of the `all`s in it that failed, down to the leaves.
    """
    held = frozenset[Wanted]()
    for child in node.children:
        part = counted(child, is_present)
        if part is not None:
            held |= part
        elif deep and isinstance(child, Node) and child.op == "all":
            held |= _held_parts(child, is_present)
    return held


@dataclass(frozen=True, slots=True)
class _Miss:
    """A rule that did not match one article, and what it found there."""

    plan: RulePlan
    article: Article
    notes: Annotations
    found: Found
    spots: Spots
    score: float
    excluded_by: tuple[Hit, ...]

    def reasons(self, *, held: bool) -> Iterator[str]:
        """Why the rule did not match, most basic first: filters, exclusions, clauses, score."""
        plan, rule = self.plan, self.plan.rule
        language = article_language(self.article, self.notes)
        if plan.languages and language not in plan.languages:
            wanted = ", ".join(sorted(code or "" for code in plan.languages))
            yield f"language '{language or 'unknown'}' is not one of {wanted}"
        if plan.sources and plan.sources.isdisjoint(_sources(self.article)):
            listed = ", ".join(sorted(plan.sources))
            yield f"feed '{self.article.feed_id}' is not in sources: {listed}"
        yield from self._entity_reasons()
        for hit in self.excluded_by:
            yield f"excluded: '{hit.wanted}' found in {hit.field} ({hit.clause or 'none'})"
        is_found = self._is_found
        if not holds(plan.scoped, is_found):
            yield from failures(plan.scoped, is_found)
        elif not held and rule.near is not None:
            yield from self._near_failures()
        if held and rule.min_score is not None and self.score < rule.min_score:
            yield f"score {self.score:g} is below min_score {rule.min_score:g}"
            yield from (f"not counted: {reason}" for reason in uncounted(plan.scoped, is_found))

    def _is_found(self, wanted: Wanted) -> bool:
        return bool(self.spots[wanted])

    def _entity_reasons(self) -> Iterator[str]:
        for wanted in self.plan.evidence:
            if not wanted.entity_labels or self.spots[wanted]:
                continue
            raw = [
                spot
                for pattern_id in wanted.pattern_ids
                for spot in self.found.get(pattern_id, ())
                if spot.field in wanted.fields
            ]
            if raw:
                field = self.notes.field(raw[0].field)
                text = field.text[raw[0].start : raw[0].end] if field is not None else ""
                labels = "/".join(sorted(wanted.entity_labels))
                yield f"'{text}' found but not tagged as {labels} (require_entity)"

    def _near_failures(self) -> Iterator[str]:
        """What the closest sentence or window lacked: the clause holds only article-wide."""
        near = self.plan.rule.near
        if near == "sentence":
            where = " in the same sentence (near: sentence)"
        else:
            where = f" within {near} words (near: {near})"
        places = self._places()
        scoped = self.plan.scoped
        if not places or any(holds(scoped, present.__contains__) for present in places):
            return  # it holds somewhere: what stopped it was a `none` or the filters
        # The place where the most items counted came closest to holding.
        closest = max(places, key=lambda present: len(_held_parts(scoped, present.__contains__)))
        yield from failures(scoped, closest.__contains__, where)

    def _places(self) -> list[set[Wanted]]:
        """What each sentence or `near: N` window around an item holds, in text order: the
        places evaluate.py decides on."""
        found = [spot for wanted in self.plan.evidence for spot in self.spots[wanted]]
        near = self.plan.rule.near
        if near == "sentence":
            return list(sentence_contents(self.spots, found).values())
        contents = window_contents(self.spots, found, int(near or 0), block_finder(self.notes))
        return [present for _, present in contents]


def failures(node: Node | Wanted, is_present: Present, where: str = "") -> Iterator[str]:
    """Why `node` does not hold, said at the deepest clauses that failed.

    A part of which nothing was found is named whole ("any of 'a', 'b'"); a part that found
    something but failed is gone into, so the reason names the clause that fell short and what
    its other parts found. `where` ends each reason, e.g. " in the same sentence".
    """
    if isinstance(node, Wanted):
        yield f"not found: {describe(node)}{where}"
    elif node.op == "none":
        present = [
            leaf
            for child in node.children
            if holds(child, is_present)
            for leaf in evidence(child)
            if is_present(leaf)
        ]
        yield f"excluded: {_labels(present)} found ({node.key}){where}"
    elif node.op == "any":
        partial = [child for child in node.children if _has_found(child, is_present)]
        if not partial:
            yield f"not found: {describe(node)}{where}"
        for child in partial:
            yield from failures(child, is_present, where)
    else:
        yield from _all_failures(node, is_present, where)


def _all_failures(node: Node, is_present: Present, where: str) -> Iterator[str]:
    missing = [child for child in node.children if not holds(child, is_present)]
    deeper = [
        child
        for child in missing
        # An `all` inside an `all` is one list of parts: name its own missing parts.
        if isinstance(child, Node) and (child.op != "any" or _has_found(child, is_present))
    ]
    direct = [child for child in missing if child not in deeper]
    held = sorted(_held_parts(node, is_present, deep=False), key=_rule_order(node))
    if direct and held:
        lacking = ", nor ".join(describe(child) for child in direct)
        yield f"found {_labels(held)} but not {lacking}{where}"
    elif direct:
        yield from (f"not found: {describe(child)}{where}" for child in direct)
    for child in deeper:
        yield from failures(child, is_present, where)


def uncounted(node: Node | Wanted, is_present: Present) -> Iterator[str]:
    """Why branches that found something under a holding `node` add nothing to the score."""
    if isinstance(node, Wanted) or node.op == "none":
        return
    for child in node.children:
        if holds(child, is_present):
            yield from uncounted(child, is_present)
        elif isinstance(child, Node) and _has_found(child, is_present):
            yield from failures(child, is_present)


def _has_found(node: Node | Wanted, is_present: Present) -> bool:
    """Whether any item `node` asks for (outside a `none`) was found."""
    return isinstance(node, Node) and node.op != "none" and any(map(is_present, evidence(node)))


def _rule_order(node: Node) -> Callable[[Wanted], int]:
    order = {leaf: index for index, leaf in enumerate(leaves(node))}
    return order.__getitem__


def _labels(found: list[Wanted]) -> str:
    return ", ".join(dict.fromkeys(f"'{leaf.label}'" for leaf in found))


def describe(node: Node | Wanted) -> str:
    """A clause or item in a few words, with where the rule asks for it."""
    if isinstance(node, Wanted):
        return f"'{node.label}'" + (f" ({node.clause})" if node.clause else "")
    labels = list(dict.fromkeys(f"'{leaf.label}'" for leaf in leaves(node)))
    shown = ", ".join(labels[:MAX_LABELS_SHOWN]) + (", …" if len(labels) > MAX_LABELS_SHOWN else "")
    where = f" ({node.key})" if node.key else ""
    return f"{node.op} of {shown}{where}"
