"""Compile a `RuleSet` for matching: one shared pattern index, and per rule a tree of wanted items.

Each rule is indexed only under its trigger patterns, a set of which at least one must occur
for the rule to hold, chosen as the rarest-looking such set; an article then wakes the few rules
whose triggers it contains. Pure: no spaCy, no I/O. match.py evaluates what this builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar, cast

from monitor.match import lexicon
from monitor.match.patterns import PatternIndex
from monitor.model import FIELDS, Actor, ActorRef, Clause, Rule, RuleSet, Term

# spaCy labels compatible with each actor type: fr_core_news_sm says PER/ORG/LOC/MISC (and tags
# DGSN-DGST as MISC, DESIGN.md "Measured"); English models say PERSON/ORG/GPE/LOC/NORP/FAC.
ENTITY_LABELS: dict[str, frozenset[str]] = {
    "person": frozenset({"PER", "PERSON"}),
    "org": frozenset({"ORG", "MISC", "NORP"}),
    "place": frozenset({"LOC", "GPE", "FAC"}),
}


@dataclass(frozen=True, slots=True, eq=False)
class Wanted:
    """A leaf of a rule: one term, or one actor with all its aliases.

    Compared by identity (eq=False): evaluation keys dicts by it, and hashing every field of
    every leaf would cost more than the rest of the evaluation.
    """

    label: str  # the term, or the actor's display name
    actor_id: str | None
    pattern_ids: tuple[int, ...]
    weight: float
    fields: frozenset[str]  # where a hit counts
    entity_labels: frozenset[str]  # empty: no entity required
    clause: str  # where the rule asks for it, e.g. "match.all[0].any"


@dataclass(frozen=True, slots=True)
class Node:
    """A boolean clause over wanted items and sub-clauses."""

    op: str  # "any" | "all" | "none"
    children: tuple[Node | Wanted, ...]
    key: str


@dataclass(frozen=True, slots=True)
class RulePlan:
    """One rule ready to evaluate."""

    rule: Rule
    scoped: Node  # what `near` applies to: the rule's `all` without its top-level `none`s
    excluded: tuple[Node, ...]  # top-level `none`s: checked over the whole article
    evidence: tuple[Wanted, ...]  # leaves outside any `none`: what hits explain
    leaves: tuple[Wanted, ...]  # every leaf, `none`s included
    languages: frozenset[str | None]
    sources: frozenset[str]
    # Groups of patterns each of which must have one found for the rule to hold: a cheap
    # first test before locating anything.
    required: tuple[tuple[int, ...], ...]


class CompiledRules:
    """A rule set turned into a pattern index and rule plans. Build once per rule set."""

    __slots__ = ("_always", "_plans", "_rules_by_pattern", "index", "needs_entities")

    def __init__(self, rules: RuleSet) -> None:
        self.index = PatternIndex()
        actors = {actor.id: actor for actor in rules.actors}
        shared: dict[object, object] = {}
        self._plans = [_plan(rule, actors, self.index, shared) for rule in rules.rules]
        by_pattern: dict[int, list[int]] = {}
        always: list[int] = []
        for position, plan in enumerate(self._plans):
            # Any one required group is necessary: index the rule under the rarest-looking.
            triggers = min(plan.required, key=self._commonness, default=None)
            if triggers is None:
                always.append(position)  # e.g. `none: [x]` alone: holds where nothing occurs
            for pattern_id in triggers or ():
                by_pattern.setdefault(pattern_id, []).append(position)
        self._rules_by_pattern = {key: tuple(value) for key, value in by_pattern.items()}
        self._always = tuple(always)
        #: True when some rule asks for spaCy entities: the annotator must run NER.
        self.needs_entities = any(
            leaf.entity_labels for plan in self._plans for leaf in plan.leaves
        )

    @property
    def plans(self) -> tuple[RulePlan, ...]:
        return tuple(self._plans)

    def plan(self, rule_id: str) -> RulePlan | None:
        return next((plan for plan in self._plans if plan.rule.id == rule_id), None)

    def candidates(self, found_patterns: Iterable[int]) -> list[RulePlan]:
        """The rules that may hold given the patterns found, in rule-set order."""
        positions = set(self._always)
        for pattern_id in found_patterns:
            positions.update(self._rules_by_pattern.get(pattern_id, ()))
        return [self._plans[position] for position in sorted(positions)]

    def _commonness(self, pattern_ids: tuple[int, ...]) -> float:
        # A guess without corpus statistics: one plain word is common, a phrase or an exact
        # acronym much rarer. A wrong guess costs speed only, never a missed match.
        patterns = self.index.patterns
        return sum(
            1.0 if len(patterns[i].words) == 1 and not patterns[i].is_exact else 0.2
            for i in pattern_ids
        )


def compile_rules(rules: RuleSet) -> CompiledRules:
    """Build the matcher for `rules`; do it once per rule set, not per article."""
    return CompiledRules(rules)


_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a clause's items inherit: the actors, the index, where hits count, the clause key.

    `shared` holds one copy of each equal leaf, node and small set across the whole rule set:
    100,000 generated rules compile to a third of the memory that way.
    """

    actors: dict[str, Actor]
    index: PatternIndex
    fields: frozenset[str]
    key: str
    shared: dict[object, object]
    inflect: tuple[str, ...]  # the languages whose inflected forms the rule's terms stand for

    def one(self, value: _T) -> _T:
        """The shared copy of `value`."""
        # Each value is stored under itself, so what comes back has the type of `value`.
        return cast(_T, self.shared.setdefault(value, value))


def _plan(
    rule: Rule, actors: dict[str, Actor], index: PatternIndex, shared: dict[object, object]
) -> RulePlan:
    inflect = _inflected_languages(rule)
    scope = _Scope(actors, index, frozenset(FIELDS), rule.clause.key, shared, inflect)
    fields = scope.one(_narrow(scope.fields, rule.fields))
    scope = _Scope(actors, index, fields, scope.key, shared, inflect)
    scoped: list[Node | Wanted] = []
    excluded: list[Node] = []
    for item in rule.clause.items:
        compiled = _compile_item(item, scope)
        if isinstance(compiled, Node) and compiled.op == "none":
            excluded.append(compiled)
        else:
            scoped.append(compiled)
    scoped_node = Node(rule.clause.op, tuple(scoped), rule.clause.key)
    return RulePlan(
        rule=rule,
        scoped=scoped_node,
        excluded=tuple(excluded),
        evidence=tuple(dict.fromkeys(evidence(scoped_node))),
        leaves=tuple(dict.fromkeys(leaves(scoped_node, *excluded))),
        languages=scope.one(frozenset(primary_language(code) for code in rule.languages)),
        sources=scope.one(frozenset(rule.sources)),
        required=tuple(scope.one(group) for group in _required(scoped_node)),
    )


def _inflected_languages(rule: Rule) -> tuple[str, ...]:
    """The lexicons a rule's terms are expanded with: its languages that have one, else French."""
    if not rule.languages:
        return (lexicon.DEFAULT_LANGUAGE,)
    wanted = {primary_language(code) for code in rule.languages}
    return tuple(sorted(code for code in lexicon.LANGUAGES if code in wanted))


def _narrow(outer: frozenset[str], inner: tuple[str, ...]) -> frozenset[str]:
    return outer & frozenset(inner) if inner else outer


def _compile_item(item: Term | ActorRef | Clause, scope: _Scope) -> Node | Wanted:
    if isinstance(item, Clause):
        fields = scope.one(_narrow(scope.fields, item.fields))
        inner = _Scope(scope.actors, scope.index, fields, item.key, scope.shared, scope.inflect)
        children = tuple(_compile_item(child, inner) for child in item.items)
        return scope.one(Node(item.op, children, item.key or scope.key))
    fields = scope.one(_narrow(scope.fields, item.fields))
    if isinstance(item, Term):
        pattern_id = scope.index.add(item.text, is_exact=item.is_exact, inflect=scope.inflect)
        ids: tuple[int, ...] = () if pattern_id is None else (pattern_id,)
        leaf = (item.text, None, ids, item.weight, fields, frozenset[str](), scope.key)
        return _shared_leaf(scope, leaf)
    actor = scope.actors.get(item.actor_id)
    if actor is None:  # rules.py refuses undefined actors; a hand-built RuleSet may not
        ghost = (item.actor_id, item.actor_id, (), item.weight, fields, frozenset[str](), scope.key)
        return _shared_leaf(scope, ghost)
    names = dict.fromkeys((actor.name, *actor.aliases))
    found = (scope.index.add(name, fuzzy=actor.fuzzy) for name in names)
    is_required = actor.require_entity if item.require_entity is None else item.require_entity
    labels = ENTITY_LABELS.get(actor.kind, frozenset()) if is_required else frozenset()
    ids = tuple(pattern_id for pattern_id in found if pattern_id is not None)
    return _shared_leaf(scope, (actor.name, actor.id, ids, item.weight, fields, labels, scope.key))


_LeafFields = tuple[str, str | None, tuple[int, ...], float, frozenset[str], frozenset[str], str]


def _shared_leaf(scope: _Scope, fields: _LeafFields) -> Wanted:
    """One Wanted per distinct leaf across the rule set (Wanted compares by identity)."""
    leaf = scope.shared.get(fields)
    if leaf is None:
        leaf = scope.shared[fields] = Wanted(*fields)
    assert isinstance(leaf, Wanted)
    return leaf


def leaves(*nodes: Node | Wanted) -> Iterator[Wanted]:
    """Every wanted item under `nodes`, in rule order."""
    for node in nodes:
        if isinstance(node, Wanted):
            yield node
        else:
            yield from leaves(*node.children)


def evidence(node: Node | Wanted) -> Iterator[Wanted]:
    """The wanted items outside any `none`: finding them is what a match shows."""
    if isinstance(node, Wanted):
        yield node
    elif node.op != "none":
        for child in node.children:
            yield from evidence(child)


def primary_language(language: str | None) -> str | None:
    """'fr-FR' -> 'fr'; None or '' -> None."""
    if not language:
        return None
    return language.replace("_", "-").split("-", 1)[0].strip().lower() or None


# --- triggers ------------------------------------------------------------------------------


def _required(node: Node | Wanted) -> Iterator[tuple[int, ...]]:
    """Groups of patterns of which at least one each must be found for `node` to hold."""
    if isinstance(node, Wanted):
        yield node.pattern_ids
    elif node.op == "all":
        for child in node.children:
            yield from _required(child)
    elif node.op == "any":
        triggers = _triggers(node)
        if triggers is not None:
            yield tuple(sorted(triggers))


def _triggers(node: Node | Wanted) -> frozenset[int] | None:
    """Patterns of which at least one must be found for `node` to hold; None if none needed."""
    if isinstance(node, Wanted):
        return frozenset(node.pattern_ids)
    if node.op == "none":
        return None
    parts = [_triggers(child) for child in node.children]
    if node.op == "any":
        if any(part is None for part in parts):
            return None
        return frozenset().union(*(part for part in parts if part is not None))
    # For an `all`, any one child's triggers are necessary; the fewest wake the fewest rules.
    needed = [part for part in parts if part is not None]
    return min(needed, key=len) if needed else None
