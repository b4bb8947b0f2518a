"""Compile one rule for matching: its patterns into the shared index, its clause into a tree of
wanted items, and the groups of patterns it cannot hold without.

Pure: no spaCy, no I/O. presearch.py chooses which of those groups wake the rule, compiled.py
puts the rule set together, evaluate.py judges what this builds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar, cast

from monitor.match import lexicon
from monitor.match.patterns import PatternIndex
from monitor.model import FIELDS, Actor, ActorRef, Clause, Rule, Term

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


_T = TypeVar("_T")
_NO_LABELS = frozenset[str]()
_ALL_FIELDS = frozenset(FIELDS)


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a clause's items inherit: the actors, the index, where hits count, the clause key.

    `shared` holds one copy of each equal leaf, node and small set across the whole rule set:
    100,000 generated rules compile to a third of the memory that way.
    """

    actors: Mapping[str, Actor]
    index: PatternIndex
    fields: frozenset[str]
    key: str
    shared: dict[object, object]
    inflect: tuple[str, ...]  # the languages whose inflected forms the rule's terms stand for

    def one(self, value: _T) -> _T:
        """The shared copy of `value`."""
        # Each value is stored under itself, so what comes back has the type of `value`.
        return cast(_T, self.shared.setdefault(value, value))


def plan_rule(
    rule: Rule, actors: Mapping[str, Actor], index: PatternIndex, shared: dict[object, object]
) -> RulePlan:
    """Compile one rule: its patterns go into `index`, equal leaves and sets into `shared`."""
    inflect = _inflected_languages(rule)
    scope = _Scope(actors, index, _ALL_FIELDS, rule.clause.key, shared, inflect)
    fields = _narrow(scope, rule.fields)
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
        evidence=tuple(dict.fromkeys(_collected(scoped_node, into=[], with_none=False))),
        leaves=tuple(dict.fromkeys(_collected(scoped_node, *excluded, into=[], with_none=True))),
        languages=scope.one(frozenset(primary_language(code) for code in rule.languages)),
        sources=scope.one(frozenset(rule.sources)),
    )


def _inflected_languages(rule: Rule) -> tuple[str, ...]:
    """The lexicons a rule's terms are expanded with: its languages that have one, else French."""
    if not rule.languages:
        return (lexicon.DEFAULT_LANGUAGE,)
    wanted = {primary_language(code) for code in rule.languages}
    return tuple(sorted(code for code in lexicon.LANGUAGES if code in wanted))


def _narrow(scope: _Scope, inner: tuple[str, ...]) -> frozenset[str]:
    # Most items narrow nothing: no new set to build and share.
    return scope.one(scope.fields & frozenset(inner)) if inner else scope.fields


def _compile_item(item: Term | ActorRef | Clause, scope: _Scope) -> Node | Wanted:
    if isinstance(item, Clause):
        fields = _narrow(scope, item.fields)
        inner = _Scope(scope.actors, scope.index, fields, item.key, scope.shared, scope.inflect)
        children = tuple([_compile_item(child, inner) for child in item.items])
        return scope.one(Node(item.op, children, item.key or scope.key))
    fields = _narrow(scope, item.fields)
    if isinstance(item, Term):
        pattern_id = scope.index.add(item.text, is_exact=item.is_exact, inflect=scope.inflect)
        ids: tuple[int, ...] = () if pattern_id is None else (pattern_id,)
        leaf = (item.text, None, ids, item.weight, fields, _NO_LABELS, scope.key)
        return _shared_leaf(scope, leaf)
    actor = scope.actors.get(item.actor_id)
    if actor is None:  # rules.py refuses undefined actors; a hand-built RuleSet may not
        ghost = (item.actor_id, item.actor_id, (), item.weight, fields, _NO_LABELS, scope.key)
        return _shared_leaf(scope, ghost)
    is_required = actor.require_entity if item.require_entity is None else item.require_entity
    labels = ENTITY_LABELS.get(actor.kind, _NO_LABELS) if is_required else _NO_LABELS
    ids = _alias_ids(actor, scope)
    return _shared_leaf(scope, (actor.name, actor.id, ids, item.weight, fields, labels, scope.key))


def _alias_ids(actor: Actor, scope: _Scope) -> tuple[int, ...]:
    """The pattern ids of the actor's name and aliases, worked out once per actor."""
    # Keyed by the whole actor: an edited actors.yaml gives the edited actor its own entry.
    known = scope.shared.get(actor)
    if isinstance(known, tuple):
        return known
    names = dict.fromkeys((actor.name, *actor.aliases))
    found = (scope.index.add(name, fuzzy=actor.fuzzy) for name in names)
    # Sorted: presearch.py takes a leaf's ids as the group of patterns it is found by.
    ids = tuple(sorted({pattern_id for pattern_id in found if pattern_id is not None}))
    scope.shared[actor] = ids
    return ids


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


def _collected(*nodes: Node | Wanted, into: list[Wanted], with_none: bool) -> list[Wanted]:
    """The leaves under `nodes` in rule order (those under a `none` too if `with_none`)."""
    for node in nodes:
        if isinstance(node, Wanted):
            into.append(node)
        elif with_none or node.op != "none":
            _collected(*node.children, into=into, with_none=with_none)
    return into


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
