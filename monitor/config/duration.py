"""Durations as config.yaml writes them ('90s', '5m', '2h', '1d' or bare seconds). Pure."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_s(value: str | int | float) -> float:
    """Read '90s', '5m', '2h', '1d' or a bare number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    found = _DURATION.match(value)
    if not found:
        raise ValueError(f"'{value}' is not a duration (use e.g. 30s, 5m, 2h, 1d)")
    return float(found.group(1)) * _UNIT_S[found.group(2) or "s"]
