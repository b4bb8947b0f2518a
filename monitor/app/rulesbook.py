"""What the daemon records about its running rules: when they loaded, whether they came from
the store's snapshot of the last good set, the snapshot itself, and the per-file cache that
lets a reload parse only the files that changed.

Keeps the notes `monitor status` reads, the rules metrics and the saved rule texts in step;
decides nothing about which rules run (the service does). `read_if_changed`, `read` and
`save_snapshot` do file and store work in a worker thread; the rest runs on the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.errors import RuleSetError
from monitor.logs import log_event
from monitor.match import CompiledRules, compile_rules
from monitor.metrics import Metrics
from monitor.model import RuleSet
from monitor.rules import FolderLoad, RuleFolder, RulesWatch, rule_file_texts, rules_snapshot
from monitor.store import Store

_log = logging.getLogger("monitor.app.rulesbook")
# Names, sizes and modification times of the rule files (`rules.rules_snapshot`).
Snapshot = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class RulesRead:
    """A read of the rules folder done off the event loop, ready to swap in if it validated."""

    snapshot: Snapshot  # the folder's stat, taken before reading: a later edit reloads again
    loaded: FolderLoad
    compiled: CompiledRules | None  # None when the rules did not validate
    elapsed_s: float  # CPU time of the worker thread


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
        self._folder = RuleFolder(rules_dir)
        self._saved_texts: Mapping[str, str] | None = None  # what the store's snapshot holds

    def is_warm(self, folder: Path) -> bool:
        """Whether `folder` was read before, so that reading it again parses only changes."""
        return self._folder.folder == folder and self._folder.is_warm

    def read(self, folder: Path) -> FolderLoad:
        """Every rule in `folder`, parsing only the files changed since the last read."""
        if self._folder.folder != folder:
            self._folder = RuleFolder(folder)
        return self._folder.load()

    def read_if_changed(
        self,
        folder: Path,
        before: Snapshot | None,
        compile: Callable[[RuleSet], CompiledRules] = compile_rules,
    ) -> RulesRead | None:
        """In a worker thread: the folder's rules, compiled by `compile`, if it changed since
        `before` (always, when `before` is None); None when unchanged."""
        started = time.thread_time()
        snapshot = rules_snapshot(folder)
        is_changed = before is None or snapshot != before
        if not is_changed and self.is_warm(folder):
            return None
        loaded = self.read(folder)
        if not is_changed:
            return None  # the read only warmed the cache: the running rules are these
        compiled = None if loaded.errors else compile(loaded.rules)
        return RulesRead(snapshot, loaded, compiled, time.thread_time() - started)

    def reject(self, refused: RuleSetError, *, kept: int) -> None:
        """Record a rule set that did not validate (log, `monitor status`, metrics) while the
        `kept` running rules stay."""
        self.watch.last_error = str(refused)
        self._store.set_note("rules_error", str(refused))
        self._metrics.reload_ok.set(0)
        log_event(_log, logging.ERROR, "rules.rejected", error=str(refused), kept=kept)

    def record_good(
        self, rules: RuleSet, now: datetime, texts: Mapping[str, str] | None = None
    ) -> Mapping[str, str] | None:
        """Mark `rules` (just validated from the folder) as running; return the texts they
        were validated from when the store's snapshot does not hold them yet (else None).

        Without `texts` (at start) the folder is read again, and only if it is still what
        was validated: a file saved again meanwhile waits for its reload.
        """
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
        if texts is None:
            try:
                texts = rule_file_texts(self.rules_dir)
            except (OSError, UnicodeDecodeError):
                return None  # a file changed under us: its reload validates and saves it
            if rules_snapshot(self.rules_dir) != self.watch.snapshot:
                return None
        return None if texts == self._saved_texts else texts

    def save_snapshot(self, texts: Mapping[str, str], now: datetime) -> None:
        """Keep `texts` in the store as the last good rules (a whole set, in one transaction)."""
        self._store.save_rules_snapshot(texts, now)
        self._saved_texts = texts

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
