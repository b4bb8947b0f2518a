"""yamldoc.py: the one YAML parse config.yaml and rule files go through, and its bounds."""

import time
from pathlib import Path

import pytest

from monitor.yamldoc import (
    MAX_EXPANDED_NODES,
    LineList,
    LineMap,
    YamlRefused,
    expanded_size,
    parse_yaml,
    parse_yaml_lines,
)
from monitor.yamldoc import _with_lines as ruamel_lines


def laughs(levels: int, width: int = 9) -> str:
    return "\n".join(
        [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
        + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
        + [""]
    )


@pytest.mark.parametrize("levels", [6, 9, 30])
def test_alias_bombs_are_refused_before_anything_walks_them(levels):
    started = time.perf_counter()
    with pytest.raises(YamlRefused) as caught:
        parse_yaml(laughs(levels))
    elapsed_s = time.perf_counter() - started
    assert caught.value.problem.startswith(
        f"too many values once aliases are expanded (more than {MAX_EXPANDED_NODES})"
    )
    assert elapsed_s < 1.0


def test_a_merge_key_bomb_is_refused():
    text = "a0: &a0 {k: lol, j: lol}\n" + "".join(
        f"a{i}: &a{i}\n  <<: *a{i - 1}\n  x: [{', '.join([f'*a{i - 1}'] * 9)}]\n"
        for i in range(1, 9)
    )
    with pytest.raises(YamlRefused, match="too many values"):
        parse_yaml(text)


def test_the_bound_is_on_expanded_values_not_on_aliases():
    text = laughs(3)  # 9 + 81 + 729 values: far under the bound
    assert expanded_size(parse_yaml(text), MAX_EXPANDED_NODES) < 1000
    with pytest.raises(YamlRefused):
        parse_yaml(text, max_nodes=500)


def test_syntax_errors_and_control_characters_carry_their_line():
    with pytest.raises(YamlRefused) as syntax:
        parse_yaml("a: 1\nb: [unclosed\n")
    assert syntax.value.problem.startswith("invalid yaml: ")
    assert syntax.value.line is not None and syntax.value.line >= 2
    with pytest.raises(YamlRefused) as control:
        parse_yaml("a: 1\nb: \x07\n")
    assert control.value.line == 2 and "#x0007" in control.value.problem


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(YamlRefused, match="nested too deeply"):
        parse_yaml("a: " + "[" * 3000 + "]" * 3000 + "\n")


# --- the fast parse rule files go through --------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent

TRICKY = [
    "a: [1, 2.5, -3, +4, 007, 1_000, 0x1f, 0o7, 1e3, .5, .inf, .nan, 1.50, 1.0, 10]\n",
    "a: [yes, no, on, off, y, n, true, False, TRUE, null, Null, ~, '', \"\"]\n",
    "a: 2024-07-26\nb: 2024-07-26 10:00:00\nc: 2024-7-6\nd: 12:30\ne: 0b101\n",
    "a: &x [1, 2]\nb: *x\nc: {<<: {d: 1}, e: 2}\n",
    "? [a, b]\n: c\n",
    "a: !!str 12\nb: !!int '3'\nc: !foo bar\nd: !!map {x: 1}\n",
    "%YAML 1.1\n---\na: yes\n",
    "# only a comment\n",
    "",
    "a: |\n  line one\n  line two\nb: >\n  folded\n  text\nc: 'it''s'\nd: \"\\u00e9\\n\"\n",
    "id: x\nmatch:\n  all:\n    - any: [a, b]\n    -   any:\n          - c\n"
    "          - {term: d, weight: 2}\n  none:\n  - e\n  - f\n",
    "a:\n  - b\n  -\n  - - c\n    - d\n  - e: f\n    g: h\n",
    "a:\tb\n",
    "a: x # comment\n# c\nb: y\n",
    "\"quoted key\": 1\n'single': 2\n3: three\n4.5: x\ntrue: t\nnull: n\n",
    "a: \u2028b\n",
    "a: -x\nb: [-, +]\n",
]


def lined(data: object) -> object:
    """`data` with the line of every mapping, key, value and item, for comparing two parses."""
    if isinstance(data, LineMap):
        return (
            "map",
            data.line,
            [(lined(k), data.key_lines[k], lined(v), data.value_lines[k]) for k, v in data.items()],
        )
    if isinstance(data, LineList):
        return (
            "list",
            data.line,
            [(lined(v), at) for v, at in zip(data, data.item_lines, strict=True)],
        )
    # ruamel's str and float subclasses (LiteralScalarString, ScalarFloat) read as the builtin.
    kind = next((t for t in (bool, int, float, str) if isinstance(data, t)), type(data))
    return (kind.__name__, repr(kind(data)) if kind is not type(data) else repr(data), str(data))


def both_parses(text: str) -> tuple[object, object]:
    """(ruamel's reading with its lines, `parse_yaml_lines`'s), or the refusals' words."""
    try:
        slow = lined(ruamel_lines(parse_yaml(text), {}))
    except YamlRefused as refused:
        slow = ("refused", refused.problem, refused.line)
    try:
        fast = lined(parse_yaml_lines(text))
    except YamlRefused as refused:
        fast = ("refused", refused.problem, refused.line)
    return slow, fast


@pytest.mark.parametrize("text", TRICKY)
def test_the_fast_parse_reads_tricky_yaml_as_ruamel_does(text):
    slow, fast = both_parses(text)
    assert fast == slow


def test_the_fast_parse_reads_every_shipped_and_fixture_yaml_file_as_ruamel_does():
    paths = [
        *(ROOT / "rules").glob("*.y*ml"),
        *(ROOT / "tests").rglob("*.y*ml"),
        *(ROOT / "seeds").rglob("*.y*ml"),
    ]
    assert len(paths) >= 15
    for path in paths:
        slow, fast = both_parses(path.read_text(encoding="utf-8", errors="replace"))
        assert fast == slow, path


def test_the_fast_parse_keeps_the_bounds():
    with pytest.raises(YamlRefused, match="too many values"):
        parse_yaml_lines(laughs(9))
    with pytest.raises(YamlRefused, match="nested too deeply"):
        parse_yaml_lines("a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(YamlRefused, match="too many values"):
        parse_yaml_lines("a: [" + ", ".join(["x"] * 600) + "]\n", max_nodes=500)
    with pytest.raises(YamlRefused) as control:
        parse_yaml_lines("a: 1\nb: \x07\n")
    assert control.value.line == 2 and "#x0007" in control.value.problem
    with pytest.raises(YamlRefused, match="duplicate key"):
        parse_yaml_lines("a: 1\nb: 2\na: 3\n")


def test_the_fast_parse_is_many_times_faster_than_the_round_trip():
    text = (ROOT / "rules" / "jo2024-security.yaml").read_text(encoding="utf-8")
    started = time.process_time()
    for _ in range(200):
        parse_yaml(text)
    slow_s = time.process_time() - started
    started = time.process_time()
    for _ in range(200):
        parse_yaml_lines(text)
    assert time.process_time() - started < slow_s / 5
