"""Explainable matching: compiled rules x annotated article -> `Match`es with their `Hit`s.

Pure: no spaCy, no I/O, no clock. The cost of one article must not grow with the number of
rules: one walk over the article finds every pattern (patterns.py), and only the rules woken
by their rarest required branches (presearch.py) are evaluated. A score counts only the
branches that held (docs/rules.md#weights-and-scores); verdict.py explains a miss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from monitor.match.blocks import BlockOf, block_finder
from monitor.match.compiled import CompiledRules, compile_rules
from monitor.match.evidence import HitMaker
from monitor.match.patterns import Found, Spot
from monitor.match.plan import Node, RulePlan, Wanted, primary_language
from monitor.model import FIELDS, Annotations, Article, Hit, Match

__all__ = ["CompiledRules", "compile_rules", "counted", "evaluate", "holds"]

_FIELD_ORDER = {name: index for index, name in enumerate(FIELDS)}
# A rule hitting "France" fifty times does not explain itself better with fifty hits.
MAX_HITS_PER_WANTED = 5

Spots = dict[Wanted, list[Spot]]
Present = Callable[[Wanted], bool]
# Whether a leaf found at a spot is evidence: the spot lies where the rule holds, and the leaf
# is in a branch that held there.
Counts = Callable[[Wanted, Spot], bool]


def evaluate(article: Article, notes: Annotations, compiled: CompiledRules) -> list[Match]:
    """The rules `article` matches, best first (priority, then score), each with its hits."""
    found = compiled.index.find(notes)
    language = article_language(article, notes)
    sources = {article.feed_id, *article.feed_tags}
    view = ArticleView(notes, found, compiled)
    matches = []
    woken = compiled.candidates(compiled.presearch_keys(found, sources))
    for plan in woken:
        if passes_filters(plan, language, sources):
            match = _evaluate_plan(plan, article.key, view)
            if match is not None:
                matches.append(match)
    matches.sort(key=lambda match: (-match.priority, -match.score, match.rule_id))
    if compiled.observer is not None:
        compiled.observer.observe_presearch(len(woken), len(matches))
    return matches


def article_language(article: Article, notes: Annotations) -> str | None:
    """The article's primary language: as its feed or entry says, else as annotated."""
    return primary_language(article.language) or primary_language(notes.language)


def passes_filters(plan: RulePlan, language: str | None, sources: set[str]) -> bool:
    """Whether the rule's `languages` and `sources` admit the article."""
    if plan.sources and plan.sources.isdisjoint(sources):
        return False
    return not plan.languages or language in plan.languages


def _evaluate_plan(plan: RulePlan, article_key: str, view: ArticleView) -> Match | None:
    spots = view.spots(plan)
    counts = holding(plan, view, spots)
    if counts is None:
        return None
    hits = tuple(evidence_hits(plan, spots, counts, view.maker))
    score = score_of(hits)
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


def holding(plan: RulePlan, view: ArticleView, spots: Spots | None = None) -> Counts | None:
    """Which spots are evidence where the rule's clause holds, or None if it holds nowhere.

    `min_score` is not checked here: the score comes from the hits this selects. `spots` is
    `view.spots(plan)` when the caller already has it.
    """
    spots = view.spots(plan) if spots is None else spots
    if not all(holds(node, lambda wanted: bool(spots[wanted])) for node in plan.excluded):
        return None
    return _satisfying_scope(plan, spots, view.block_of)


def holds(node: Node | Wanted, is_present: Present) -> bool:
    """Whether the clause `node` holds when `is_present` says which items were found."""
    if isinstance(node, Wanted):
        return is_present(node)
    if node.op == "any":
        return any(holds(child, is_present) for child in node.children)
    if node.op == "none":
        return not any(holds(child, is_present) for child in node.children)
    return all(holds(child, is_present) for child in node.children)


def counted(node: Node | Wanted, is_present: Present) -> frozenset[Wanted] | None:
    """The leaves whose weights count where `node` holds; None where it does not hold.

    An `all` counts its items only when every one of them holds, an `any` counts every branch
    that holds (more evidence, a higher score), a `none` counts nothing. A leaf in a branch
    that failed never counts, even when it was found (docs/rules.md#weights-and-scores).
    """
    if isinstance(node, Wanted):
        return frozenset((node,)) if is_present(node) else None
    if node.op == "none":
        return None if any(holds(child, is_present) for child in node.children) else frozenset()
    parts = [counted(child, is_present) for child in node.children]
    held = [part for part in parts if part is not None]
    if (node.op == "any" and not held) or (node.op == "all" and len(held) < len(parts)):
        return None
    return frozenset[Wanted]().union(*held)


# --- where each wanted item was found ----------------------------------------------------


class ArticleView:
    """One article as evaluation sees it: the patterns found, and each wanted item's spots.

    Rules share their leaves (plan.py), so the spots of a leaf are worked out once per
    article however many rules ask for it.
    """

    __slots__ = ("_spots", "block_of", "found", "maker", "notes")

    def __init__(self, notes: Annotations, found: Found, compiled: CompiledRules) -> None:
        self.notes = notes
        self.found = found
        self.maker = HitMaker(notes, compiled.index.patterns)
        self.block_of = block_finder(notes)
        self._spots: Spots = {}

    def spots(self, plan: RulePlan) -> Spots:
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


def _satisfying_scope(plan: RulePlan, spots: Spots, block_of: BlockOf) -> Counts | None:
    """A test for the spots that count where the rule holds, or None if it holds nowhere.

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
    leaves = counted(plan.scoped, lambda wanted: bool(spots[wanted]))
    return None if leaves is None else lambda wanted, spot: wanted in leaves


def _sentences_holding(plan: RulePlan, spots: Spots, found: list[Spot]) -> Counts | None:
    holding = {
        place: leaves
        for place, present in sentence_contents(spots, found).items()
        if (leaves := counted(plan.scoped, present.__contains__)) is not None
    }
    if not holding:
        return None
    return lambda wanted, spot: wanted in holding.get((spot.field, spot.sentence), ())


def _windows_holding(
    plan: RulePlan, spots: Spots, found: list[Spot], words: int, block_of: BlockOf
) -> Counts | None:
    holding = [
        (window, leaves)
        for window, present in window_contents(spots, found, words, block_of)
        if (leaves := counted(plan.scoped, present.__contains__)) is not None
    ]
    if not holding:
        return None
    return lambda wanted, spot: any(
        wanted in leaves and window.holds(spot, block_of) for window, leaves in holding
    )


def sentence_contents(spots: Spots, found: list[Spot]) -> dict[tuple[str, int], set[Wanted]]:
    """What each sentence with a found item holds, keyed (field, sentence), in text order."""
    # One pass over the spots; the caller then asks one question per sentence.
    present: dict[tuple[str, int], set[Wanted]] = {}
    for wanted, located in spots.items():
        for spot in located:
            present.setdefault((spot.field, spot.sentence), set()).add(wanted)
    return {place: present[place] for place in dict.fromkeys((s.field, s.sentence) for s in found)}


@dataclass(frozen=True, slots=True)
class Window:
    """The `near: N` window that starts at one found item: N words on, within its block."""

    field: str
    block: int
    first: int
    last: int

    def holds(self, spot: Spot, block_of: BlockOf) -> bool:
        """Whether `spot` starts inside this window."""
        return (
            spot.field == self.field
            and self.first <= spot.first_word <= self.last
            and block_of(spot) == self.block
        )


def window_contents(
    spots: Spots, found: list[Spot], words: int, block_of: BlockOf
) -> list[tuple[Window, set[Wanted]]]:
    """What the window starting at each found item holds, in text order.

    Every wanted item must start at most `words` words after the first one, in its block:
    "within 10 words" never jumps from a heading or a list item into the next paragraph.
    """
    contents = []
    for anchor in found:
        window = Window(
            anchor.field, block_of(anchor), anchor.first_word, anchor.first_word + words
        )
        present = {
            wanted
            for wanted, located in spots.items()
            if any(window.holds(spot, block_of) for spot in located)
        }
        contents.append((window, present))
    return contents


def everywhere(wanted: Wanted, spot: Spot) -> bool:
    """Every spot counts: what was found, wherever it was."""
    return True


# --- hits and score ------------------------------------------------------------------------


def evidence_hits(
    plan: RulePlan,
    spots: Spots,
    counts: Counts,
    maker: HitMaker,
    wanted_items: Iterable[Wanted] | None = None,
) -> Iterator[Hit]:
    """The hits of the leaves (default: the rule's evidence) at the spots that `counts` keeps."""
    seen: set[tuple[str, str | None, str, int]] = set()
    for wanted in plan.evidence if wanted_items is None else wanted_items:
        kept = 0
        for spot in spots[wanted]:
            key = (wanted.label, wanted.actor_id, spot.field, spot.start)
            if kept == MAX_HITS_PER_WANTED or key in seen or not counts(wanted, spot):
                continue
            seen.add(key)
            kept += 1
            yield maker.hit(wanted, spot)


def score_of(hits: Iterable[Hit]) -> float:
    """The summed weights of the different items in `hits` (an item found twice counts once)."""
    best: dict[tuple[str, str | None], float] = {}
    for hit in hits:
        key = (hit.wanted, hit.actor_id)
        best[key] = max(best.get(key, 0.0), hit.weight)
    return float(sum(best.values()))
