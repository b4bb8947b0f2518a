"""`monitor test-rule` and `monitor rematch`: trying rules out and applying a change to the past.

test-rule stores and sends nothing. rematch matches stored articles again under the
current rules; what each subscription already received is never sent again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from monitor.app import Service, build_annotator, build_fetcher, test_rule, utc_now
from monitor.cli.common import (
    EXIT_OK,
    add_config_option,
    duration_argument,
    load_config_and_rules,
)
from monitor.config import Config
from monitor.model import RuleSet


def add_rule_commands(commands: Any) -> None:
    """Register `test-rule` and `rematch` on the top-level sub-command parser."""
    trying = commands.add_parser(
        "test-rule", help="show whether a rule matches a text and why (stores and sends nothing)"
    )
    add_config_option(trying)
    trying.add_argument("rule", help="the rule id")
    source = trying.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--text",
        type=Path,
        help="a text file: first line title, then body (a one-line file is all body)",
    )
    source.add_argument("--feed", type=Path, help="a saved RSS or Atom file")
    source.add_argument("--url", help="an article page or a feed on the web")
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
