"""Run every benchmark and print one summary table: `python -m bench [--quick] [--only NAME]
[--json FILE]`.

Each benchmark runs in its own process (so memory figures are its own), prints its
detailed table as it goes, and records its headline figures; the summary at the end
puts them side by side with their targets. `--json FILE` also writes every recorded figure,
with its raw numbers where the benchmark gave them, the machine, the date and the command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import RESULTS_ENV, Result, format_table, load_recorded, write_json

BENCHMARKS = (
    "poll",
    "match",
    "nlp",
    "render",
    "store",
    "realnews",
    "rules",
    "e2e",
    "stories",
    "scaling",
)
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run just these")
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write every recorded figure to FILE"
    )
    args = parser.parse_args()
    chosen = args.only or list(BENCHMARKS)
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as folder:
        results_path = Path(folder) / "results.jsonl"
        results_path.touch()
        environment = {**os.environ, RESULTS_ENV: str(results_path)}
        for name in chosen:
            print(f"\n=== bench.{name} ===", flush=True)
            started = time.perf_counter()
            command = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
            finished = subprocess.run(command, cwd=ROOT, env=environment, check=False)
            elapsed = time.perf_counter() - started
            if finished.returncode != 0:
                failed.append(name)
            print(f"(bench.{name}: {elapsed:.0f} s, exit {finished.returncode})", flush=True)
        results = load_recorded(str(results_path))
    results += [Result(name, "FAILED", "see its output above") for name in failed]
    print("\n=== summary ===")
    print(format_table(results))
    if args.json:
        invoked = " ".join(["python -m bench", *sys.argv[1:]])
        write_json(args.json, results, command=invoked, failed=failed)
        print(f"\n{len(results)} figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
