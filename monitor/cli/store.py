"""`monitor store copy SOURCE TARGET`: move a SQLite store into PostgreSQL.

Parsing, the progress shown on stderr (a bar on a terminal, a plain line now and then
otherwise) and the exit code; the app layer copies.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from monitor.app import CopyReport, OnProgress, copy_between
from monitor.cli.common import EXIT_OK, EXIT_RUNTIME, print_error

# Without a terminal: one line when a table starts and ends, and one every so often.
_PLAIN_EVERY_S = 10.0


def add_store_commands(commands: Any) -> None:
    """Register `store copy` on the top-level sub-command parser."""
    store = commands.add_parser("store", help="move the store (SQLite into PostgreSQL)")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    copy = actions.add_parser(
        "copy",
        help="copy a SQLite store into a PostgreSQL database (the daemon must be stopped)",
        description="Copy every table of a SQLite store into a PostgreSQL database (migrated "
        "first), then count each table on both sides. Stop the daemon first; point config.yaml "
        "at the new store afterwards.",
    )
    copy.add_argument("source", metavar="SQLITE_URL", help="sqlite:///PATH of the store to copy")
    copy.add_argument(
        "target",
        metavar="POSTGRES_URL",
        help="postgresql://USER@HOST:PORT/DATABASE (password in PGPASSWORD)",
    )
    copy.add_argument(
        "--into-existing",
        action="store_true",
        help="copy into a database that already holds a store, keeping the rows it has",
    )
    copy.set_defaults(handler=_copy)


def _copy(args: argparse.Namespace) -> int:
    report = copy_between(
        args.source,
        args.target,
        into_existing=args.into_existing,
        on_progress=progress_printer(sys.stderr),
    )
    print(format_copy(report))
    if report.mismatched:
        for count in report.mismatched:
            print_error(
                f"store copy: table '{count.table}' has {count.source_rows} rows in the source "
                f"but {count.target_rows} in the target; the copy is incomplete, run it again "
                "with --into-existing"
            )
        return EXIT_RUNTIME
    return EXIT_OK


def format_copy(report: CopyReport) -> str:
    width = max(len(count.table) for count in report.tables)
    lines = [f"{'TABLE':<{width}}  {'SOURCE':>9}  {'TARGET':>9}"]
    lines += [
        f"{count.table:<{width}}  {count.source_rows:>9}  {count.target_rows:>9}"
        for count in report.tables
    ]
    rows = sum(count.source_rows for count in report.tables)
    verdict = "counts differ" if report.mismatched else "every table's rows are in the target"
    lines.append(f"copied {rows} rows in {len(report.tables)} tables: {verdict}")
    return "\n".join(lines)


def progress_printer(stream: TextIO) -> OnProgress:
    """Progress on `stream`: a bar redrawn in place on a terminal, plain lines otherwise."""
    is_terminal = stream.isatty()
    last_line_at = 0.0

    def show(table: str, done: int, total: int) -> None:
        nonlocal last_line_at
        share = done / total if total else 1.0
        if is_terminal:
            bar = "#" * int(30 * share) + "." * (30 - int(30 * share))
            end = "\n" if done >= total else ""
            print(f"\r[{bar}] {table:<18} {done}/{total}", end=end, file=stream, flush=True)
            return
        now = time.monotonic()
        if done == 0 or done >= total or now - last_line_at >= _PLAIN_EVERY_S:
            last_line_at = now
            print(f"store copy: {table} {done}/{total} rows", file=stream, flush=True)

    return show
