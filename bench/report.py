"""One row of a benchmark result, and the table every benchmark prints."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Result:
    bench: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None  # None when the metric has no target


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


RESULTS_ENV = "MONITOR_BENCH_RESULTS"


def record(*results: Result) -> None:
    """Append headline results for `python -m bench`'s summary table (no-op when run alone)."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for result in results:
            handle.write(json.dumps(asdict(result)) + "\n")


def load_recorded(path: str) -> list[Result]:
    with open(path, encoding="utf-8") as handle:
        return [Result(**json.loads(line)) for line in handle if line.strip()]
