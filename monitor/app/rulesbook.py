"""What the daemon records about its running rules: when they loaded, whether they came from
the store's snapshot of the last good set, and the snapshot itself.

Keeps the notes `monitor status` reads, the rules metrics and the saved rule texts in step;
decides nothing about which rules run (the service does).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from monitor.errors import RuleSetError
from monitor.logs import log_event
from monitor.metrics import Metrics
from monitor.model import RuleSet
from monitor.rules import RulesWatch, load_rules, rule_file_texts, rules_snapshot
from monitor.store import Store

_log = logging.getLogger("monitor.app.rulesbook")


class RulesBook:
    """The running rules' bookkeeping for one daemon."""

    def __init__(
        self, watch: RulesWatch, *, store: Store, metrics: Metrics, rules_dir: Path
    ) -> None:
        self.watch = watch
        self.is_on_snapshot = False
        self.rules_dir = rules_dir
        self._store = store
        self._metrics = metrics

    def load_or_keep(self, folder: Path, *, kept: int) -> RuleSet | None:
        """The rules in `folder` if they all validate; else None, and the error recorded
        (log, `monitor status`, metrics) while the `kept` running rules stay."""
        try:
            return load_rules(folder)
        except RuleSetError as exc:
            self.watch.last_error = str(exc)
            self._store.set_note("rules_error", str(exc))
            self._metrics.reload_ok.set(0)
            log_event(_log, logging.ERROR, "rules.rejected", error=str(exc), kept=kept)
            return None

    def record_good(self, rules: RuleSet, now: datetime) -> None:
        """Mark `rules` (just validated from the folder) as running, and keep their text."""
        self.is_on_snapshot = False
        self.watch.last_error = None
        self.watch.loaded_at = now
        store = self._store
        store.set_note("rules_error", None)
        store.set_note("rules_snapshot", None)
        store.set_note("rules_loaded_at", now.isoformat())
        self._metrics.rules_loaded.set(len(rules.rules))
        self._metrics.last_reload.set(now.timestamp())
        self._metrics.reload_ok.set(1)
        self._metrics.rules_from_snapshot.set(0)
        folder = self.rules_dir
        try:
            texts = rule_file_texts(folder)
        except (OSError, UnicodeDecodeError):
            return  # a file changed under us: its reload validates and saves it
        # Only the text that was validated: a file saved again meanwhile waits for its reload.
        if rules_snapshot(folder) == self.watch.snapshot:
            store.save_rules_snapshot(texts, now)

    def record_snapshot_start(
        self, rules: RuleSet, refused: RuleSetError, saved_at: datetime | None
    ) -> None:
        self.is_on_snapshot = True
        self.watch.last_error = str(refused)
        store = self._store
        store.set_note("rules_error", str(refused))
        store.set_note("rules_snapshot", saved_at.isoformat() if saved_at else "unknown")
        self._metrics.rules_loaded.set(len(rules.rules))
        self._metrics.reload_ok.set(0)
        self._metrics.rules_from_snapshot.set(1)
        log_event(
            _log,
            logging.ERROR,
            "rules.snapshot_used",
            rules=len(rules.rules),
            saved_at=saved_at,
            error=str(refused),
            fix=f"correct the files in '{self.rules_dir}'; they are picked up once valid",
        )
