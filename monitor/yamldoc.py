"""Parse one YAML document from text someone else may have written: config.yaml and rule files.

Owns the ruamel round-trip parse (line numbers kept, no Python objects built from tags) and
its bounds: invalid YAML, control characters, absurd nesting and alias bombs (billion
laughs) all become one `YamlRefused` with the problem in words. A base module so config and
rules refuse the same files the same way; it never reads files and knows no schema.
"""

from __future__ import annotations

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

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
        raise YamlRefused(
            f"too many values once aliases are expanded (more than {max_nodes}): "
            "write the lists out instead of nesting '*' aliases"
        )
    return data


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
