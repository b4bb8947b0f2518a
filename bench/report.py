"""One row of a benchmark result, the table every benchmark prints, and the JSON document
`python -m bench --json FILE` writes from the rows the benchmarks recorded."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import KW_ONLY, asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_ENV = "MONITOR_BENCH_RESULTS"
JSON_SCHEMA = "monitor.bench/1"


@dataclass(frozen=True, slots=True)
class Result:
    """A headline figure as shown (`value`), with its target; benchmarks that have the raw
    numbers also pass them, keyword-only, for the JSON document: the median of the runs, their
    min and max, the unit and how many runs there were."""

    bench: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None  # None when the metric has no target
    _: KW_ONLY
    median: float | None = None
    min: float | None = None
    max: float | None = None
    unit: str = ""
    runs: int | None = None


def measured(
    bench: str,
    metric: str,
    samples: Sequence[float],
    unit: str,
    *,
    digits: int = 2,
    target: str = "",
    met: bool | None = None,
) -> Result:
    """A `Result` from repeated runs: shown as "median (min–max) unit", numbers kept."""
    middle, low, high = statistics.median(samples), min(samples), max(samples)
    shown = f"{middle:.{digits}f} ({low:.{digits}f}–{high:.{digits}f}) {unit}".rstrip()
    return Result(
        bench,
        metric,
        shown,
        target,
        met,
        median=middle,
        min=low,
        max=high,
        unit=unit,
        runs=len(samples),
    )


def format_table(results: Sequence[Result]) -> str:
    header = ("benchmark", "metric", "value", "target", "ok")
    rows = [
        (r.bench, r.metric, r.value, r.target, "" if r.met is None else ("yes" if r.met else "NO"))
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * width for width in widths)
    out = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(text.rstrip() for text in out)


def record(*results: Result) -> None:
    """Append headline results for `python -m bench`'s summary table (no-op when run alone)."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for result in results:
            handle.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")


def load_recorded(path: str) -> list[Result]:
    known = {field.name for field in fields(Result)}
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    # A row from an older Result (fewer fields) still loads; unknown keys are dropped.
    return [Result(**{key: value for key, value in row.items() if key in known}) for row in rows]


def write_json(
    path: Path, results: Sequence[Result], *, command: str, failed: Sequence[str]
) -> None:
    """Every recorded figure, machine-readably, with the machine and the command it ran on."""
    document = {
        "schema": JSON_SCHEMA,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        "failed": list(failed),
        "results": [asdict(result) for result in results],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python and platform of the machine the figures come from."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_mb": _ram_mb(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass  # not Linux: platform's answer is vaguer but something
    return platform.processor() or platform.machine()


def _ram_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (OSError, ValueError, AttributeError):
        return None
