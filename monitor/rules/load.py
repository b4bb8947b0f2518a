"""The rule language: read `rules/*.yaml` (one rule per file) and validate them into `Rule`s.

Owns every message a user sees about a rule file: file:line, rule id, key, what was expected.
It must not match articles or load spaCy. Reading YAML safely is rulefile.py's job, actors are
actors.py's; this module checks rules against the actors declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from monitor.errors import RuleError, RuleSetError
from monitor.model import FIELDS, ActorRef, Clause, Priority, Rule, RuleSet, Term
from monitor.rules.actors import ACTOR_KEYS, ACTOR_TYPES, ACTORS_FILES, read_actors
from monitor.rules.files import (
    FileCheck,
    check_keys,
    describe,
    id_value,
    key_line,
    load_yaml,
    number,
    strings,
    text_value,
    value_line,
)
from monitor.rules.items import CLAUSE_OPS, ITEM_KEYS, ItemReader, read_fields
from monitor.yamldoc import LineMap

__all__ = [
    "ACTOR_KEYS",
    "ACTOR_TYPES",
    "CLAUSE_OPS",
    "ITEM_KEYS",
    "MATCH_KEYS",
    "RULE_KEYS",
    "load_rules",
    "needs_entities",
    "rule_errors",
]

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
)
MATCH_KEYS = ("any", "all", "none", "near", "actors")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def load_rules(folder: Path) -> RuleSet:
    """Load and check every rule and actor in `folder`; raise `RuleSetError` listing all errors."""
    rule_set, errors = _read_folder(folder)
    if errors:
        raise RuleSetError(errors)
    return rule_set


def rule_errors(folder: Path) -> list[RuleError]:
    """Every error `load_rules(folder)` would report, in file order (empty when all is well)."""
    return _read_folder(folder)[1]


def needs_entities(rules: RuleSet) -> bool:
    """Whether some rule asks for spaCy entity labels: only then must the annotator run NER."""
    actors = {actor.id: actor for actor in rules.actors}

    def asks(item: Term | ActorRef | Clause) -> bool:
        if isinstance(item, Clause):
            return any(asks(child) for child in item.items)
        if isinstance(item, ActorRef):
            actor = actors.get(item.actor_id)
            default = actor is not None and actor.require_entity
            return default if item.require_entity is None else item.require_entity
        return False

    return any(asks(rule.clause) for rule in rules.rules)


def _read_folder(folder: Path) -> tuple[RuleSet, list[RuleError]]:
    if not folder.is_dir():
        return RuleSet(rules=()), [RuleError("rules folder not found", path=str(folder))]
    errors: list[RuleError] = []
    actors, actor_ids = read_actors(folder, errors)
    rules: list[Rule] = []
    first_seen: dict[str, str] = {}
    for path in rule_files(folder):
        check = FileCheck(path=str(path), errors=errors, actor_ids=actor_ids)
        rule = _read_rule_file(path, check)
        if rule is None:
            continue
        if rule.id in first_seen:
            check.fail(
                _source_line(rule.source),
                f"duplicate rule id, already defined at {first_seen[rule.id]} (ids must be unique)",
                key="id",
            )
            continue
        first_seen[rule.id] = rule.source
        rules.append(rule)
    return RuleSet(rules=tuple(rules), actors=tuple(actors)), errors


def rule_files(folder: Path) -> list[Path]:
    """The rule files in `folder` that `load_rules` reads (actors.yaml apart)."""
    # Editors leave dot-files (".x.yaml.swp", ".#x.yaml") next to the real ones: skip them.
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in (".yaml", ".yml")
        and path.name not in ACTORS_FILES
        and not path.name.startswith(".")
        # Not is_file(): a pipe or device named *.yaml is reported, not skipped silently.
        and not path.is_dir()
    )


def _source_line(source: str) -> int | None:
    line = source.rpartition(":")[2]
    return int(line) if line.isdigit() else None


# --- one rule ------------------------------------------------------------------------------


def _read_rule_file(path: Path, check: FileCheck) -> Rule | None:
    data = load_yaml(path, check)
    if check.found:
        return None
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


def rule_file_texts(folder: Path) -> dict[str, str]:
    """The text of every regular file `load_rules(folder)` reads, actors included, by name."""
    paths = [*rule_files(folder), *(folder / name for name in ACTORS_FILES)]
    return {path.name: path.read_text(encoding="utf-8") for path in paths if path.is_file()}
