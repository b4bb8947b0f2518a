"""Cheap change detection for the rules folder, so edits take effect within seconds.

Only names, sizes and modification times are compared; the full validation
happens in `rules.load_rules` when something changed. Pure apart from `stat`.
"""

from __future__ import annotations

import fnmatch
import os
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
    try:
        with os.scandir(folder) as found:
            # Plain names, not Paths: at 10,000 files every reload check pays per file.
            names = sorted(fnmatch.filter((entry.name for entry in found), "*.y*ml"))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    for name in names:
        try:
            stat = os.stat(os.path.join(folder, name))
        except FileNotFoundError:
            continue
        entries.append((name, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)
