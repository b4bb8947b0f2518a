"""Explainable matching: compiled rules x annotated article -> `Match`es with their `Hit`s.

Pure: no spaCy, no I/O, no clock. The cost of one article must not grow with the number of
rules: one walk over the article finds every pattern (patterns.py), and only the rules woken by
their trigger patterns (ruleplan.py) are evaluated. `evaluate_rule` also explains a miss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from monitor.errors import RuleError
from monitor.match.blocks import BlockOf, block_finder
from monitor.match.evidence import HitMaker
from monitor.match.patterns import Found, Spot
from monitor.match.plan import (
    CompiledRules,
    Node,
    RulePlan,
    Wanted,
    compile_rules,
    primary_language,
)
from monitor.model import FIELDS, Annotations, Article, Hit, Match

__all__ = ["CompiledRules", "RuleVerdict", "compile_rules", "evaluate", "evaluate_rule"]

_FIELD_ORDER = {name: index for index, name in enumerate(FIELDS)}
# A rule hitting "France" fifty times does not explain itself better with fifty hits.
MAX_HITS_PER_WANTED = 5

_Spots = dict[Wanted, list[Spot]]
_Present = Callable[[Wanted], bool]
_InScope = Callable[[Spot], bool]


def evaluate(article: Article, notes: Annotations, compiled: CompiledRules) -> list[Match]:
    """The rules `article` matches, best first (priority, then score), each with its hits."""
    found = compiled.index.find(notes)
    language = _language(article, notes)
    sources = {article.feed_id, *article.feed_tags}
    view = _ArticleView(notes, found, compiled)
    matches = []
    for plan in compiled.candidates(found):
        if _passes_filters(plan, language, sources):
            match = _evaluate_plan(plan, article.key, view)
            if match is not None:
                matches.append(match)
    matches.sort(key=lambda match: (-match.priority, -match.score, match.rule_id))
    return matches


def _language(article: Article, notes: Annotations) -> str | None:
    return primary_language(article.language) or primary_language(notes.language)


def _passes_filters(plan: RulePlan, language: str | None, sources: set[str]) -> bool:
    if plan.sources and plan.sources.isdisjoint(sources):
        return False
    return not plan.languages or language in plan.languages


def _evaluate_plan(plan: RulePlan, article_key: str, view: _ArticleView) -> Match | None:
    # Most woken rules lack another part they need: say no before locating anything.
    present = view.found.keys()
    if any(present.isdisjoint(group) for group in plan.required):
        return None
    spots = view.spots(plan)
    if not all(holds(node, lambda wanted: bool(spots[wanted])) for node in plan.excluded):
        return None
    in_scope = _satisfying_scope(plan, spots, view.block_of)
    if in_scope is None:
        return None
    hits = tuple(_hits(plan, spots, in_scope, view.maker))
    score = _score(hits)
    if plan.rule.min_score is not None and score < plan.rule.min_score:
        return None
    return Match(
        rule_id=plan.rule.id,
        rule_name=plan.rule.name,
        article_key=article_key,
        priority=plan.rule.priority,
        score=score,
        hits=hits,
    )


def holds(node: Node | Wanted, is_present: _Present) -> bool:
    """Whether the clause `node` holds when `is_present` says which items were found."""
    if isinstance(node, Wanted):
        return is_present(node)
    if node.op == "any":
        return any(holds(child, is_present) for child in node.children)
    if node.op == "none":
        return not any(holds(child, is_present) for child in node.children)
    return all(holds(child, is_present) for child in node.children)


# --- where each wanted item was found ----------------------------------------------------


class _ArticleView:
    """One article as evaluation sees it: the patterns found, and each wanted item's spots.

    Rules share their leaves (ruleplan.py), so the spots of a leaf are worked out once per
    article however many rules ask for it.
    """

    __slots__ = ("_spots", "block_of", "found", "maker", "notes")

    def __init__(self, notes: Annotations, found: Found, compiled: CompiledRules) -> None:
        self.notes = notes
        self.found = found
        self.maker = HitMaker(notes, compiled.index.patterns)
        self.block_of = block_finder(notes)
        self._spots: _Spots = {}

    def spots(self, plan: RulePlan) -> _Spots:
        """Where each leaf of `plan` was found, in its fields (and entities when required)."""
        return {wanted: self._spots_of(wanted) for wanted in plan.leaves}

    def _spots_of(self, wanted: Wanted) -> list[Spot]:
        known = self._spots.get(wanted)
        if known is not None:
            return known
        candidates = [
            spot
            for pattern_id in wanted.pattern_ids
            for spot in self.found.get(pattern_id, ())
            if spot.field in wanted.fields
        ]
        if wanted.entity_labels and candidates:
            labels = wanted.entity_labels
            candidates = [spot for spot in candidates if is_entity(spot, labels, self.notes)]
        spots = self._spots[wanted] = _without_overlaps(candidates)
        return spots


def is_entity(spot: Spot, labels: frozenset[str], notes: Annotations) -> bool:
    """Whether spaCy tagged the words at `spot` with one of `labels`.

    Where no entity recognizer ran (languages without a model), a name must at least be
    written with a capital letter: that rules out English or French common nouns.
    """
    annotated = notes.field(spot.field)
    assert annotated is not None, "spots are found in the annotated fields"
    if not notes.has_entities:
        return not annotated.text[spot.start].islower()
    return any(
        entity.label in labels and entity.start < spot.end and spot.start < entity.end
        for entity in annotated.entities
    )


def _without_overlaps(spots: Iterable[Spot]) -> list[Spot]:
    """Text order; where aliases overlap ('Abdellatif Hammouchi', 'Hammouchi') keep the longest."""
    kept: list[Spot] = []
    for spot in sorted(spots, key=lambda s: (_FIELD_ORDER.get(s.field, 99), s.start, -s.end)):
        if kept and kept[-1].field == spot.field and spot.start < kept[-1].end:
            continue
        kept.append(spot)
    return kept


def _satisfying_scope(plan: RulePlan, spots: _Spots, block_of: BlockOf) -> _InScope | None:
    """A test for the spots inside the places where the rule holds, or None if it holds nowhere.

    A place is never wider than one block of one field: sentences end at block boundaries
    (nlp.py), and `near: N` windows stop at them here.
    """
    near = plan.rule.near
    if near is not None:
        found = [spot for wanted in plan.evidence for spot in spots[wanted]]
        if found and near == "sentence":
            return _sentences_holding(plan, spots, found)
        if found:
            return _windows_holding(plan, spots, found, int(near), block_of)
    # No `near`, or nothing to be near: the rule holds in the whole article or nowhere.
    is_found = holds(plan.scoped, lambda wanted: bool(spots[wanted]))
    return _everywhere if is_found else None


def _sentences_holding(plan: RulePlan, spots: _Spots, found: list[Spot]) -> _InScope | None:
    # What each sentence holds, in one pass over the spots; then one `holds` per sentence.
    present: dict[tuple[str, int], set[Wanted]] = {}
    for wanted, located in spots.items():
        for spot in located:
            present.setdefault((spot.field, spot.sentence), set()).add(wanted)
    places = dict.fromkeys((spot.field, spot.sentence) for spot in found)
    holding = {place for place in places if holds(plan.scoped, present[place].__contains__)}
    if not holding:
        return None
    return lambda spot: (spot.field, spot.sentence) in holding


def _windows_holding(
    plan: RulePlan, spots: _Spots, found: list[Spot], words: int, block_of: BlockOf
) -> _InScope | None:
    # `near: N`: every wanted item starts at most N words after the first one, in its block:
    # "within 10 words" never jumps from a heading or a list item into the next paragraph.
    holding: list[tuple[str, int, int, int]] = []
    for anchor in found:
        field, block = anchor.field, block_of(anchor)
        first, last = anchor.first_word, anchor.first_word + words
        present = {
            wanted
            for wanted, located in spots.items()
            if any(_is_in_window(s, field, block, first, last, block_of) for s in located)
        }
        if holds(plan.scoped, present.__contains__):
            holding.append((field, block, first, last))
    if not holding:
        return None
    return lambda spot: any(_is_in_window(spot, *window, block_of) for window in holding)


def _is_in_window(
    spot: Spot, field: str, block: int, first: int, last: int, block_of: BlockOf
) -> bool:
    return spot.field == field and first <= spot.first_word <= last and block_of(spot) == block


def _everywhere(spot: Spot) -> bool:
    return True


# --- hits and score ------------------------------------------------------------------------


def _hits(
    plan: RulePlan,
    spots: _Spots,
    in_scope: _InScope,
    maker: HitMaker,
    wanted_items: Iterable[Wanted] | None = None,
) -> Iterator[Hit]:
    seen: set[tuple[str, str | None, str, int]] = set()
    for wanted in plan.evidence if wanted_items is None else wanted_items:
        kept = 0
        for spot in spots[wanted]:
            key = (wanted.label, wanted.actor_id, spot.field, spot.start)
            if kept == MAX_HITS_PER_WANTED or key in seen or not in_scope(spot):
                continue
            seen.add(key)
            kept += 1
            yield maker.hit(wanted, spot)


def _score(hits: Iterable[Hit]) -> float:
    """The summed weights of the different items found (an item found twice counts once)."""
    best: dict[tuple[str, str | None], float] = {}
    for hit in hits:
        key = (hit.wanted, hit.actor_id)
        best[key] = max(best.get(key, 0.0), hit.weight)
    return float(sum(best.values()))


# --- one rule, explained ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """What one rule makes of one article, including why it did not match."""

    rule_id: str
    matches: tuple[Match, ...]  # the match when the rule matched, else empty
    score: float  # the summed weights of the items found
    hits: tuple[Hit, ...]  # the evidence; when not matched, every item found in the rule's fields
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
    view = _ArticleView(notes, found, compiled)
    match = None
    if _passes_filters(plan, _language(article, notes), {article.feed_id, *article.feed_tags}):
        match = _evaluate_plan(plan, article.key, view)
    spots = view.spots(plan)
    excluded_items = [w for node in plan.excluded for w in _leaves_of(node)]
    excluded_by = tuple(_hits(plan, spots, _everywhere, view.maker, excluded_items))
    if match is not None:
        return RuleVerdict(rule_id, (match,), match.score, match.hits, excluded_by, ())
    hits = tuple(_hits(plan, spots, _everywhere, view.maker))
    reasons = tuple(_reasons(plan, article, notes, found, spots, hits, excluded_by))
    return RuleVerdict(rule_id, (), _score(hits), hits, excluded_by, reasons)


def _leaves_of(node: Node | Wanted) -> Iterator[Wanted]:
    if isinstance(node, Wanted):
        yield node
    else:
        for child in node.children:
            yield from _leaves_of(child)


def _reasons(
    plan: RulePlan,
    article: Article,
    notes: Annotations,
    found: Found,
    spots: _Spots,
    hits: tuple[Hit, ...],
    excluded_by: tuple[Hit, ...],
) -> Iterator[str]:
    rule = plan.rule
    language = _language(article, notes)
    if plan.languages and language not in plan.languages:
        wanted = ", ".join(sorted(code or "" for code in plan.languages))
        yield f"language '{language or 'unknown'}' is not one of {wanted}"
    sources = {article.feed_id, *article.feed_tags}
    if plan.sources and plan.sources.isdisjoint(sources):
        yield f"feed '{article.feed_id}' is not in sources: {', '.join(sorted(plan.sources))}"
    yield from _entity_reasons(plan, found, spots, notes)
    for hit in excluded_by:
        yield f"excluded: '{hit.wanted}' found in {hit.field} ({hit.clause or 'none'})"

    def is_found(wanted: Wanted) -> bool:
        return bool(spots[wanted])

    for part in _missing(plan.scoped, is_found):
        yield f"not found: {_describe(part)}"
    if holds(plan.scoped, is_found) and _satisfying_scope(plan, spots, block_finder(notes)) is None:
        where = "one sentence" if rule.near == "sentence" else f"{rule.near} words"
        yield f"found, but never all within {where} (near: {rule.near})"
    if rule.min_score is not None and _score(hits) < rule.min_score:
        yield f"score {_score(hits):g} is below min_score {rule.min_score:g}"


def _entity_reasons(
    plan: RulePlan, found: Found, spots: _Spots, notes: Annotations
) -> Iterator[str]:
    for wanted in plan.evidence:
        if not wanted.entity_labels or spots[wanted]:
            continue
        raw = [s for p in wanted.pattern_ids for s in found.get(p, ()) if s.field in wanted.fields]
        if raw:
            field = notes.field(raw[0].field)
            text = field.text[raw[0].start : raw[0].end] if field is not None else ""
            labels = "/".join(sorted(wanted.entity_labels))
            yield f"'{text}' found but not tagged as {labels} (require_entity)"


def _missing(node: Node | Wanted, is_found: _Present) -> Iterator[Node | Wanted]:
    """The smallest parts of an `all` that do not hold (the whole node for any other op)."""
    if isinstance(node, Node) and node.op == "all":
        for child in node.children:
            if not holds(child, is_found):
                yield from _missing(child, is_found)
    elif not holds(node, is_found):
        yield node


def _describe(node: Node | Wanted) -> str:
    if isinstance(node, Wanted):
        return f"'{node.label}'" + (f" ({node.clause})" if node.clause else "")
    labels = [f"'{leaf.label}'" for leaf in _leaves_of(node)]
    shown = ", ".join(labels[:6]) + (", …" if len(labels) > 6 else "")
    where = f" ({node.key})" if node.key else ""
    return f"{node.op} of {shown}{where}"
