"""Near misses: the articles a rule did not match although every clause of it but one held.

A rule's clauses (docs/rules.md#near-misses) are the parts its `match` joins with AND:
each item of `all`, the `any` list, each `actors` list, and the `none` list (the one clause
that holds when nothing of it is found). They are judged over the whole article. A near miss
is an article the rule's `languages` and `sources` admit, where at least one clause other
than a `none` held and exactly one clause failed; or where every clause held but the rule
still did not match: its `near` (never together in one sentence or window) or its
`min_score` is then the clause that failed. Pure: no spaCy, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from monitor.errors import RuleError
from monitor.match.evaluate import (
    ArticleView,
    CompiledRules,
    Spots,
    article_language,
    evidence_hits,
    holding,
    holds,
    passes_filters,
    score_of,
)
from monitor.match.patterns import Found
from monitor.match.plan import Node, RulePlan, Wanted, evidence, leaves
from monitor.model import Annotations, Article, Hit

__all__ = ["ClauseOutcome", "NearMiss", "near_miss", "near_miss_words", "rule_parts"]

# A clause listing more items than this is cut with "…" when said in words.
MAX_ITEMS_SHOWN = 6
Translate = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class ClauseOutcome:
    """One clause of a rule on one article."""

    key: str  # where the rule has it: "match.all[1]", "match.any", "match.none", "match.near"
    kind: str  # "any" | "all" | "none" | "item" | "near" | "min_score"
    wanted: tuple[str, ...]  # what it asks for (terms, actors' names), in rule order
    found: tuple[str, ...]  # what of it the article has (for a `none`: what excluded it)
    # Actors found as words but not tagged as the entity the rule requires (require_entity).
    untagged: tuple[str, ...] = ()
    holds: bool = False
    near: str | int | None = None  # kind "near": the rule's `near`
    score: float = 0.0  # kind "min_score": the score reached
    min_score: float = 0.0


@dataclass(frozen=True, slots=True)
class NearMiss:
    """An article the rule almost matched: the clause that failed, and the evidence of the rest."""

    rule_id: str
    article_key: str
    failed: ClauseOutcome
    held: tuple[ClauseOutcome, ...]
    hits: tuple[Hit, ...]  # the items found by the clauses that held, as a match shows hits


def rule_parts(plan: RulePlan) -> list[Node | Wanted]:
    """The rule's clauses, in rule order: `all`'s items, `any`, each `actors`, `none`."""
    parts: list[Node | Wanted] = []
    for child in plan.scoped.children:
        if isinstance(child, Node) and child.op == "all" and child.key == "match.all":
            parts.extend(child.children)
        else:
            parts.append(child)
    return [*parts, *plan.excluded]


def near_miss(
    article: Article, notes: Annotations, compiled: CompiledRules, rule_id: str
) -> NearMiss | None:
    """The near miss of `rule_id` on `article`, or None (a match, or further than one clause)."""
    plan = compiled.plan(rule_id)
    if plan is None:
        raise RuleError("unknown rule", rule_id=rule_id)
    sources = {article.feed_id, *article.feed_tags}
    if not passes_filters(plan, article_language(article, notes), sources):
        return None
    found = compiled.index.find(notes)
    view = ArticleView(notes, found, compiled)
    spots = view.spots(plan)
    outcomes = [
        _outcome(part, _key(part, index), spots, found)
        for index, part in enumerate(rule_parts(plan))
    ]
    if not any(outcome.holds and outcome.kind != "none" for outcome in outcomes):
        return None
    failing = [outcome for outcome in outcomes if not outcome.holds]
    held = tuple(outcome for outcome in outcomes if outcome.holds)
    held_leaves = {
        leaf
        for part in rule_parts(plan)
        if holds(part, lambda wanted: bool(spots[wanted]))
        for leaf in evidence(part)
        if spots[leaf]
    }
    hits = tuple(evidence_hits(plan, spots, lambda wanted, spot: wanted in held_leaves, view.maker))
    if len(failing) == 1:
        return NearMiss(rule_id, article.key, failing[0], held, hits)
    if failing:
        return None
    return _together_or_score(plan, article.key, view, held, hits)


def _together_or_score(
    plan: RulePlan,
    article_key: str,
    view: ArticleView,
    held: tuple[ClauseOutcome, ...],
    hits: tuple[Hit, ...],
) -> NearMiss | None:
    """Every clause held over the article: `near` or `min_score` is what stopped the match."""
    rule = plan.rule
    counts = holding(plan, view)
    if counts is None:
        failed = ClauseOutcome("match.near", "near", (), (), near=rule.near)
        return NearMiss(rule.id, article_key, failed, held, hits)
    score = score_of(evidence_hits(plan, view.spots(plan), counts, view.maker))
    if rule.min_score is not None and score < rule.min_score:
        failed = ClauseOutcome(
            "min_score", "min_score", (), (), score=score, min_score=rule.min_score
        )
        return NearMiss(rule.id, article_key, failed, held, hits)
    return None  # it matches


def _key(part: Node | Wanted, index: int) -> str:
    if isinstance(part, Node):
        return part.key
    return f"{part.clause}[{index}]" if part.clause == "match.all" else part.clause


def _outcome(part: Node | Wanted, key: str, spots: Spots, found: Found) -> ClauseOutcome:
    def is_present(wanted: Wanted) -> bool:
        return bool(spots[wanted])

    kind = part.op if isinstance(part, Node) else "item"
    wanted = _labels(leaves(part))
    present = _labels(leaf for leaf in leaves(part) if is_present(leaf))
    untagged = _labels(
        leaf
        for leaf in leaves(part)
        if leaf.entity_labels and not is_present(leaf) and _raw_found(leaf, found)
    )
    return ClauseOutcome(key, kind, wanted, present, untagged, holds(part, is_present))


def _raw_found(leaf: Wanted, found: Found) -> bool:
    """Whether the words of `leaf` occur where it counts, entity or not."""
    return any(
        spot.field in leaf.fields
        for pattern_id in leaf.pattern_ids
        for spot in found.get(pattern_id, ())
    )


def _labels(items: Iterable[Wanted]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(leaf.label for leaf in items))


# --- in words --------------------------------------------------------------------------


def near_miss_words(outcome: ClauseOutcome, gettext: Translate) -> str:
    """What the failed clause needed and what the article lacked, in the `gettext` language."""
    items = _listed(outcome.wanted)
    if outcome.kind == "near":
        if outcome.near == "sentence":
            return gettext("every part was found, but never in one sentence")
        return gettext("every part was found, but never within %(count)d words") % {
            "count": int(outcome.near or 0)
        }
    if outcome.kind == "min_score":
        return gettext("score %(score)s is below min_score %(minimum)s") % {
            "score": f"{outcome.score:g}",
            "minimum": f"{outcome.min_score:g}",
        }
    if outcome.kind == "none":
        text = gettext("must not mention %(items)s — found: %(found)s") % {
            "items": items,
            "found": _listed(outcome.found),
        }
    elif not outcome.found:
        if outcome.kind == "item":
            text = gettext("needs %(items)s — not found") % {"items": items}
        elif outcome.kind == "all":
            text = gettext("needs all of: %(items)s — none found") % {"items": items}
        else:
            text = gettext("needs any of: %(items)s — none found") % {"items": items}
    else:
        missing = tuple(label for label in outcome.wanted if label not in outcome.found)
        text = gettext("needs %(op)s: %(items)s — found %(found)s, not %(missing)s") % {
            "op": gettext("all of") if outcome.kind == "all" else gettext("any of"),
            "items": items,
            "found": _listed(outcome.found),
            "missing": _listed(missing) or "…",
        }
    if outcome.untagged:
        text += gettext("; %(names)s found, but not as a name (require_entity)") % {
            "names": _listed(outcome.untagged)
        }
    return text


def _listed(labels: tuple[str, ...]) -> str:
    shown = ", ".join(labels[:MAX_ITEMS_SHOWN])
    return shown + (", …" if len(labels) > MAX_ITEMS_SHOWN else "")
