"""SQL for the daemon's notes: small facts about the running daemon (when its rules were
loaded, why a reload was refused) that `monitor status` shows from another process.
"""

from __future__ import annotations

from monitor.store.db import Database


class NoteTables(Database):
    """Notes, kept in the `meta` table under a `note:` prefix."""

    def set_note(self, key: str, value: str | None) -> None:
        """Remember a small fact about the running daemon (None forgets it)."""
        with self._transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (f"note:{key}",))
            else:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (f"note:{key}", value),
                )

    def notes(self) -> dict[str, str]:
        rows = self._query("SELECT key, value FROM meta WHERE key LIKE 'note:%'")
        return {str(row["key"]).removeprefix("note:"): str(row["value"]) for row in rows}
