"""One rule file's data → a `Rule`: the rule keys, its match clauses, every message about them.

Owns the rule-level keys and checks (id, name, priority, languages, min_score, match, near);
items are items.py's, actors actors.py's, `spike:` spike.py's. It works on data already
parsed (files.py) and knows the declared actor ids through its `FileCheck`; it must not read
files or match articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from monitor.model import FIELDS, Clause, Priority, Rule
from monitor.rules.files import (
    FileCheck,
    check_keys,
    describe,
    id_value,
    key_line,
    number,
    strings,
    text_value,
    value_line,
)
from monitor.rules.items import CLAUSE_OPS, ItemReader, read_fields
from monitor.rules.spike import read_spike
from monitor.yamldoc import LineMap

__all__ = ["MATCH_KEYS", "RULE_KEYS", "read_rule"]

RULE_KEYS = (
    "id",
    "name",
    "priority",
    "languages",
    "sources",
    "tags",
    "fields",
    "min_score",
    "match",
    "spike",
)
MATCH_KEYS = ("any", "all", "none", "near", "actors")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


# --- one rule ------------------------------------------------------------------------------


def read_rule(data: object, check: FileCheck) -> Rule | None:
    """The rule in one file's YAML data, or None with every problem recorded in `check`."""
    if not isinstance(data, LineMap):
        check.fail(1, f"expected a rule mapping with id, name and match, got {describe(data)}")
        return None
    raw_id = data.get("id")
    check.rule_id = raw_id if isinstance(raw_id, str) and raw_id.strip() else None
    check_keys(check, data, RULE_KEYS, "", 1)
    rule_id = id_value(check, data)
    name = text_value(check, data, "name")
    priority = _read_priority(check, data)
    languages = _read_languages(check, data)
    fields = read_fields(check, data, "fields", FIELDS) or FIELDS
    sources = strings(check, data, "sources")
    tags = strings(check, data, "tags")
    min_score = _read_min_score(check, data)
    compiled = _read_match(check, data, fields)
    spike = read_spike(check, data)
    if check.found or rule_id is None or name is None or compiled is None:
        return None
    clause, near = compiled
    rule = Rule(
        id=rule_id,
        name=name,
        clause=clause,
        priority=priority,
        languages=languages,
        sources=sources,
        tags=tags,
        fields=fields,
        near=near,
        source=f"{check.path}:{key_line(data, 'id')}",
        min_score=min_score,
        spike=spike,
    )
    _check_reachable_score(check, data, rule)
    return None if check.found else rule


def _read_priority(check: FileCheck, data: LineMap) -> Priority:
    if "priority" not in data:
        return Priority.NORMAL
    value = data["priority"]
    try:
        if not isinstance(value, str):
            raise ValueError(f"expected low, normal or high, got {describe(value)}")
        return Priority.parse(value)
    except ValueError as exc:
        check.fail(value_line(data, "priority"), str(exc), key="priority")
        return Priority.NORMAL


def _read_languages(check: FileCheck, data: LineMap) -> tuple[str, ...]:
    codes = tuple(code.lower() for code in strings(check, data, "languages"))
    for code in codes:
        if not _LANGUAGE.match(code):
            check.fail(
                value_line(data, "languages"),
                f"unknown language '{code}' (expected a code such as fr, en or fr-FR)",
                key="languages",
            )
    return codes


def _read_min_score(check: FileCheck, data: LineMap) -> float | None:
    if "min_score" not in data:
        return None
    line = value_line(data, "min_score")
    return number(check, data["min_score"], line, "min_score", low=0.0, high=None)


def _check_reachable_score(check: FileCheck, data: LineMap, rule: Rule) -> None:
    if rule.min_score is None:
        return
    best = sum(_weights(rule.clause))
    if rule.min_score > best:
        check.fail(
            value_line(data, "min_score"),
            f"min_score {rule.min_score:g} can never be reached: the items this rule looks "
            f"for weigh {best:g} in all (expected at most {best:g})",
            key="min_score",
        )


def _weights(clause: Clause) -> Iterator[float]:
    """The weight of each item a match can show (items under `none` are never shown)."""
    if clause.op == "none":
        return
    for item in clause.items:
        if isinstance(item, Clause):
            yield from _weights(item)
        else:
            yield item.weight


# --- match ---------------------------------------------------------------------------------


def _read_match(
    check: FileCheck, data: LineMap, fields: tuple[str, ...]
) -> tuple[Clause, str | int | None] | None:
    if "match" not in data:
        check.fail(data.line, "missing (expected any, all, none or actors)", key="match")
        return None
    node = data["match"]
    if not isinstance(node, LineMap):
        check.fail(
            value_line(data, "match"), f"expected a mapping, got {describe(node)}", key="match"
        )
        return None
    check_keys(check, node, MATCH_KEYS, "match.", key_line(data, "match"))
    reader = ItemReader(check, fields)
    parts: list[Clause] = []
    for key in node:
        if key in CLAUSE_OPS:
            path = f"match.{key}"
            items = reader.items(node[key], path, value_line(node, key), depth=1)
            parts.append(Clause(op=str(key), items=items, key=path))
        elif key == "actors":
            parts.extend(reader.actor_clauses(node))
    if not parts and not check.found:
        check.fail(
            key_line(data, "match"), "empty match: give any, all, none or actors", key="match"
        )
    return Clause(op="all", items=tuple(parts), key="match"), _read_near(check, node)


def _read_near(check: FileCheck, node: LineMap) -> str | int | None:
    if "near" not in node:
        return None
    value = node["near"]
    if value == "sentence":
        return "sentence"
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    check.fail(
        value_line(node, "near"),
        f"expected 'sentence' or a number of words, got {describe(value)} '{value}'",
        key="match.near",
    )
    return None
