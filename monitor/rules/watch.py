"""Cheap change detection for the rules folder, so edits take effect within seconds.

Only names, sizes and modification times are compared; the full validation
happens in `rules.load_rules` when something changed. Pure apart from `stat`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

Snapshot = tuple[tuple[str, int, int], ...]


@dataclass(slots=True)
class RulesWatch:
    """What the rules folder looked like when the running rules were loaded."""

    snapshot: Snapshot = ()
    last_error: str | None = None
    loaded_at: datetime | None = None


def rules_snapshot(folder: Path) -> Snapshot:
    """Names, sizes and modification times of the rule files."""
    entries = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)
