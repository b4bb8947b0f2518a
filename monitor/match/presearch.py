"""Which rules an article wakes: each rule keyed on its rarest required branch, gated by the next.

Like Lucene Monitor's presearcher, a rule is indexed under the patterns of one branch it cannot
hold without (the rarest by document frequency, frequency.py), and woken only when the article
also has a pattern of each other such branch (the second one acts as a pair key). Rules that
require nothing sit in an explicit ALWAYS bucket. Only rules that cannot hold are skipped: a
wrong frequency costs speed, never a match. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from monitor.match.plan import Node, RulePlan, Wanted, evidence

# A required branch of a rule: the patterns of which at least one must be found, sorted.
Group = tuple[int, ...]
# The share of articles a pattern may occur in (frequency.pattern_share, looked up by id).
ShareOf = Callable[[int], float]
# An anchor above this share wakes its rule on many articles: the second branch (the pair
# key) is what keeps it asleep.
COMMON_SHARE = 0.05


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


class AnchorChooser:
    """Chooses anchors against one table of pattern shares; a leaf's share is summed once."""

    __slots__ = ("_leaves", "_share_of")

    def __init__(self, share_of: ShareOf) -> None:
        self._share_of = share_of
        self._leaves: dict[Wanted, float] = {}

    def anchor(self, plan: RulePlan) -> Anchor:
        """The rule's required branches, rarest first (docs/decisions.md#presearch)."""
        groups = {group: share for share, group in self._required(plan.scoped)}
        scored = _scored_group(plan, self.leaf_share, self._share_of)
        if scored is not None:
            groups.setdefault(scored[1], scored[0])
        ranked = sorted(groups.items(), key=lambda item: (item[1], len(item[0])))
        return Anchor(tuple(group for group, _ in ranked), tuple(share for _, share in ranked))

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

    __slots__ = ("_always", "_by_pattern", "_rest")

    def __init__(self, anchors: Sequence[Anchor]) -> None:
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

    @property
    def always(self) -> tuple[int, ...]:
        """The positions of the rules every article wakes."""
        return self._always

    def woken(self, found: Collection[int]) -> list[int]:
        """The positions of the rules whose every required branch has a pattern in `found`."""
        positions = set(self._always)
        rest = self._rest
        for pattern_id in found:
            pairs = self._by_pattern.get(pattern_id)
            if pairs is None:
                continue
            for second, woken in pairs.items():
                if second and all(other not in found for other in second):
                    continue
                for position in woken:
                    others = rest.get(position)
                    if others is None or all(_has_one(group, found) for group in others):
                        positions.add(position)
        return sorted(positions)


def _has_one(group: Group, found: Collection[int]) -> bool:
    return any(pattern_id in found for pattern_id in group)
