"""The `monitor` command: argument parsing, dispatch, and the daemon-side commands.

Messages go to stderr and name the file and line when the user can fix
something; exit codes are listed in `cli_base`. Delivery commands live in
`cli_delivery`, rule tools in `cli_rules`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from monitor.app import (
    Service,
    StartRules,
    build_parts,
    channel_errors,
    collect_status,
    expat_problem,
    format_status,
    replay_files,
    replay_paths,
    rules_for_start,
    store_errors,
    template_errors,
    utc_now,
    web_errors,
)
from monitor.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RUNTIME,
    add_config_option,
    load_config_and_rules,
    print_error,
)
from monitor.cli.delivery import NoAnnotator, add_delivery_commands
from monitor.cli.export import add_export_commands
from monitor.cli.feeds import add_feed_commands
from monitor.cli.rules import add_rule_commands
from monitor.cli.store import add_store_commands
from monitor.cli.web import add_web_command
from monitor.cli.webhook import add_webhook_commands
from monitor.config import Config, load_config, reference_problems
from monitor.errors import ConfigError, ConfigErrors, InputError, MonitorError, RuleSetError
from monitor.logs import configure_logging, redact
from monitor.model import RuleSet
from monitor.rules import load_rules, rule_errors
from monitor.targets import FolderTarget


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        json_lines=getattr(args, "log_format", "kv") == "json",
    )
    try:
        code: int = args.handler(args)
    except ConfigErrors as exc:
        for config_error in exc.errors:
            print_error(str(config_error))
        return EXIT_INVALID
    except (ConfigError, InputError) as exc:
        print_error(str(exc))
        return EXIT_INVALID
    except RuleSetError as exc:
        for error in exc.errors:
            print_error(str(error))
        return EXIT_INVALID
    except MonitorError as exc:
        print_error(str(exc))
        return EXIT_RUNTIME
    except BrokenPipeError:
        # `monitor … | head`: the reader has gone, which is not an error of ours.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return code


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; pointing it at /dev/null keeps that flush quiet.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # stdout is not a real file (tests capture it): nothing will flush to a pipe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor", description="Press-monitoring alert daemon: feeds in, explained alerts out."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon (or one pass with --once)")
    add_config_option(run)
    run.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    run.add_argument("--log-format", choices=("kv", "json"), default="kv")
    run.add_argument("-v", "--verbose", action="store_true", help="log every article")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check", help="validate config, rules and templates")
    add_config_option(check)
    check.set_defaults(handler=_check)

    status = commands.add_parser("status", help="feeds' health, subscriptions, outbox")
    add_config_option(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=_status)

    replay = commands.add_parser(
        "replay", help="push saved feed files or plain-text articles through the pipeline"
    )
    add_config_option(replay)
    replay.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    replay.add_argument("--language", help="language of the articles when files do not say")
    replay.add_argument("--deliver", action="store_true", help="deliver what is due afterwards")
    replay.set_defaults(handler=_replay)

    add_delivery_commands(commands)
    add_feed_commands(commands)
    add_rule_commands(commands)
    add_webhook_commands(commands)
    add_web_command(commands)
    add_export_commands(commands)
    add_store_commands(commands)
    return parser


def _run(args: argparse.Namespace) -> int:
    if _has_unsafe_xml_parser():
        return EXIT_RUNTIME
    config = load_config(args.config)
    # Before the rules: a broken rules folder falls back to the snapshot in the store.
    unusable = store_errors(config)
    for problem in unusable:
        print_error(problem)
    if unusable:
        return EXIT_INVALID
    # The daemon starts on the last good rules when rules/ is broken (check never does).
    start = rules_for_start(config)
    problems = template_errors(config) + channel_errors(config) + web_errors(config)
    if problems:
        for problem in problems:
            print_error(problem)
        return EXIT_INVALID
    for problem in reference_problems(config, start.rules):
        # A warning, not a refusal: the other subscriptions and rules still work.
        print_error(f"warning: {problem}")
    if start.refused is not None:
        for error in start.refused.errors:
            print_error(str(error))
        print_error(
            "rules: the rules folder does not validate; running on the last good rules "
            f"saved in the store at {start.snapshot_saved_at} until it does"
        )
    return asyncio.run(_run_async(config, start, once=args.once))


async def _run_async(config: Config, start: StartRules, *, once: bool) -> int:
    service = Service(
        config, start.rules, refused=start.refused, snapshot_saved_at=start.snapshot_saved_at
    )
    try:
        if once:
            report = await service.run_once()
            _print_once_summary(config, report.polls, report.delivered.enqueued)
        else:
            await service.run_forever()
    finally:
        await service.close()
    return EXIT_OK


def _print_once_summary(config: Config, polls: Sequence[object], enqueued: list[str]) -> None:
    for poll in polls:
        fields = asdict(poll)  # type: ignore[call-overload]  # PollReport is a dataclass
        error = f" ({redact(fields['error'])})" if fields["error"] else ""
        print(f"feed {fields['feed_id']}: {fields['status']}, {fields['new_articles']} new{error}")
    folders = sorted(
        {
            str(config.base_dir / channel.folder)
            for subscription in config.subscriptions
            for channel in subscription.channels
            if isinstance(channel, FolderTarget)
        }
    )
    where = f" (folder output in {', '.join(folders)})" if folders else ""
    print(f"deliveries: {len(enqueued)} new{where}")


def _has_unsafe_xml_parser() -> bool:
    problem = expat_problem()
    if problem is not None:
        print_error(problem)
    return problem is not None


def _check(args: argparse.Namespace) -> int:
    if _has_unsafe_xml_parser():
        return EXIT_RUNTIME
    # Read-only: a secret this user cannot read is reported, not fatal (`run` still needs it).
    config = load_config(args.config, require_secrets=False)
    errors = rule_errors(config.rules_dir)
    for error in errors:
        print_error(str(error))
    problems = template_errors(config) + channel_errors(config) + web_errors(config)
    problems += store_errors(config)
    rules = None if errors else load_rules(config.rules_dir)
    if rules is not None:
        # Names are checked against a rule set only when it loaded whole, or every rule in a
        # broken file would look missing.
        problems += reference_problems(config, rules)
    for problem in problems:
        print_error(problem)
    for missing in config.missing_secrets:
        print_error(f"{missing}; `monitor run` will not start without it")
    if rules is None or problems:
        return EXIT_INVALID
    unread = (
        f"; {len(config.missing_secrets)} secrets not readable here"
        if config.missing_secrets
        else ""
    )
    print(
        f"ok: {len(config.feeds)} feeds, {len(config.subscriptions)} subscriptions, "
        f"{len(rules.rules)} rules, {len(rules.actors)} actors{unread}"
    )
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    config = load_config(args.config, require_secrets=False)
    for missing in config.missing_secrets:
        print_error(missing)
    # Status is most needed when something is broken: broken rules must not hide it.
    try:
        rules = load_rules(config.rules_dir)
    except RuleSetError as exc:
        for error in exc.errors:
            print_error(str(error))
        rules = RuleSet(rules=())
    parts = build_parts(config, rules, annotator=NoAnnotator())
    try:
        report = collect_status(config, parts.pipeline, parts.store, utc_now())
    finally:
        asyncio.run(parts.close())
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False, default=_json_default))
    else:
        print(format_status(report))
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    config, rules = load_config_and_rules(args)
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        print_error(f"replay: no such file or folder: {', '.join(repr(m) for m in missing)}")
        return EXIT_INVALID
    return asyncio.run(_replay_async(config, rules, args))


async def _replay_async(config: Config, rules: RuleSet, args: argparse.Namespace) -> int:
    service = Service(config, rules)
    try:
        files = replay_files(args.paths)
        report = await replay_paths(
            service.pipeline,
            files,
            utc_now(),
            language=args.language,
            max_entries=config.fetch.max_entries,
            on_progress=_progress_printer(),
        )
        delivered = (await service.pipeline.deliver_due(utc_now())).enqueued if args.deliver else []
    finally:
        await service.close()
    print(
        f"replayed {report.files} files: {report.articles} articles, {report.new_articles} new, "
        f"{report.duplicates} duplicates, {report.matches} matches, {report.failed} failed"
        + (f"; {len(delivered)} deliveries" if args.deliver else "")
    )
    for path, dropped in report.dropped:
        print_error(
            f"replay: '{path}': kept the newest {config.fetch.max_entries} entries, "
            f"dropped {dropped} older ones (raise fetch.max_entries to keep them)"
        )
    return EXIT_INVALID if report.failed else EXIT_OK


def _progress_printer() -> Callable[[int, int, Path, str | None], None]:
    """A progress bar on a terminal; one line per failure (and the end) otherwise."""
    is_terminal = sys.stderr.isatty()

    def show(done: int, total: int, path: Path, error: str | None) -> None:
        if error:
            print(f"\rmonitor: {error}", file=sys.stderr)
        if is_terminal:
            filled = int(30 * done / total)
            bar = "#" * filled + "." * (30 - filled)
            end = "\n" if done == total else ""
            print(f"\r[{bar}] {done}/{total} {path.name[:40]:<40}", end=end, file=sys.stderr)

    return show


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
