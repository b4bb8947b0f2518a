"""What every `monitor` command shares: exit codes, the --config option, messages.

Exit codes: 0 ok, 1 invalid input (config, rules, templates, arguments naming
missing things), 2 usage, 3 a runtime failure (store unusable, another daemon).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from monitor.config import Config, load_config, parse_duration_s
from monitor.logs import redact
from monitor.model import RuleSet
from monitor.rules import load_rules

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3
# What a shell reports for a program whose reader went away (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("config.yaml"),
        help="configuration file (default: ./config.yaml)",
    )


def print_error(message: str) -> None:
    """One line on stderr; URL credentials in the message are hidden (errors quote URLs)."""
    print(f"monitor: {redact(message)}", file=sys.stderr)


def load_config_and_rules(args: argparse.Namespace) -> tuple[Config, RuleSet]:
    """The validated config and rules named by --config; raises on any error."""
    config = load_config(args.config)
    return config, load_rules(config.rules_dir)


def duration_argument(text: str) -> timedelta:
    """argparse type for '24h', '30m', '7d'."""
    try:
        return timedelta(seconds=parse_duration_s(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
