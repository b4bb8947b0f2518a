"""Loading and reloading realistic rule folders: 1,000 and 10,000 files, one rule per file.

    python -m bench.rules [--quick]

Rules come from `bench.workload.write_rule_set` (desk-style rules drawn from the real French
corpus, with its actors). Timed in CPU seconds (`time.process_time`), medians of 3 runs with
min–max, exactly what the daemon's reload thread runs (`rules_snapshot`, `RuleFolder.load`,
`compile_rules`):
  cold        a fresh process: every file read, parsed and validated; then compiled
  touched     one file's modification time changed, its content not (a save without edits)
  edited      one rule's terms changed
  broken      one rule saved with an invalid priority (the error names file and line)
Quick: 1,000 files only.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.report import Result, record
from bench.workload import write_rule_set
from monitor.match import compile_rules
from monitor.rules import FolderLoad, RuleFolder, rules_snapshot

SIZES = (1_000, 10_000)
QUICK_SIZES = (1_000,)
ROUNDS = 3
# Targets at 10,000 files (issue 10, item 6): load + validate, with compile, one edit.
COLD_LOAD_S, COLD_TOTAL_S, EDIT_S = 2.0, 3.0, 0.3
T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 files only")
    parser.add_argument("--cold-once", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold_once:
        print(json.dumps(_cold_once(args.cold_once)))
        return
    print(f"CPU seconds, median of {ROUNDS} (min–max)\n")
    print(f"{'files':>7}  {'step':<34} {'median':>8}  {'min–max':<15} parsed")
    for size in QUICK_SIZES if args.quick else SIZES:
        with tempfile.TemporaryDirectory(prefix="monitor-bench-rules-") as tmp:
            folder = write_rule_set(Path(tmp), size)
            _measure(size, folder)
    print(
        "\nload: stat the folder + RuleFolder.load (read, digest, parse and validate what"
        "\nchanged, cross-file checks); compile: monitor.match.compile_rules on the result."
    )


def _measure(size: int, folder: Path) -> None:
    # Each cold round in a fresh process, as a daemon starts: no warm caches of any kind.
    colds = [_cold_in_new_process(folder) for _ in range(ROUNDS)]
    cold_load = [cold["load_s"] for cold in colds]
    cold_compile = [cold["compile_s"] for cold in colds]
    totals = [a + b for a, b in zip(cold_load, cold_compile, strict=True)]
    _row(size, "cold: load + validate", cold_load, int(colds[0]["parsed"]))
    _row(size, "cold: compile", cold_compile, None)
    _row(size, "cold: load + validate + compile", totals, None)
    victim = sorted(folder.glob("w*.yaml"))[size // 2]
    good = victim.read_text(encoding="utf-8")
    # What changed, and how many files the reload must parse again for it.
    edits: dict[str, tuple[Callable[[int], object], int]] = {
        "touched": (lambda i: os.utime(victim, ns=(time.time_ns(), time.time_ns() + i)), 0),
        "edited": (lambda i: victim.write_text(good.replace("match:", f"tags: [t{i}]\nmatch:")), 1),
        "broken": (lambda i: victim.write_text(good + f"priority: urgent{i}\n"), 1),
    }
    cache = RuleFolder(folder)
    cache.load()
    results = {}
    for name, (edit, parsed) in edits.items():
        results[name] = _edit_rounds(cache, edit, parsed)
        _row(size, f"reload after one file {name}", results[name], parsed)
        victim.write_text(good, encoding="utf-8")
        cache.load()
    headline = [
        Result("rules", f"{size:,} files: cold load + validate, CPU s", _cell(cold_load)),
        Result("rules", f"{size:,} files: cold with compile, CPU s", _cell(totals)),
        Result("rules", f"{size:,} files: one edit reloads, CPU s", _cell(results["edited"])),
        Result("rules", f"{size:,} files: a broken edit, CPU s", _cell(results["broken"])),
    ]
    if size == 10_000:
        meets = (COLD_LOAD_S, COLD_TOTAL_S, EDIT_S, EDIT_S)
        headline = [
            Result(r.bench, r.metric, r.value, f"<= {goal:g} s", _median(r.value) <= goal)
            for r, goal in zip(headline, meets, strict=True)
        ]
    record(*headline)


def _cold_in_new_process(folder: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.rules", "--cold-once", str(folder)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return dict(json.loads(done.stdout))


def _cold_once(folder: Path) -> dict[str, float]:
    load_s, loaded = _timed(functools.partial(_reload, RuleFolder(folder)))
    assert not loaded.errors, loaded.errors[:3]
    compile_s = _timed(functools.partial(compile_rules, loaded.rules))[0]
    return {"load_s": load_s, "compile_s": compile_s, "parsed": loaded.parsed}


def _edit_rounds(cache: RuleFolder, edit: Callable[[int], object], parsed: int) -> list[float]:
    seconds = []
    for index in range(ROUNDS):
        edit(index)
        spent, loaded = _timed(functools.partial(_reload, cache))
        assert loaded.parsed == parsed, (loaded.parsed, parsed)
        seconds.append(spent)
    return seconds


def _reload(cache: RuleFolder) -> FolderLoad:
    rules_snapshot(cache.folder)  # the watch's look at the folder, as each reload does
    return cache.load()


def _timed(work: Callable[[], T]) -> tuple[float, T]:
    started = time.process_time()
    result = work()
    return time.process_time() - started, result


def _row(size: int, step: str, seconds: list[float], parsed: int | None) -> None:
    shown = "" if parsed is None else str(parsed)
    median, spread = _cell(seconds).split(" ", 1)
    print(f"{size:>7}  {step:<34} {median:>8}  {spread:<15} {shown}", flush=True)


def _cell(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.3f} ({min(seconds):.3f}–{max(seconds):.3f})"


def _median(cell: str) -> float:
    return float(cell.split(" ", 1)[0])


if __name__ == "__main__":
    main()
