"""yamldoc.py: the one YAML parse config.yaml and rule files go through, and its bounds."""

import time

import pytest

from monitor.yamldoc import MAX_EXPANDED_NODES, YamlRefused, expanded_size, parse_yaml


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
