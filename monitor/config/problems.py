"""Say what is wrong in config.yaml in plain words: each validation error becomes
`FILE:LINE: PATH: PROBLEM`, with a did-you-mean for an unknown key.

Pure: takes the parsed document and pydantic's errors, returns `ConfigError`s. Pydantic's own
wording, union branch names and documentation links stop here.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from monitor.errors import ConfigError
from monitor.yamldoc import LineList, LineMap

# What a value "should be", by pydantic error type: one noun each, so that a value refused by
# every branch of `str | int` reads "should be text or a whole number".
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of settings",
    "model_type": "a mapping of settings",
    "model_attributes_type": "a mapping of settings",
}
# Patterns in schema.py, by what they ask for.
_PATTERNS = {
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$": (
        "an id starts with a letter or digit and holds only letters, digits, '_', '.' and '-'"
    ),
    r"^https?://": "should start with http:// or https://",
    r"^\[?[0-9A-Za-z.:-]*\]?:\d{1,5}$": "should be HOST:PORT, e.g. 127.0.0.1:9464",
}
_BOUNDS = {
    "greater_than": "should be more than {gt}",
    "greater_than_equal": "should be at least {ge}",
    "less_than": "should be less than {lt}",
    "less_than_equal": "should be at most {le}",
    "too_short": "needs at least {min_length} entries",
    "string_too_short": "should not be empty",
}


def config_problems(
    errors: Sequence[Mapping[str, Any]], data: Any, spec: type[BaseModel], shown: str
) -> list[ConfigError]:
    """One `ConfigError` per place in the document, in file order."""
    by_place: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for error in errors:
        by_place.setdefault(_place(data, tuple(error["loc"]), error["type"]), []).append(error)
    problems = [
        ConfigError(
            f"{key_path(data, place)}: {_describe(found, data, place, spec)}",
            path=shown,
            line=line_of(data, place),
        )
        for place, found in by_place.items()
    ]
    return sorted(problems, key=lambda problem: problem.line or 0)


def key_path(data: Any, place: tuple[Any, ...]) -> str:
    """`subscriptions['desk'].to.email[0]`: list items with an id are named by it."""
    text, node = "", data
    for part in place:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            item_id = item.get("id") if isinstance(item, Mapping) else None
            text += f"['{item_id}']" if isinstance(item_id, str) else f"[{part}]"
            node = item
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return text or "config"


def line_of(data: Any, location: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest part of `location` that exists in `data`."""
    line: int | None = 1
    node = data
    for part in location:
        try:
            if isinstance(node, LineMap) and part in node:
                line = node.key_lines.get(part, node.line)
            elif isinstance(node, LineList) and isinstance(part, int) and part < len(node):
                line = node.item_lines[part]
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _place(data: Any, loc: tuple[Any, ...], error_type: str) -> tuple[Any, ...]:
    """`loc` without pydantic's union branch names ('str', 'ChannelSpec', 'list[str]'):
    only the parts that index the document, plus the key a 'missing' error names."""
    place: list[Any] = []
    node = data
    for index, part in enumerate(loc):
        is_last = index == len(loc) - 1
        if _indexes(node, part):
            node = node[part]
        elif is_last and error_type == "missing" and isinstance(node, Mapping):
            node = None
        else:
            continue
        place.append(part)
    return tuple(place)


def _indexes(node: Any, part: Any) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _describe(
    errors: list[Mapping[str, Any]], data: Any, place: tuple[Any, ...], spec: type[BaseModel]
) -> str:
    nouns = [_EXPECTED[e["type"]] for e in errors if e["type"] in _EXPECTED]
    if nouns and len(nouns) == len(errors):
        return f"should be {' or '.join(dict.fromkeys(nouns))}, got {_shown(errors[0]['input'])}"
    error = next(e for e in errors if e["type"] not in _EXPECTED)
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = _keys_at(spec, place[:-1])
        close = difflib.get_close_matches(str(place[-1]), known, n=1, cutoff=0.6)
        return "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"should be {context['expected']}, got {_shown(error['input'])}"
    if kind == "string_pattern_mismatch" and context.get("pattern") in _PATTERNS:
        return f"{_PATTERNS[context['pattern']]}, got {_shown(error['input'])}"
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**context)
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    # A check this table does not know yet: pydantic's sentence, without its capital "Input".
    return str(error["msg"]).removeprefix("Input ").replace("Value error, ", "")


def _shown(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"'{value}'"


def _keys_at(spec: type[BaseModel], place: tuple[Any, ...]) -> list[str]:
    """The keys the section at `place` allows, as written in the file (aliases included)."""
    model: type[BaseModel] | None = spec
    for part in place:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part)) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        model = _model_in(field.annotation) if field else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model inside `X`, `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for argument in typing.get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None
