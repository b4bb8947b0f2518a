"""`monitor export matches` and `monitor export feedback`: the matches of a period, or the
analysts' verdicts and mutes, as CSV, JSON Lines or JSON.

The same rows and columns as `/api/matches` and `/api/feedback` (docs/web.md), to stdout or
`--out FILE`. Parsing and exit codes only: the app layer reads the store.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.app import FORMATS, export_feedback, export_matches, utc_now
from monitor.cli.common import EXIT_INVALID, EXIT_OK, add_config_option, print_error
from monitor.config import load_config


def add_export_commands(commands: Any) -> None:
    """Register `export matches` and `export feedback` on the top-level sub-command parser."""
    export = commands.add_parser(
        "export", help="write stored matches or feedback as CSV or JSON Lines"
    )
    kinds = export.add_subparsers(dest="export_command", required=True, metavar="WHAT")
    matches = kinds.add_parser("matches", help="the matches of a period, one row per match")
    add_config_option(matches)
    matches.add_argument(
        "--since", default="7d", help="a duration back from now (24h, 7d) or a date (default: 7d)"
    )
    matches.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    matches.add_argument("--out", type=Path, help="write to this file instead of stdout")
    for name in ("rule", "feed", "tag", "language", "priority"):
        matches.add_argument(f"--{name}", default="", help=f"only matches of this {name}")
    matches.set_defaults(handler=_export_matches)
    feedback = kinds.add_parser(
        "feedback", help="the analysts' verdicts and muted stories, one row each"
    )
    add_config_option(feedback)
    feedback.add_argument(
        "--since", help="given since a duration back from now (30d) or a date (default: all)"
    )
    feedback.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    feedback.add_argument("--out", type=Path, help="write to this file instead of stdout")
    feedback.add_argument("--rule", default="", help="only the verdicts on this rule's matches")
    feedback.set_defaults(handler=_export_feedback)


def _export_matches(args: argparse.Namespace) -> int:
    config = load_config(args.config, require_secrets=False)
    filters = {
        name: getattr(args, name) for name in ("rule", "feed", "tag", "language", "priority")
    }
    try:
        if args.out is None:
            export_matches(
                config,
                sys.stdout,
                since=args.since,
                fmt=args.format,
                now=utc_now(),
                filters=filters,
            )
        else:
            # newline="": the CSV writer ends rows with CRLF itself (RFC 4180).
            with args.out.open("w", encoding="utf-8", newline="") as out:
                export_matches(
                    config, out, since=args.since, fmt=args.format, now=utc_now(), filters=filters
                )
    except ValueError as exc:
        print_error(f"export: {exc}")
        return EXIT_INVALID
    return EXIT_OK


def _export_feedback(args: argparse.Namespace) -> int:
    config = load_config(args.config, require_secrets=False)
    options = {"since": args.since, "fmt": args.format, "now": utc_now(), "rule": args.rule}
    try:
        if args.out is None:
            export_feedback(config, sys.stdout, **options)
        else:
            # newline="": the CSV writer ends rows with CRLF itself (RFC 4180).
            with args.out.open("w", encoding="utf-8", newline="") as out:
                export_feedback(config, out, **options)
    except ValueError as exc:
        print_error(f"export: {exc}")
        return EXIT_INVALID
    return EXIT_OK
