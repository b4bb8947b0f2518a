"""Say a rule's `match` clause in words, for the rule headings of digests and alerts.

e.g. "(JO 2024 or Jeux olympiques or … 3 more) and (sécurité or security), in one sentence;
none of billetterie". Pure: reads a RuleSet, returns plain text; no rendering here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.model import ActorRef, Clause, Rule, RuleSet, Term

MAX_ITEMS_SHOWN = 4
MAX_CLAUSE_CHARS = 400


def rule_clauses(rules: RuleSet, rule_ids: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(rule id, clause in words) for each known rule in `rule_ids`: `Digest.rule_clauses`."""
    names = {actor.id: actor.name for actor in rules.actors}
    found = []
    for rule_id in sorted(set(rule_ids)):
        rule = rules.rule(rule_id)
        if rule is not None:
            found.append((rule_id, describe_rule(rule, names)))
    return tuple(found)


def describe_rule(rule: Rule, actor_names: Mapping[str, str]) -> str:
    """The rule's clause in words, bounded to MAX_CLAUSE_CHARS."""
    wanted, unwanted = _split_none(rule.clause)
    text = " and ".join(_describe(item, actor_names, nested=len(wanted) > 1) for item in wanted)
    if rule.near == "sentence":
        text += ", in one sentence"
    elif isinstance(rule.near, int):
        text += f", within {rule.near} words"
    if unwanted:
        text += "; none of " + _listed(unwanted, actor_names, ", ")
    if len(text) > MAX_CLAUSE_CHARS:
        text = text[: MAX_CLAUSE_CHARS - 1].rstrip() + "…"
    return text


def _split_none(clause: Clause) -> tuple[list[Term | ActorRef | Clause], list[Term | ActorRef]]:
    """The top-level 'all' flattened into what is wanted and what is excluded."""
    wanted: list[Term | ActorRef | Clause] = []
    unwanted: list[Term | ActorRef] = []
    pending: list[Term | ActorRef | Clause] = list(clause.items) if clause.op == "all" else [clause]
    while pending:
        item = pending.pop(0)
        if isinstance(item, Clause) and item.op == "all":
            pending[0:0] = item.items
        elif isinstance(item, Clause) and item.op == "none":
            unwanted.extend(sub for sub in item.items if not isinstance(sub, Clause))
        else:
            wanted.append(item)
    return wanted, unwanted


def _describe(item: Term | ActorRef | Clause, actor_names: Mapping[str, str], nested: bool) -> str:
    if isinstance(item, Term):
        return f"“{item.text}”" if item.is_exact else item.text
    if isinstance(item, ActorRef):
        return actor_names.get(item.actor_id, item.actor_id)
    if item.op == "none":
        return "none of " + _listed(item.items, actor_names, ", ")
    joiner = " or " if item.op == "any" else " and "
    text = _listed(item.items, actor_names, joiner)
    return f"({text})" if nested and len(item.items) > 1 else text


def _listed(
    items: Iterable[Term | ActorRef | Clause], actor_names: Mapping[str, str], joiner: str
) -> str:
    items = list(items)
    shown = [_describe(item, actor_names, nested=True) for item in items[:MAX_ITEMS_SHOWN]]
    hidden = len(items) - len(shown)
    text = joiner.join(shown)
    return f"{text} +{hidden} more" if hidden > 0 else text
