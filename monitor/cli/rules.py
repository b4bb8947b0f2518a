"""`monitor test-rule` and `monitor rematch`: trying rules out and applying a change to the past.

test-rule stores and sends nothing, whether on a text, a feed, a URL or (`--since`) the
stored archive, where it also lists the near misses. rematch matches stored articles again under the
current rules; what each subscription already received is never sent again.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path
from typing import Any

from monitor.app import (
    Service,
    build_annotator,
    build_fetcher,
    preview_archive,
    preview_text,
    test_rule,
    utc_now,
)
from monitor.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    add_config_option,
    duration_argument,
    load_config_and_rules,
    print_error,
)
from monitor.config import Config, load_config
from monitor.model import RuleSet


def add_rule_commands(commands: Any) -> None:
    """Register `test-rule` and `rematch` on the top-level sub-command parser."""
    trying = commands.add_parser(
        "test-rule", help="show whether a rule matches a text and why (stores and sends nothing)"
    )
    add_config_option(trying)
    trying.add_argument("rule", nargs="?", help="the rule id (or give --file)")
    source = trying.add_mutually_exclusive_group()
    source.add_argument(
        "--text",
        type=Path,
        help="a text file: first line title, then body (a one-line file is all body)",
    )
    source.add_argument("--feed", type=Path, help="a saved RSS or Atom file")
    source.add_argument("--url", help="an article page or a feed on the web")
    source.add_argument(
        "--since",
        type=duration_argument,
        help="e.g. 30d: run the rule over the stored articles of that period (whole days), "
        "with its near misses",
    )
    trying.add_argument(
        "--file", type=Path, help="with --since: a draft rule file, not in the rules folder yet"
    )
    trying.add_argument(
        "--language", help="language of the input when it declares none (default: detected)"
    )
    trying.set_defaults(handler=_test_rule)

    rematch = commands.add_parser(
        "rematch", help="match articles stored since a time again, under the current rules"
    )
    add_config_option(rematch)
    rematch.add_argument(
        "--since", type=duration_argument, required=True, help="e.g. 24h, 7d: how far back"
    )
    rematch.add_argument(
        "--deliver", action="store_true", help="send what is due now instead of at the next cycle"
    )
    rematch.set_defaults(handler=_rematch)


def _test_rule(args: argparse.Namespace) -> int:
    problem = _usage_problem(args)
    if problem is not None:
        print_error(f"test-rule: {problem}")
        return EXIT_USAGE
    if args.since is not None:
        return _preview(args)
    config, rules = load_config_and_rules(args)
    return asyncio.run(_test_rule_async(config, rules, args))


async def _test_rule_async(config: Config, rules: RuleSet, args: argparse.Namespace) -> int:
    fetcher = build_fetcher(config)
    annotator = build_annotator(config)
    try:
        report = await test_rule(
            rules,
            args.rule,
            annotator=annotator,
            fetcher=fetcher,
            now=utc_now(),
            text_path=args.text,
            feed_path=args.feed,
            url=args.url,
            language=args.language,
            color=sys.stdout.isatty(),
        )
    finally:
        await fetcher.aclose()
        annotator.close()
    print(report.text)
    return EXIT_OK


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.file is not None and args.rule is not None:
        return "give a rule id or --file, not both"
    if args.file is not None and args.since is None:
        return "--file previews a draft on the archive: add --since (e.g. --since 30d)"
    if args.rule is None and args.file is None:
        return "give the rule id (or --file draft.yaml with --since)"
    if args.since is None and args.text is None and args.feed is None and args.url is None:
        return "give --text FILE, --feed FILE, --url URL or --since 30d"
    return None


def _preview(args: argparse.Namespace) -> int:
    """`test-rule RULE --since 30d` or `test-rule --file draft.yaml --since 30d`."""
    config = load_config(args.config)
    if args.file is not None:
        path: Path = args.file
    else:
        _, rules = load_config_and_rules(args)
        rule = rules.rule(args.rule)
        if rule is None:
            known = ", ".join(sorted(r.id for r in rules.rules)) or "none"
            print_error(f"test-rule: no rule '{args.rule}' (loaded: {known})")
            return EXIT_INVALID
        path = Path(rule.source.rpartition(":")[0])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print_error(f"test-rule: cannot read '{path}': {exc.strerror or exc}")
        return EXIT_INVALID
    days = max(1, math.ceil(args.since.total_seconds() / 86400))
    report = preview_archive(config, raw, name=str(path), days=days, now=utc_now())
    if report.errors:
        for error in report.errors:
            print_error(error)
        return EXIT_INVALID
    print(preview_text(report, color=sys.stdout.isatty()))
    return EXIT_OK


def _rematch(args: argparse.Namespace) -> int:
    config, rules = load_config_and_rules(args)
    return asyncio.run(_rematch_async(config, rules, args))


async def _rematch_async(config: Config, rules: RuleSet, args: argparse.Namespace) -> int:
    service = Service(config, rules)
    try:
        now = utc_now()
        articles = service.parts.store.forget_matches_since(now - args.since)
        matches = await service.pipeline.match_pending(now)
        enqueued = (await service.pipeline.deliver_due(utc_now())).enqueued if args.deliver else []
    finally:
        await service.close()
    print(
        f"matched {articles} articles again: {matches} matches"
        + (f"; {len(enqueued)} deliveries" if args.deliver else "; the daemon delivers what is due")
    )
    return EXIT_OK
