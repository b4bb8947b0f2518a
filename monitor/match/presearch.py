"""Which rules an article wakes: each rule keyed on its rarest required branch, gated by the next.

Like Lucene Monitor's presearcher, a rule is indexed under the patterns of one branch it cannot
hold without (the rarest by document frequency, frequency.py), and woken only when the article
also has a pattern of each other such branch (the second one acts as a pair key). A rule's
`sources` are one more such branch, of keys that stand for feeds (compiled.py gives each a
negative id and the article its own). Rules that require nothing sit in an explicit ALWAYS
bucket. Then a `Gate` checks, on where the patterns were found, what makes most woken rules
fail: the weight `min_score` needs, and `near` branches found in one sentence or N words apart.
Only rules that cannot hold are skipped: a wrong frequency costs speed, never a match. Pure: no
I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from monitor.match.patterns import Spot
from monitor.match.plan import Node, RulePlan, Wanted, evidence

# A required branch of a rule: the patterns of which at least one must be found, sorted.
Group = tuple[int, ...]
# The share of articles a pattern may occur in (frequency.pattern_share, looked up by id).
ShareOf = Callable[[int], float]
# The key of a feed named in `sources:` (compiled.py hands them out).
SourceKey = Callable[[str], int]
# An anchor above this share wakes its rule on many articles: the second branch (the pair
# key) is what keeps it asleep.
COMMON_SHARE = 0.05
# The share of articles one feed is guessed to publish: the counts are of words, not feeds.
SOURCE_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class Anchor:
    """Why a rule wakes: its rarest required branch, then the others it must also find."""

    groups: tuple[Group, ...]  # rarest first; empty: the rule requires nothing (ALWAYS)
    shares: tuple[float, ...]  # the share of articles each group may occur in

    @property
    def is_always(self) -> bool:
        return not self.groups

    @property
    def share(self) -> float:
        """The share of articles that wake the rule on its anchor alone (1.0 for ALWAYS)."""
        return self.shares[0] if self.shares else 1.0


@dataclass(frozen=True, slots=True)
class Gate:
    """What a woken rule must also show where its patterns were found, or it cannot hold.

    Both are upper bounds of what evaluation asks (docs/decisions.md#presearch): the score
    counts at most the positive weight of the leaves found anywhere, and under `near` each
    branch in `together` has a pattern in the sentence, or the N-word window, that holds.
    """

    minimum: float | None  # the rule's min_score
    weighted: tuple[tuple[Group, float], ...]  # each evidence leaf's patterns, positive weight
    near: str | int | None  # the rule's `near`, None when `together` has fewer than 2 branches
    together: tuple[Group, ...]  # the branches `near` must find in one place

    def admits(self, found: Mapping[int, Sequence[Spot]]) -> bool:
        """Whether the patterns `found`, with where they were, leave the rule a chance."""
        if self.minimum is not None:
            weight = 0.0
            for group, leaf_weight in self.weighted:
                if any(pattern_id in found for pattern_id in group):
                    weight += leaf_weight
            if weight < self.minimum:
                return False
        if self.near is None:
            return True
        places = [[spot for p in group for spot in found.get(p, ())] for group in self.together]
        places.sort(key=len)
        if self.near == "sentence":
            return _one_sentence(places)
        return _within(places, int(self.near))


def _one_sentence(places: list[list[Spot]]) -> bool:
    """Whether one sentence of one field holds a spot of each list."""
    shared = {(spot.field, spot.sentence) for spot in places[0]}
    for spots in places[1:]:
        shared.intersection_update((spot.field, spot.sentence) for spot in spots)
        if not shared:
            return False
    return True


def _within(places: list[list[Spot]], words: int) -> bool:
    """Whether a spot of the first list has a spot of each other list at most `words` words
    away in its field: a window of `words` words holding them all needs that much."""
    return any(
        all(
            any(
                other.field == spot.field and abs(other.first_word - spot.first_word) <= words
                for other in spots
            )
            for spots in places[1:]
        )
        for spot in places[0]
    )


class AnchorChooser:
    """Chooses anchors against one table of pattern shares; a leaf's share is summed once."""

    __slots__ = ("_leaves", "_share_of", "_source_key")

    def __init__(self, share_of: ShareOf, source_key: SourceKey | None = None) -> None:
        self._share_of = share_of
        self._source_key = source_key
        self._leaves: dict[Wanted, float] = {}

    def anchor(self, plan: RulePlan) -> Anchor:
        """The rule's required branches, rarest first (docs/decisions.md#presearch)."""
        groups = {group: share for share, group in self._required(plan.scoped)}
        scored = _scored_group(plan, self.leaf_share, self._share_of)
        if scored is not None:
            groups.setdefault(scored[1], scored[0])
        if plan.sources and self._source_key is not None:
            keys = tuple(sorted(self._source_key(source) for source in plan.sources))
            groups.setdefault(keys, min(1.0, SOURCE_SHARE * len(keys)))
        ranked = sorted(groups.items(), key=lambda item: (item[1], len(item[0])))
        return Anchor(tuple(group for group, _ in ranked), tuple(share for _, share in ranked))

    def gate(self, plan: RulePlan) -> Gate | None:
        """The checks on where patterns were found that the rule needs, or None if none help."""
        minimum = plan.rule.min_score
        weighted = tuple(
            (leaf.pattern_ids, leaf.weight) for leaf in plan.evidence if leaf.weight > 0
        )
        near = plan.rule.near
        together = tuple(dict.fromkeys(group for _, group in self._required(plan.scoped)))
        if near is None or len(together) < 2:
            near, together = None, ()
        if minimum is None and near is None:
            return None
        return Gate(minimum, weighted if minimum is not None else (), near, together)

    def leaf_share(self, leaf: Wanted) -> float:
        share = self._leaves.get(leaf)
        if share is None:
            share = self._leaves[leaf] = _group_share(leaf.pattern_ids, self._share_of)
        return share

    def _required(self, node: Node | Wanted) -> list[tuple[float, Group]]:
        """The branches `node` cannot hold without, each with its share.

        An `all` needs every child's branches; an `any` needs, of each child, at least that
        child's rarest branch, so it costs their sum; a `none` needs nothing.
        """
        if isinstance(node, Wanted):
            return [(self.leaf_share(node), node.pattern_ids)]
        if node.op == "none":
            return []
        if node.op == "all":
            needed: list[tuple[float, Group]] = []
            for child in node.children:
                needed += self._required(child)
            return needed
        share, union = 0.0, set[int]()
        for child in node.children:
            part = self._required(child)
            if not part:
                return []  # a branch that needs nothing holds the `any` alone
            rarest = min(part)
            share += rarest[0]
            union.update(rarest[1])
        return [(min(1.0, share), tuple(sorted(union)))]


def choose_anchor(plan: RulePlan, share_of: ShareOf) -> Anchor:
    """The rule's required branches, rarest first, for one rule alone."""
    return AnchorChooser(share_of).anchor(plan)


def _group_share(group: Collection[int], share_of: ShareOf) -> float:
    return min(1.0, sum(share_of(pattern_id) for pattern_id in group))


def _scored_group(
    plan: RulePlan, leaf_share: Callable[[Wanted], float], share_of: ShareOf
) -> tuple[float, Group] | None:
    """With `min_score`, the rarest leaves the score cannot reach the minimum without.

    If none of a set of leaves is found, the score is at most the positive weight of the other
    leaves; when that is below `min_score`, one of the set must be found. The commonest leaves
    are left out of the set while that still holds.
    """
    minimum = plan.rule.min_score
    if minimum is None:
        return None
    found = list(evidence(plan.scoped))
    slack = sum(max(0.0, leaf.weight) for leaf in found) - minimum
    kept = sorted(found, key=leaf_share)
    weight = sum(max(0.0, leaf.weight) for leaf in kept)
    while kept and weight - max(0.0, kept[-1].weight) > slack:
        weight -= max(0.0, kept.pop().weight)
    if weight <= slack:
        return None  # the rest can reach the minimum alone: nothing more is required
    group = tuple(sorted({pattern_id for leaf in kept for pattern_id in leaf.pattern_ids}))
    return _group_share(group, share_of), group


class WakeIndex:
    """Rule positions by anchor pattern and pair key; `woken(found)` per article."""

    __slots__ = ("_always", "_by_pattern", "_gates", "_rest")

    def __init__(self, anchors: Sequence[Anchor], gates: Sequence[Gate | None] = ()) -> None:
        by_pattern: dict[int, dict[Group, list[int]]] = {}
        rest: dict[int, tuple[Group, ...]] = {}
        always: list[int] = []
        for position, anchor in enumerate(anchors):
            if anchor.is_always:
                always.append(position)  # e.g. `none: [x]` alone: holds where nothing occurs
                continue
            first, *after = anchor.groups
            second = after[0] if after else ()
            if len(after) > 1:
                rest[position] = tuple(after[1:])
            for pattern_id in first:
                by_pattern.setdefault(pattern_id, {}).setdefault(second, []).append(position)
        self._by_pattern = {
            key: {second: tuple(positions) for second, positions in pairs.items()}
            for key, pairs in by_pattern.items()
        }
        self._rest = rest
        self._always = tuple(always)
        self._gates = {position: gate for position, gate in enumerate(gates) if gate is not None}

    @property
    def always(self) -> tuple[int, ...]:
        """The positions of the rules every article wakes."""
        return self._always

    def woken(self, found: Collection[int]) -> list[int]:
        """The positions of the rules whose every required branch has a pattern in `found`.

        When `found` maps each pattern to its spots, the rules' gates are checked too.
        """
        positions = set(self._always)
        seen: set[int] = set()
        rest = self._rest
        located = found if isinstance(found, Mapping) else None
        gates = self._gates if located is not None else {}
        for pattern_id in found:
            pairs = self._by_pattern.get(pattern_id)
            if pairs is None:
                continue
            for second, woken in pairs.items():
                if second and all(other not in found for other in second):
                    continue
                for position in woken:
                    if position in seen:
                        continue  # anchored on several patterns of the article: judged once
                    seen.add(position)
                    others = rest.get(position)
                    if others is not None and not all(_has_one(g, found) for g in others):
                        continue
                    gate = gates.get(position)
                    if gate is None or (located is not None and gate.admits(located)):
                        positions.add(position)
        return sorted(positions)


def _has_one(group: Group, found: Collection[int]) -> bool:
    return any(pattern_id in found for pattern_id in group)
