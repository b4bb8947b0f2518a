"""`monitor feeds import FILE.opml` and `monitor feeds export`: feed lists in and out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.cli.common import EXIT_INVALID, EXIT_OK, add_config_option, print_error
from monitor.config import add_feeds, load_config, read_opml, write_opml


def add_feed_commands(commands: Any) -> None:
    """Register `feeds import` and `feeds export` on the top-level sub-command parser."""
    feeds = commands.add_parser("feeds", help="import or export the feed list as OPML")
    actions = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")

    importing = actions.add_parser("import", help="add the feeds of an OPML file to the config")
    add_config_option(importing)
    importing.add_argument("opml", type=Path, help="an OPML file (from a feed reader)")
    importing.set_defaults(handler=_import)

    exporting = actions.add_parser("export", help="print the configured feeds as OPML")
    add_config_option(exporting)
    exporting.add_argument("--out", type=Path, help="write to this file instead of stdout")
    exporting.set_defaults(handler=_export)


def _import(args: argparse.Namespace) -> int:
    load_config(args.config)  # refuse to edit a config that is already broken
    if args.opml.is_dir():
        print_error(f"feeds import: '{args.opml}' is a folder, not a file")
        return EXIT_INVALID
    try:
        data = args.opml.read_bytes()
    except OSError as exc:
        print_error(f"feeds import: cannot read '{args.opml}': {exc.strerror or exc}")
        return EXIT_INVALID
    feeds = read_opml(data, source=str(args.opml))
    added = add_feeds(args.config, feeds)
    for feed in added:
        print(f"added feed '{feed.id}': {feed.url}")
    skipped = len(feeds) - len(added)
    print(f"{len(added)} feeds added to {args.config}, {skipped} already there")
    if added:
        print("a running daemon picks them up on SIGHUP (systemctl reload monitor)")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    document = write_opml(config.feeds, title=f"monitor feeds ({args.config.name})")
    if args.out:
        args.out.write_text(document, encoding="utf-8")
        print(f"wrote {len(config.feeds)} feeds to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(document)
    return EXIT_OK
