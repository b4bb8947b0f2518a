"""Read `rules/actors.yaml`: the people, organisations and places rules refer to by id.

Owns the actor keys and every message about them (file:line, key, what was expected). It works
on parsed data and must not read files or match anything; load.py reads actors.yaml first so
rules can check their refs.
"""

from __future__ import annotations

from monitor.model import Actor
from monitor.rules.files import (
    FileCheck,
    check_keys,
    describe,
    id_value,
    item_line,
    number,
    strings,
    text_value,
    value_line,
)
from monitor.text import has_words
from monitor.yamldoc import LineList, LineMap

ACTORS_FILES = ("actors.yaml", "actors.yml")
ACTOR_KEYS = ("id", "name", "type", "aliases", "require_entity", "fuzzy")
ACTOR_TYPES = ("person", "org", "place")
# Below this similarity, names that merely share letters start to match ("Veaux"/"Vaux").
MIN_FUZZY = 0.5


def read_actors_data(data: object, check: FileCheck) -> tuple[list[Actor], frozenset[str]]:
    """The valid actors in actors.yaml's parsed `data`, and every declared id."""
    if data is None:
        if not check.found:
            check.fail(None, "empty file: expected 'actors:' and a list of actors")
        return [], frozenset()
    entries = data.get("actors") if isinstance(data, LineMap) else None
    if not isinstance(data, LineMap) or not isinstance(entries, LineList):
        check.fail(1, "expected 'actors:' followed by a list of actors", key="actors")
        return [], frozenset()
    check_keys(check, data, ("actors",), "", 1)
    return _read_entries(check, entries)


def _read_entries(check: FileCheck, entries: LineList) -> tuple[list[Actor], frozenset[str]]:
    actors: list[Actor] = []
    ids: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, LineMap):
            check.fail(
                item_line(entries, index, 1),
                f"expected an actor mapping with id, name and type, got {describe(entry)}",
                key=f"actors[{index}]",
            )
            continue
        actor_id = entry.get("id")
        if isinstance(actor_id, str) and actor_id in ids:
            check.fail(value_line(entry, "id"), f"duplicate actor id '{actor_id}'", key="id")
            continue
        if isinstance(actor_id, str):
            # Known even if the entry is broken, so rules using it don't pile up more errors.
            ids.add(actor_id)
        actor = _read_actor(check, entry)
        if actor is not None:
            actors.append(actor)
    return actors, frozenset(ids)


def _read_actor(check: FileCheck, entry: LineMap) -> Actor | None:
    before = check.found
    check_keys(check, entry, ACTOR_KEYS, "", entry.line)
    actor_id = id_value(check, entry)
    name = text_value(check, entry, "name")
    kind = text_value(check, entry, "type")
    if kind is not None and kind not in ACTOR_TYPES:
        check.fail(
            value_line(entry, "type"),
            f"unknown actor type '{kind}' (expected person, org or place)",
            key="type",
        )
    aliases = strings(check, entry, "aliases")
    for alias in aliases:
        if not has_words(alias):
            check.fail(value_line(entry, "aliases"), f"alias '{alias}' has no words", key="aliases")
    require_entity = _flag(check, entry, "require_entity")
    fuzzy = None
    if "fuzzy" in entry:
        line = value_line(entry, "fuzzy")
        fuzzy = number(check, entry["fuzzy"], line, "fuzzy", low=MIN_FUZZY, high=1.0)
    if check.found > before or actor_id is None or name is None or kind is None:
        return None
    return Actor(
        id=actor_id,
        name=name,
        kind=kind,
        aliases=aliases,
        source=f"{check.path}:{entry.line}",
        require_entity=require_entity,
        fuzzy=fuzzy,
    )


def _flag(check: FileCheck, entry: LineMap, key: str) -> bool:
    value = entry.get(key, False)
    if isinstance(value, bool):
        return value
    check.fail(value_line(entry, key), f"expected true or false, got {describe(value)}", key=key)
    return False
