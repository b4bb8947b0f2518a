"""The rule language: read `rules/*.yaml` and `actors.yaml`, validate them, compile to `Rule`s.

Owns every message a user sees about a rule file (file:line, rule id, key). It must not match
articles or load spaCy. YAML is read with ruamel's round-trip loader, which knows line numbers
and never builds Python objects from tags.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from monitor.errors import RuleError, RuleSetError
from monitor.model import FIELDS, Actor, ActorRef, Clause, Priority, Rule, RuleSet, Term

MAX_FILE_BYTES = 1024 * 1024
ACTORS_FILES = ("actors.yaml", "actors.yml")
RULE_KEYS = ("id", "name", "priority", "languages", "sources", "tags", "fields", "match")
MATCH_KEYS = ("any", "all", "none", "near", "actors")
ACTOR_KEYS = ("id", "name", "type", "aliases")
ACTOR_TYPES = ("person", "org", "place")
CLAUSE_OPS = ("any", "all", "none")
ITEM_KEYS = ("exact", "actor", *CLAUSE_OPS)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HAS_WORD = re.compile(r"[^\W_]")

ClauseItem = Term | ActorRef | Clause


def load_rules(folder: Path) -> RuleSet:
    """Load and check every rule and actor in `folder`; raise `RuleSetError` listing all errors."""
    rule_set, errors = _read_folder(folder)
    if errors:
        raise RuleSetError(errors)
    return rule_set


def rule_errors(folder: Path) -> list[RuleError]:
    """Every error `load_rules(folder)` would report, in file order (empty when all is well)."""
    return _read_folder(folder)[1]


# --- the folder --------------------------------------------------------------------------


def _read_folder(folder: Path) -> tuple[RuleSet, list[RuleError]]:
    if not folder.is_dir():
        return RuleSet(rules=()), [RuleError("rules folder not found", path=str(folder))]
    errors: list[RuleError] = []
    actors, actor_ids = _read_actors_file(folder, errors)
    rules: list[Rule] = []
    first_seen: dict[str, str] = {}
    for path in _rule_files(folder):
        check = _Check(path=str(path), errors=errors, actor_ids=actor_ids)
        rule = _read_rule_file(path, check)
        if rule is None:
            continue
        if rule.id in first_seen:
            check.fail(
                _source_line(rule.source),
                f"duplicate rule id, already defined at {first_seen[rule.id]}",
                key="id",
            )
            continue
        first_seen[rule.id] = rule.source
        rules.append(rule)
    return RuleSet(rules=tuple(rules), actors=tuple(actors)), errors


def _rule_files(folder: Path) -> list[Path]:
    # Editors leave dot-files (".x.yaml.swp", ".#x.yaml") next to the real ones: skip them.
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in (".yaml", ".yml")
        and path.name not in ACTORS_FILES
        and not path.name.startswith(".")
        and path.is_file()
    )


def _source_line(source: str) -> int | None:
    line = source.rpartition(":")[2]
    return int(line) if line.isdigit() else None


# --- error collection and YAML access ----------------------------------------------------


@dataclass
class _Check:
    """The errors found so far, and what a message about the current file needs."""

    path: str
    errors: list[RuleError]
    actor_ids: frozenset[str] = frozenset()
    rule_id: str | None = None
    found: int = field(default=0)

    def fail(self, line: int | None, message: str, *, key: str | None = None) -> None:
        self.found += 1
        self.errors.append(
            RuleError(message, path=self.path, line=line, rule_id=self.rule_id, key=key)
        )


def _load_yaml(path: Path, check: _Check) -> object | None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        check.fail(None, f"file too large ({size} bytes, at most {MAX_FILE_BYTES})")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        check.fail(None, f"not utf-8 text (byte {exc.start}): save the file as utf-8")
        return None
    yaml = YAML(typ="rt")
    try:
        data: object = yaml.load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        problem = exc.problem or exc.context or "invalid yaml"
        check.fail(line, f"invalid yaml: {problem}")
    except ReaderError as exc:
        # Raised before parsing (control characters): it knows a character position only.
        line = text.count("\n", 0, exc.position) + 1
        check.fail(line, f"invalid yaml: {exc.reason} (character #x{exc.character:04x})")
    except YAMLError as exc:  # pragma: no cover - ruamel raises the two above when loading
        check.fail(None, f"invalid yaml: {exc}")
    else:
        return data
    return None


def _key_line(node: CommentedMap, key: str) -> int:
    return int(node.lc.key(key)[0]) + 1


def _value_line(node: CommentedMap, key: str) -> int:
    return int(node.lc.value(key)[0]) + 1


def _item_line(node: CommentedSeq, index: int) -> int:
    return int(node.lc.item(index)[0]) + 1


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a tagged value"


def _suggestion(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_keys(check: _Check, node: CommentedMap, allowed: tuple[str, ...], prefix: str) -> None:
    for key in node:
        if key not in allowed:
            name = f"{prefix}{key}"
            hint = _suggestion(str(key), allowed) or f" (expected one of {', '.join(allowed)})"
            check.fail(_key_line(node, key), f"unknown key{hint}", key=name)


def _text(check: _Check, node: CommentedMap, key: str, *, required: bool = True) -> str | None:
    if key not in node:
        if required:
            check.fail(node.lc.line + 1, f"missing key '{key}'")
        return None
    value = node[key]
    if not isinstance(value, str) or not value.strip():
        check.fail(
            _value_line(node, key), f"expected a non-empty string, got {_describe(value)}", key=key
        )
        return None
    return value.strip()


def _strings(check: _Check, node: CommentedMap, key: str) -> tuple[str, ...]:
    """A list of strings; a single string is read as a list of one."""
    if key not in node:
        return ()
    value = node[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        check.fail(
            _value_line(node, key), f"expected a list of strings, got {_describe(value)}", key=key
        )
        return ()
    return tuple(item.strip() for item in value if item.strip())


# --- actors ------------------------------------------------------------------------------


def _read_actors_file(folder: Path, errors: list[RuleError]) -> tuple[list[Actor], frozenset[str]]:
    path = next((folder / name for name in ACTORS_FILES if (folder / name).is_file()), None)
    if path is None:
        return [], frozenset()
    check = _Check(path=str(path), errors=errors)
    data = _load_yaml(path, check)
    if data is None:
        if not check.found:
            check.fail(None, "empty file: expected 'actors:' and a list of actors")
        return [], frozenset()
    if not isinstance(data, CommentedMap) or not isinstance(data.get("actors"), CommentedSeq):
        check.fail(1, "expected 'actors:' followed by a list of actors")
        return [], frozenset()
    _check_keys(check, data, ("actors",), "")
    entries = data["actors"]
    actors: list[Actor] = []
    ids: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, CommentedMap):
            check.fail(
                _item_line(entries, index), f"expected an actor mapping, got {_describe(entry)}"
            )
            continue
        actor_id = entry.get("id")
        if isinstance(actor_id, str) and actor_id in ids:
            check.fail(_value_line(entry, "id"), f"duplicate actor id '{actor_id}'", key="id")
            continue
        if isinstance(actor_id, str):
            # Known even if the entry is broken, so rules using it don't pile up more errors.
            ids.add(actor_id)
        actor = _read_actor(check, entry)
        if actor is not None:
            actors.append(actor)
    return actors, frozenset(ids)


def _read_actor(check: _Check, entry: CommentedMap) -> Actor | None:
    before = check.found
    _check_keys(check, entry, ACTOR_KEYS, "")
    actor_id = _text(check, entry, "id")
    if actor_id is not None and not _ID.match(actor_id):
        check.fail(
            _value_line(entry, "id"),
            f"invalid id '{actor_id}' (use letters, digits, - _ .)",
            key="id",
        )
    name = _text(check, entry, "name")
    kind = _text(check, entry, "type")
    if kind is not None and kind not in ACTOR_TYPES:
        check.fail(
            _value_line(entry, "type"),
            f"unknown actor type '{kind}' (expected person, org or place)",
            key="type",
        )
    aliases = _strings(check, entry, "aliases")
    for alias in aliases:
        if not _HAS_WORD.search(alias):
            check.fail(
                _value_line(entry, "aliases"), f"alias '{alias}' has no words", key="aliases"
            )
    if check.found > before or actor_id is None or name is None or kind is None:
        return None
    return Actor(
        id=actor_id,
        name=name,
        kind=kind,
        aliases=aliases,
        source=f"{check.path}:{entry.lc.line + 1}",
    )


# --- rules -------------------------------------------------------------------------------


def _read_rule_file(path: Path, check: _Check) -> Rule | None:
    data = _load_yaml(path, check)
    if check.found:
        return None
    if not isinstance(data, CommentedMap):
        check.fail(1, f"expected a rule mapping with id, name and match, got {_describe(data)}")
        return None
    raw_id = data.get("id")
    check.rule_id = raw_id if isinstance(raw_id, str) and raw_id.strip() else None
    _check_keys(check, data, RULE_KEYS, "")
    rule_id = _text(check, data, "id")
    if rule_id is not None and not _ID.match(rule_id):
        check.fail(
            _value_line(data, "id"),
            f"invalid id '{rule_id}' (use letters, digits, - _ .)",
            key="id",
        )
    name = _text(check, data, "name")
    priority = _read_priority(check, data)
    languages = tuple(language.lower() for language in _strings(check, data, "languages"))
    sources = _strings(check, data, "sources")
    tags = _strings(check, data, "tags")
    fields = _read_fields(check, data)
    compiled = _read_match(check, data)
    if check.found or rule_id is None or name is None or compiled is None:
        return None
    clause, near = compiled
    return Rule(
        id=rule_id,
        name=name,
        clause=clause,
        priority=priority,
        languages=languages,
        sources=sources,
        tags=tags,
        fields=fields,
        near=near,
        source=f"{check.path}:{_key_line(data, 'id')}",
    )


def _read_priority(check: _Check, data: CommentedMap) -> Priority:
    if "priority" not in data:
        return Priority.NORMAL
    value = data["priority"]
    try:
        if not isinstance(value, str):
            raise ValueError(f"expected low, normal or high, got {_describe(value)}")
        return Priority.parse(value)
    except ValueError as exc:
        check.fail(_value_line(data, "priority"), str(exc), key="priority")
        return Priority.NORMAL


def _read_fields(check: _Check, data: CommentedMap) -> tuple[str, ...]:
    names = _strings(check, data, "fields")
    for name in names:
        if name not in FIELDS:
            hint = _suggestion(name, FIELDS) or " (expected title, summary or body)"
            check.fail(_value_line(data, "fields"), f"unknown field '{name}'{hint}", key="fields")
    return names or FIELDS


def _read_match(check: _Check, data: CommentedMap) -> tuple[Clause, str | int | None] | None:
    if "match" not in data:
        check.fail(data.lc.line + 1, "missing key 'match'")
        return None
    node = data["match"]
    if not isinstance(node, CommentedMap):
        check.fail(
            _value_line(data, "match"), f"expected a mapping, got {_describe(node)}", key="match"
        )
        return None
    _check_keys(check, node, MATCH_KEYS, "match.")
    parts: list[Clause] = []
    for key in node:
        if key in CLAUSE_OPS:
            items = _read_items(check, node[key], f"match.{key}", _value_line(node, key))
            parts.append(Clause(op=str(key), items=items))
        elif key == "actors":
            parts.extend(_read_actor_clauses(check, node))
    if not parts and not check.found:
        check.fail(
            _key_line(data, "match"), "empty match: give any, all, none or actors", key="match"
        )
    near = _read_near(check, node)
    return Clause(op="all", items=tuple(parts)), near


def _read_near(check: _Check, node: CommentedMap) -> str | int | None:
    if "near" not in node:
        return None
    value = node["near"]
    if value == "sentence":
        return "sentence"
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    check.fail(
        _value_line(node, "near"),
        f"expected 'sentence' or a number of words, got {_describe(value)} '{value}'",
        key="match.near",
    )
    return None


def _read_actor_clauses(check: _Check, node: CommentedMap) -> Iterator[Clause]:
    value = node["actors"]
    line = _value_line(node, "actors")
    if isinstance(value, list):
        # `actors: [a, b]` is shorthand for `actors: {any: [a, b]}`.
        value = {"any": value}
    if not isinstance(value, dict):
        check.fail(
            line,
            f"expected a mapping like {{any: [...]}}, got {_describe(value)}",
            key="match.actors",
        )
        return
    if isinstance(value, CommentedMap):
        _check_keys(check, value, CLAUSE_OPS, "match.actors.")
    for op, ids in value.items():
        if op not in CLAUSE_OPS:
            continue
        ids_line = _value_line(value, op) if isinstance(value, CommentedMap) else line
        refs = _read_actor_ids(check, ids, f"match.actors.{op}", ids_line)
        if refs:
            yield Clause(op=str(op), items=refs)


def _read_actor_ids(check: _Check, ids: object, key: str, line: int) -> tuple[ActorRef, ...]:
    if not isinstance(ids, list) or not ids:
        check.fail(line, f"expected a non-empty list of actor ids, got {_describe(ids)}", key=key)
        return ()
    refs = []
    for index, actor_id in enumerate(ids):
        item_line = _item_line(ids, index) if isinstance(ids, CommentedSeq) else line
        ref = _actor_ref(check, actor_id, f"{key}[{index}]", item_line)
        if ref is not None:
            refs.append(ref)
    return tuple(refs)


def _actor_ref(check: _Check, actor_id: object, key: str, line: int) -> ActorRef | None:
    if not isinstance(actor_id, str):
        check.fail(line, f"expected an actor id, got {_describe(actor_id)}", key=key)
        return None
    if actor_id not in check.actor_ids:
        hint = _suggestion(actor_id, tuple(sorted(check.actor_ids)))
        check.fail(line, f"undefined actor '{actor_id}' (declare it in actors.yaml){hint}", key=key)
        return None
    return ActorRef(actor_id=actor_id)


def _read_items(check: _Check, value: object, key: str, line: int) -> tuple[ClauseItem, ...]:
    if not isinstance(value, list):
        check.fail(line, f"expected a list, got {_describe(value)}", key=key)
        return ()
    if not value:
        check.fail(line, "empty clause: list at least one term", key=key)
        return ()
    items: list[ClauseItem] = []
    for index, item in enumerate(value):
        item_line = _item_line(value, index) if isinstance(value, CommentedSeq) else line
        compiled = _read_item(check, item, f"{key}[{index}]", item_line)
        if compiled is not None:
            items.append(compiled)
    return tuple(items)


def _read_item(check: _Check, item: object, key: str, line: int) -> ClauseItem | None:
    if isinstance(item, int | float) and not isinstance(item, bool):
        item = str(item)  # `- 2024` is a number to YAML but a term to the user
    if isinstance(item, str):
        return _term(check, item, key, line, is_exact=False)
    if not isinstance(item, dict) or len(item) != 1:
        check.fail(
            line,
            f"expected a term, {{exact: ...}}, {{actor: ...}} or {{any|all|none: [...]}}, "
            f"got {_describe(item)}",
            key=key,
        )
        return None
    ((name, value),) = item.items()
    if name == "exact":
        if not isinstance(value, str):
            check.fail(line, f"expected a string, got {_describe(value)}", key=f"{key}.exact")
            return None
        return _term(check, value, f"{key}.exact", line, is_exact=True)
    if name == "actor":
        return _actor_ref(check, value, f"{key}.actor", line)
    if name in CLAUSE_OPS:
        return Clause(op=str(name), items=_read_items(check, value, f"{key}.{name}", line))
    check.fail(line, f"unknown key{_suggestion(str(name), ITEM_KEYS)}", key=f"{key}.{name}")
    return None


def _term(check: _Check, text: str, key: str, line: int, *, is_exact: bool) -> Term | None:
    if not _HAS_WORD.search(text):
        check.fail(line, f"term '{text}' has no words to look for", key=key)
        return None
    return Term(text=text.strip(), is_exact=is_exact)
