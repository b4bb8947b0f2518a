"""`monitor web`: the analyst's workspace without the daemon; its only write is feedback.

Serves the same pages, Atom feeds and export as the daemon's web server over the configured
store and prints the address to open; stops on Ctrl-C or SIGTERM. Parsing and exit codes
only: the app layer serves.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from monitor.app import serve_workspace, utc_now
from monitor.cli.common import EXIT_OK, add_config_option
from monitor.config import load_config


def add_web_command(commands: Any) -> None:
    """Register `web` on the top-level sub-command parser."""
    web = commands.add_parser(
        "web", help="serve the workspace (matches, Atom feeds, export, feedback) without the daemon"
    )
    add_config_option(web)
    web.add_argument(
        "--listen",
        type=_listen_argument,
        metavar="HOST:PORT",
        help="address to serve on (default: web.listen, 127.0.0.1:9464; port 0 picks one); "
        "any non-loopback address needs MONITOR_WEB_TOKEN",
    )
    web.set_defaults(handler=_web)


def _listen_argument(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host.strip("[]") or "127.0.0.1", int(port)


def _web(args: argparse.Namespace) -> int:
    # Read-only: no secret but the web token is used, so a missing one is no reason to stop.
    config = load_config(args.config, require_secrets=False)

    def ready(url: str) -> None:
        print(f"monitor web: open {url} (it changes only feedback; Ctrl-C stops)", flush=True)

    asyncio.run(serve_workspace(config, listen=args.listen, clock=utc_now, on_ready=ready))
    print("monitor web: stopped", file=sys.stderr)
    return EXIT_OK
