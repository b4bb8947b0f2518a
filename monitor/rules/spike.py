"""Read a rule's `spike:` key into `SpikeSettings`: window, baseline, sensitivity, minimum
count, outlets and ratio, cool-down, each with its default (docs/rules.md#spike).

Owns those keys and every message about them, at file:line. It must not count or detect
anything: that is `monitor.trends`.
"""

from __future__ import annotations

import re

from monitor.model import SpikeSettings
from monitor.rules.files import FileCheck, check_keys, describe, entry_line, key_line
from monitor.yamldoc import LineMap

__all__ = ["SENSITIVITIES", "SPIKE_KEYS", "read_spike"]

SPIKE_KEYS = (
    "window",
    "baseline",
    "sensitivity",
    "min_count",
    "min_outlets",
    "min_ratio",
    "cooldown",
)
# The tail probability each level stands for: how surprising a count must be to alert.
SENSITIVITIES = {"low": 1e-4, "medium": 1e-3, "high": 1e-2}
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
# A window shorter than this holds too few stories to test; a baseline must hold 3 windows.
_MIN_WINDOW_S = 10 * 60


def read_spike(check: FileCheck, data: LineMap) -> SpikeSettings | None:
    """The rule's spike settings; None when it has no `spike:` key or it is wrong."""
    if "spike" not in data:
        return None
    node = data["spike"]
    line = entry_line(data, "spike", key_line(data, "spike"))
    if node is True or (isinstance(node, LineMap) and not node):
        return SpikeSettings()  # `spike: true` or `spike: {}`: every default
    if not isinstance(node, LineMap):
        check.fail(
            line,
            f"expected a mapping (or true for the defaults), got {describe(node)}",
            key="spike",
        )
        return None
    before = check.found
    check_keys(check, node, SPIKE_KEYS, "spike.", line)
    default = SpikeSettings()
    window_s = _duration(check, node, "window", default.window_s, low_s=_MIN_WINDOW_S)
    baseline_s = _duration(check, node, "baseline", default.baseline_s, low_s=_MIN_WINDOW_S)
    settings = SpikeSettings(
        window_s=window_s,
        baseline_s=baseline_s,
        sensitivity=_sensitivity(check, node, default.sensitivity),
        min_count=_count(check, node, "min_count", default.min_count),
        min_outlets=_count(check, node, "min_outlets", default.min_outlets),
        min_ratio=_ratio(check, node, default.min_ratio),
        cooldown_s=_duration(check, node, "cooldown", default.cooldown_s, low_s=0),
    )
    if check.found == before and settings.baseline_s < 3 * max(settings.window_s, 86400):
        least = _spoken(3 * max(settings.window_s, 86400))
        check.fail(
            entry_line(node, "baseline", line),
            f"baseline {_spoken(settings.baseline_s)} is too short to learn the usual count: "
            f"it must cover 3 windows and 3 days (at least {least})",
            key="spike.baseline",
        )
    return settings if check.found == before else None


def _duration(check: FileCheck, node: LineMap, key: str, default: int, *, low_s: int) -> int:
    if key not in node:
        return default
    value = node[key]
    found = _DURATION.match(value) if isinstance(value, str) else None
    seconds = int(found.group(1)) * _UNIT_S[found.group(2)] if found else None
    if seconds is None or seconds < low_s or (low_s == 0 and seconds < 0):
        wanted = f"a duration of at least {_spoken(low_s)}" if low_s else "a duration"
        shown = f" '{value}'" if isinstance(value, str | int | float) else ""
        check.fail(
            entry_line(node, key, node.line),
            f"expected {wanted} such as 30m, 1h or 14d, got {describe(value)}{shown}",
            key=f"spike.{key}",
        )
        return default
    return seconds


def _sensitivity(check: FileCheck, node: LineMap, default: float) -> float:
    if "sensitivity" not in node:
        return default
    value = node["sensitivity"]
    if isinstance(value, str) and value.strip().lower() in SENSITIVITIES:
        return SENSITIVITIES[value.strip().lower()]
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 0.5:
        return float(value)
    check.fail(
        entry_line(node, "sensitivity", node.line),
        "expected low, medium, high or a tail probability above 0 and below 0.5 "
        f"(e.g. 0.001), got {describe(value)} '{value}'",
        key="spike.sensitivity",
    )
    return default


def _count(check: FileCheck, node: LineMap, key: str, default: int) -> int:
    if key not in node:
        return default
    value = node[key]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    check.fail(
        entry_line(node, key, node.line),
        f"expected a whole number of at least 1, got {describe(value)} '{value}'",
        key=f"spike.{key}",
    )
    return default


def _ratio(check: FileCheck, node: LineMap, default: float) -> float:
    if "min_ratio" not in node:
        return default
    value = node["min_ratio"]
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
        return float(value)
    check.fail(
        entry_line(node, "min_ratio", node.line),
        f"expected a number of at least 1 (2: twice the usual count), got {describe(value)} "
        f"'{value}'",
        key="spike.min_ratio",
    )
    return default


def _spoken(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
