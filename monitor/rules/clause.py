"""Say a rule's `match` clause in words, for the rule headings of digests and alerts.

e.g. "(JO 2024 or Jeux olympiques or … 3 more) and (sécurité or security), in one sentence;
none of billetterie". Pure: reads a RuleSet, returns plain text; no rendering here. The
connecting words are English msgids passed through the `gettext` it is given, so the
deliver stage's catalogs can word the clause in the subscription's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from monitor.model import ActorRef, Clause, Rule, RuleSet, Term

MAX_ITEMS_SHOWN = 4
MAX_CLAUSE_CHARS = 400

Translate = Callable[[str], str]


def _as_written(message: str) -> str:
    return message


def rule_clauses(
    rules: RuleSet, rule_ids: Iterable[str], *, gettext: Translate = _as_written
) -> tuple[tuple[str, str], ...]:
    """(rule id, clause in words) for each known rule in `rule_ids`: `Digest.rule_clauses`."""
    names = {actor.id: actor.name for actor in rules.actors}
    found = []
    for rule_id in sorted(set(rule_ids)):
        rule = rules.rule(rule_id)
        if rule is not None:
            found.append((rule_id, describe_rule(rule, names, gettext=gettext)))
    return tuple(found)


def describe_rule(
    rule: Rule, actor_names: Mapping[str, str], *, gettext: Translate = _as_written
) -> str:
    """The rule's clause in words, bounded to MAX_CLAUSE_CHARS."""
    say = _Wording(actor_names, gettext)
    wanted, unwanted = _split_none(rule.clause)
    and_ = " " + gettext("and") + " "
    text = and_.join(say.describe(item, nested=len(wanted) > 1) for item in wanted)
    if rule.near == "sentence":
        text = gettext("%(clause)s, in one sentence") % {"clause": text}
    elif isinstance(rule.near, int):
        text = gettext("%(clause)s, within %(count)d words") % {"clause": text, "count": rule.near}
    if unwanted:
        text = gettext("%(clause)s; none of %(items)s") % {
            "clause": text,
            "items": say.listed(unwanted, ", "),
        }
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


class _Wording:
    """Says items of a clause with one language's words and one table of actor names."""

    def __init__(self, actor_names: Mapping[str, str], gettext: Translate) -> None:
        self._actor_names = actor_names
        self._gettext = gettext

    def describe(self, item: Term | ActorRef | Clause, nested: bool) -> str:
        gettext = self._gettext
        if isinstance(item, Term):
            return gettext("“%(term)s”") % {"term": item.text} if item.is_exact else item.text
        if isinstance(item, ActorRef):
            return self._actor_names.get(item.actor_id, item.actor_id)
        if item.op == "none":
            return gettext("none of %(items)s") % {"items": self.listed(item.items, ", ")}
        joiner = " " + (gettext("or") if item.op == "any" else gettext("and")) + " "
        text = self.listed(item.items, joiner)
        return f"({text})" if nested and len(item.items) > 1 else text

    def listed(self, items: Iterable[Term | ActorRef | Clause], joiner: str) -> str:
        items = list(items)
        shown = [self.describe(item, nested=True) for item in items[:MAX_ITEMS_SHOWN]]
        hidden = len(items) - len(shown)
        text = joiner.join(shown)
        if hidden <= 0:
            return text
        gettext = self._gettext
        return gettext("%(items)s +%(count)d more") % {"items": text, "count": hidden}
