"""Read the items of a rule's clauses: terms, exact terms, actor references, nested clauses.

Owns the item keys (term, exact, actor, any/all/none, weight, fields, require_entity) and every
message about them, naming the key path (`match.all[0].any[2]`) and what was expected. It knows
the declared actor ids and the rule's fields; it must not read files or match anything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from monitor.model import FIELDS, ActorRef, Clause, Term
from monitor.rules.files import (
    FileCheck,
    check_keys,
    describe,
    entry_line,
    item_line,
    number,
    strings,
    suggestion,
    value_line,
)
from monitor.text import has_words
from monitor.yamldoc import LineMap

CLAUSE_OPS = ("any", "all", "none")
# One head key says what an item is; the modifiers after it say how it counts.
ITEM_HEADS = ("term", "exact", "actor", *CLAUSE_OPS)
ITEM_MODIFIERS = ("weight", "fields", "require_entity")
ITEM_KEYS = (*ITEM_HEADS, *ITEM_MODIFIERS)
# Deeper nesting is a mistake, not a need, and unbounded nesting would exhaust the stack.
MAX_DEPTH = 12

ClauseItem = Term | ActorRef | Clause
# Desks reuse the same words in thousands of rules: check each spelling once per process.
_has_words = functools.lru_cache(maxsize=1 << 16)(has_words)


def read_fields(
    check: FileCheck, node: LineMap, key: str, allowed: tuple[str, ...], label: str = ""
) -> tuple[str, ...]:
    """The field names at `key`, each checked against `allowed`."""
    names = strings(check, node, key, label=label)
    for name in names:
        if name not in allowed:
            hint = suggestion(name, FIELDS) or f" (expected {', '.join(FIELDS)})"
            if name in FIELDS:
                hint = f" (the rule only looks in {', '.join(allowed)})"
            check.fail(value_line(node, key), f"unknown field '{name}'{hint}", key=label or key)
    return names


class ItemReader:
    """Reads the items of clauses, knowing the rule's fields and the declared actors."""

    def __init__(self, check: FileCheck, fields: tuple[str, ...]) -> None:
        self.check = check
        self.fields = fields

    def items(self, value: object, key: str, line: int, *, depth: int) -> tuple[ClauseItem, ...]:
        """The items of the clause list `value` at `key` (`depth` clauses deep)."""
        if not isinstance(value, list):
            self.check.fail(line, f"expected a list, got {describe(value)}", key=key)
            return ()
        if not value:
            self.check.fail(line, "empty clause: list at least one term", key=key)
            return ()
        if depth > MAX_DEPTH:
            self.check.fail(line, f"clauses nested too deeply (at most {MAX_DEPTH})", key=key)
            return ()
        items: list[ClauseItem] = []
        for index, item in enumerate(value):
            item_key = f"{key}[{index}]"
            compiled = self._item(item, item_key, item_line(value, index, line), depth=depth)
            if compiled is not None:
                items.append(compiled)
        return tuple(items)

    def _item(self, item: object, key: str, line: int, *, depth: int) -> ClauseItem | None:
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)  # `- 2024` is a number to YAML but a term to the user
        if isinstance(item, str):
            return self._term(item, key, line, is_exact=False)
        if not isinstance(item, dict) or not item:
            self.check.fail(
                line,
                "expected a term, {exact: ...}, {term: ..., weight: ...}, {actor: ...} "
                f"or {{any|all|none: [...]}}, got {describe(item)}",
                key=key,
            )
            return None
        return self._mapping_item(item, key, line, depth=depth)

    def _mapping_item(
        self, item: dict[object, object], key: str, line: int, *, depth: int
    ) -> ClauseItem | None:
        before = self.check.found
        check_keys(self.check, item, ITEM_KEYS, f"{key}.", line)
        heads = [name for name in item if name in ITEM_HEADS]
        if len(heads) != 1:
            if not heads and self.check.found > before:
                return None  # an unknown key was reported, probably a misspelt head
            found = ", ".join(f"'{name}'" for name in heads) or "none"
            self.check.fail(
                line,
                f"expected exactly one of {', '.join(ITEM_HEADS)} in an item, got {found}",
                key=key,
            )
            return None
        head = str(heads[0])
        weight = self._weight(item, key, line, head)
        fields = self._item_fields(item, key)
        require_entity = self._require_entity(item, key, line, head)
        value = item[head]
        compiled = self._headed(head, value, f"{key}.{head}", line, depth)
        if compiled is None or self.check.found > before:
            return None
        if isinstance(compiled, Clause):
            return Clause(compiled.op, compiled.items, fields=fields, key=compiled.key)
        if isinstance(compiled, Term):
            return Term(compiled.text, compiled.is_exact, weight=weight, fields=fields)
        return ActorRef(compiled.actor_id, weight, fields, require_entity)

    def _headed(
        self, head: str, value: object, key: str, line: int, depth: int
    ) -> ClauseItem | None:
        if head in CLAUSE_OPS:
            items = self.items(value, key, line, depth=depth + 1)
            return Clause(op=head, items=items, key=key) if items else None
        if head == "actor":
            return self._actor_ref(value, key, line)
        if isinstance(value, int | float) and not isinstance(value, bool) and head == "term":
            value = str(value)
        if not isinstance(value, str):
            self.check.fail(line, f"expected a string, got {describe(value)}", key=key)
            return None
        return self._term(value, key, line, is_exact=head == "exact")

    def _weight(self, item: dict[object, object], key: str, line: int, head: str) -> float:
        if "weight" not in item:
            return 1.0
        if head in CLAUSE_OPS:
            self.check.fail(
                line,
                "a weight belongs on a term, exact or actor item, not on a clause "
                "(put it on the items inside)",
                key=f"{key}.weight",
            )
            return 1.0
        weight_line = entry_line(item, "weight", line)
        found = number(self.check, item["weight"], weight_line, f"{key}.weight", low=0, high=None)
        return 1.0 if found is None else found

    def _item_fields(self, item: dict[object, object], key: str) -> tuple[str, ...]:
        if "fields" not in item or not isinstance(item, LineMap):
            return ()
        return read_fields(self.check, item, "fields", self.fields, label=f"{key}.fields")

    def _require_entity(
        self, item: dict[object, object], key: str, line: int, head: str
    ) -> bool | None:
        if "require_entity" not in item:
            return None
        value = item["require_entity"]
        where = f"{key}.require_entity"
        if head != "actor":
            self.check.fail(line, "require_entity applies to actor items only", key=where)
        elif not isinstance(value, bool):
            self.check.fail(line, f"expected true or false, got {describe(value)}", key=where)
        else:
            return value
        return None

    def actor_clauses(self, node: LineMap) -> Iterator[Clause]:
        """The clauses of `match.actors`: `{any|all|none: [ids]}`, or a list meaning `any`."""
        value = node["actors"]
        line = value_line(node, "actors")
        if isinstance(value, list):
            # `actors: [a, b]` is shorthand for `actors: {any: [a, b]}`.
            value = {"any": value}
        if not isinstance(value, dict):
            self.check.fail(
                line,
                f"expected a mapping like {{any: [...]}}, got {describe(value)}",
                key="match.actors",
            )
            return
        check_keys(self.check, value, CLAUSE_OPS, "match.actors.", line)
        for op, ids in value.items():
            if op in CLAUSE_OPS:
                key = f"match.actors.{op}"
                refs = self._actor_ids(ids, key, entry_line(value, str(op), line))
                if refs:
                    yield Clause(op=str(op), items=refs, key=key)

    def _actor_ids(self, ids: object, key: str, line: int) -> tuple[ActorRef, ...]:
        if not isinstance(ids, list) or not ids:
            self.check.fail(
                line, f"expected a non-empty list of actor ids, got {describe(ids)}", key=key
            )
            return ()
        refs = (
            self._actor_ref(actor_id, f"{key}[{index}]", item_line(ids, index, line))
            for index, actor_id in enumerate(ids)
        )
        return tuple(ref for ref in refs if ref is not None)

    def _actor_ref(self, actor_id: object, key: str, line: int) -> ActorRef | None:
        if not isinstance(actor_id, str):
            self.check.fail(line, f"expected an actor id, got {describe(actor_id)}", key=key)
            return None
        if actor_id not in self.check.actor_ids:
            hint = suggestion(actor_id, tuple(sorted(self.check.actor_ids)))
            self.check.fail(
                line, f"undefined actor '{actor_id}' (declare it in actors.yaml){hint}", key=key
            )
            return None
        return ActorRef(actor_id=actor_id)

    def _term(self, text: str, key: str, line: int, *, is_exact: bool) -> Term | None:
        if not _has_words(text):
            self.check.fail(
                line,
                f"term '{text}' has no words to look for (expected letters or digits)",
                key=key,
            )
            return None
        return Term(text=text.strip(), is_exact=is_exact)
