"""SQL for the rules snapshot: the text of every file of the last rule set that validated.

The daemon writes it after each successful load and reads it at start when `rules/` does
not validate. It stores text as given and never parses it: validating is the rules' job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from monitor.store.db import Database, iso, required_time


@dataclass(frozen=True, slots=True)
class RulesSnapshot:
    """Rule files' text by path relative to the rules folder, and when they were saved."""

    files: Mapping[str, str]
    saved_at: datetime


class SnapshotTables(Database):
    """The `rules_snapshot` table: replaced as a whole, read as a whole."""

    def save_rules_snapshot(self, files: Mapping[str, str], now: datetime) -> None:
        """Replace the snapshot with `files` in one transaction (never half of two sets)."""
        with self._transaction() as db:
            db.execute("DELETE FROM rules_snapshot")
            # An upsert, not a plain insert: daemons starting together on one PostgreSQL
            # database each replace the snapshot, and a DELETE does not see the rows another
            # daemon committed after it began, so its inserts would collide with them.
            db.executemany(
                "INSERT INTO rules_snapshot (path, text, saved_at) VALUES (?, ?, ?) "
                "ON CONFLICT (path) DO UPDATE SET text = excluded.text, "
                "saved_at = excluded.saved_at",
                [(path, text, iso(now)) for path, text in sorted(files.items())],
            )

    def rules_snapshot(self) -> RulesSnapshot | None:
        """The last saved rule set, or None when none was ever saved."""
        rows = self._query("SELECT path, text, saved_at FROM rules_snapshot ORDER BY path")
        if not rows:
            return None
        return RulesSnapshot(
            files={str(row["path"]): str(row["text"]) for row in rows},
            saved_at=max(required_time(str(row["saved_at"])) for row in rows),
        )
