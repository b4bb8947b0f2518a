"""Parse one YAML document from text someone else may have written: config.yaml and rule files.

Owns the two parses, ruamel's round trip (config.yaml) and libyaml's with line numbers (rule
files, read by the thousand), and their shared bounds: invalid YAML, control characters,
absurd nesting and alias bombs (billion laughs) all become one `YamlRefused` with the problem
in words. A base module so config and rules refuse the same files the same way; it never
reads files and knows no schema.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

_LIBYAML: ModuleType | None
try:
    from yaml import _yaml as _libyaml

    _LIBYAML = _libyaml
except ImportError:  # pragma: no cover - PyYAML built without libyaml: ruamel reads everything
    _LIBYAML = None
_LIBYAML_ERRORS = (yaml.YAMLError, UnicodeError)
# ruamel.yaml.reader.Reader.NON_PRINTABLE, plus what libyaml and ruamel read differently
# (tabs as separators; the line breaks YAML 1.1 and 1.2 count apart): such texts go to ruamel.
_NON_PRINTABLE = re.compile(
    "[^\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)

# Values once aliases are copied out: a large rule has hundreds, config.yaml with a
# thousand feeds ~20,000, a billion-laughs file 10**9.
MAX_EXPANDED_NODES = 100_000


class YamlRefused(Exception):
    """The text is not YAML monitor will read; `line` is 1-based when known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, line


def parse_yaml(text: str, *, max_nodes: int = MAX_EXPANDED_NODES) -> object:
    """The document's data (ruamel's CommentedMap/CommentedSeq, which know their lines).

    Aliases share one object, so parsing a bomb is cheap; walking it would not be. The size
    is counted once per shared object before anyone walks the data.
    """
    try:
        data: object = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise YamlRefused(
            f"invalid yaml: {exc.problem or exc.context or 'invalid'}", line
        ) from None
    except ReaderError as exc:
        # Raised before parsing (control characters): it knows a character position only.
        line = text.count("\n", 0, exc.position) + 1
        raise YamlRefused(
            f"invalid yaml: {exc.reason} (character #x{exc.character:04x})", line
        ) from None
    except RecursionError:
        raise YamlRefused("invalid yaml: nested too deeply") from None
    except YAMLError as exc:  # pragma: no cover - ruamel raises the two above when loading
        raise YamlRefused(f"invalid yaml: {exc}") from None
    try:
        size = expanded_size(data, max_nodes)
    except RecursionError:
        raise YamlRefused("invalid yaml: nested too deeply") from None
    if size > max_nodes:
        raise YamlRefused(_TOO_MANY.format(max_nodes=max_nodes))
    return data


_TOO_MANY = (
    "too many values once aliases are expanded (more than {max_nodes}): "
    "write the lists out instead of nesting '*' aliases"
)


def expanded_size(data: object, limit: int) -> int:
    """How many values `data` holds once every alias is copied out (stops past `limit`)."""
    return _size(data, limit, {}, set())


def _size(node: object, limit: int, sizes: dict[int, int], open_nodes: set[int]) -> int:
    if not isinstance(node, dict | list):
        return 1
    known = sizes.get(id(node))
    if known is not None:
        return known
    if id(node) in open_nodes:  # an alias to an enclosing node: infinitely large
        return limit + 1
    open_nodes.add(id(node))
    children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
    total = 1
    for child in children:
        total += _size(child, limit, sizes, open_nodes)
        if total > limit:
            break
    open_nodes.discard(id(node))
    sizes[id(node)] = total
    return total


# --- the fast parse with line numbers (rule files) ---------------------------------------


class LineMap(dict[object, object]):
    """A YAML mapping that knows its own line and the line of each key and value (1-based)."""

    __slots__ = ("key_lines", "line", "value_lines")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[object, int] = {}
        self.value_lines: dict[object, int] = {}


class LineList(list[object]):
    """A YAML list that knows its own line and the line of each item (1-based)."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


def parse_yaml_lines(text: str, *, max_nodes: int = MAX_EXPANDED_NODES) -> object:
    """The document's data as `LineMap`/`LineList`, with the bounds and refusals of `parse_yaml`.

    libyaml (C) reads the common case, ~30x faster than ruamel's round trip. Whatever it
    does not read exactly as ruamel would (tags, merge keys, dates, non-canonical numbers,
    directives, duplicate keys, any syntax error) is read again by `parse_yaml`, so both
    paths accept, refuse and word the same files the same way.
    """
    try:
        return _fast_data(text, max_nodes)
    except _Declined:
        return _with_lines(parse_yaml(text, max_nodes=max_nodes), {})


class _Declined(Exception):
    """The fast path cannot promise ruamel's reading of this text."""


_NO_KEY = object()
# Far deeper than any rule or config needs, and shallow enough that ruamel, which recurses,
# would read it too: deeper documents go to ruamel, which says "nested too deeply".
_MAX_FAST_DEPTH = 64
_STR_TAG = "tag:yaml.org,2002:str"
_CONTAINER_TAGS = (None, "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
# YAML 1.2 core schema, as ruamel resolves plain scalars (ruamel.yaml.resolver, version 1.2).
_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NUMBER_START = frozenset("-+.0123456789")
_INT = re.compile(r"[-+]?[0-9_]+|[-+]?0o[0-7_]+|[-+]?0b[0-1_]+|[-+]?0x[0-9a-fA-F_]+")
_FLOAT = re.compile(
    r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")


# Rule files repeat the same words and numbers: each spelling is resolved once per process.
@functools.lru_cache(maxsize=1 << 16)
def _plain_scalar(value: str) -> object:
    """A plain scalar's value, when it is one ruamel reads as a plain Python value."""
    if value in _NULL:
        return None
    found = _BOOL.get(value)
    if found is not None:
        return found
    if value[0] in _NUMBER_START:
        # Only canonical spellings: ruamel keeps "1_000", "0o7", "1.50" in types of its own.
        if _INT.fullmatch(value):
            number: object = int(value) if value.isdigit() or value[1:].isdigit() else None
        elif _FLOAT.fullmatch(value):
            number = float(value)
        else:
            return _timestamp_or_str(value)
        if number is None or str(number) != value:
            raise _Declined
        return number
    if value in ("<<", "="):
        raise _Declined
    return value


def _timestamp_or_str(value: str) -> str:
    if _TIMESTAMP.match(value):
        raise _Declined  # a date to ruamel: let it decide what it is
    return value


def _fast_data(text: str, max_nodes: int) -> object:
    if _LIBYAML is None or _NON_PRINTABLE.search(text):
        raise _Declined
    parser = _LIBYAML.CParser(text)
    builder = _FastBuilder()
    try:
        data = builder.build(parser.get_event)
    except _LIBYAML_ERRORS:
        raise _Declined from None
    finally:
        parser.dispose()
    # Without aliases each value was built once: the count is already the expanded size.
    size = expanded_size(data, max_nodes) if builder.has_aliases else builder.nodes
    if size > max_nodes:
        raise YamlRefused(_TOO_MANY.format(max_nodes=max_nodes))
    return data


class _FastBuilder:
    """Builds `LineMap`/`LineList` from libyaml's events, without recursion."""

    def __init__(self) -> None:
        self.stack: list[LineMap | LineList] = []
        self.keys: list[object] = []  # the key awaiting its value, per open mapping
        self.anchors: dict[str, object] = {}
        self.root: object = None
        self.nodes = 0
        self.has_aliases = False

    def build(self, next_event: Callable[[], Any]) -> object:
        documents = 0
        while True:
            event = next_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                value, tag = event.value, event.tag
                if tag is None:
                    if event.implicit[0]:
                        value = _plain_scalar(value)
                elif tag != _STR_TAG:
                    raise _Declined  # a tag of ruamel's to build: !!int "3", !custom x
                self._add(value, event.start_mark.line + 1, event.anchor)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                line = event.start_mark.line + 1
                node = LineMap(line) if kind is yaml.MappingStartEvent else LineList(line)
                if event.tag not in _CONTAINER_TAGS or len(self.stack) >= _MAX_FAST_DEPTH:
                    raise _Declined
                self._add(node, line, event.anchor)
                self.stack.append(node)
                self.keys.append(_NO_KEY)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self.stack.pop()
                self.keys.pop()
            elif kind is yaml.AliasEvent:
                if event.anchor not in self.anchors:
                    raise _Declined
                self.has_aliases = True
                self._add(self.anchors[event.anchor], event.start_mark.line + 1, None)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1 or event.version is not None or event.tags:
                    raise _Declined  # ruamel words these; directives change the schema
            elif kind is yaml.StreamEndEvent:
                return self.root

    def _add(self, value: object, line: int, anchor: str | None) -> None:
        self.nodes += 1
        if anchor is not None:
            self.anchors[anchor] = value
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if isinstance(top, LineList):
            top.append(value)
            top.item_lines.append(line)
            return
        key = self.keys[-1]
        if key is not _NO_KEY:
            top[key] = value
            top.value_lines[key] = line
            self.keys[-1] = _NO_KEY
        elif isinstance(value, LineMap | LineList) or value in top:
            raise _Declined  # a complex key, or a duplicate key ruamel refuses in words
        else:
            top.key_lines[value] = line
            self.keys[-1] = value


def _with_lines(data: object, done: dict[int, object]) -> object:
    """ruamel's data as `LineMap`/`LineList`, aliases still shared (the bound stays cheap)."""
    if not isinstance(data, CommentedMap | CommentedSeq):
        return data
    known = done.get(id(data))
    if known is not None:
        return known
    line = (data.lc.line or 0) + 1
    # Keys merged in with `<<` (and values built from tags) have no position of their own.
    positions = data.lc.data or {}
    if isinstance(data, CommentedMap):
        mapping = LineMap(line)
        done[id(data)] = mapping
        for key, value in data.items():
            where = positions.get(key)
            mapping[key] = _with_lines(value, done)
            mapping.key_lines[key] = where[0] + 1 if where else line
            mapping.value_lines[key] = where[2] + 1 if where else line
        return mapping
    items = LineList(line)
    done[id(data)] = items
    for index, item in enumerate(data):
        where = positions.get(index)
        items.append(_with_lines(item, done))
        items.item_lines.append(where[0] + 1 if where else line)
    return items
