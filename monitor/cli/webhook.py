"""`monitor webhook new-secret`: a fresh signing secret for a webhook channel.

Prints the secret alone on stdout (so `$(monitor webhook new-secret)` captures it) and on
stderr where it goes; reads no config and writes no file, since the secret belongs in the
environment, not in config.yaml.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.cli.common import EXIT_OK
from monitor.config import new_webhook_secret

_WHERE = """\
Put it in the daemon's environment (e.g. WEBHOOK_SECRET=… in /etc/monitor/monitor.env),
refer to it from config.yaml as  to: {webhook: {url: …, secret: "${WEBHOOK_SECRET}"}},
and give the receiver the same value: Standard Webhooks libraries verify with it as is."""


def add_webhook_commands(commands: Any) -> None:
    """Register `webhook new-secret` on the top-level sub-command parser."""
    webhook = commands.add_parser("webhook", help="webhook signing secrets")
    actions = webhook.add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    new_secret = actions.add_parser(
        "new-secret", help="print a fresh whsec_ signing secret (Standard Webhooks format)"
    )
    new_secret.set_defaults(handler=_new_secret)


def _new_secret(args: argparse.Namespace) -> int:
    print(new_webhook_secret())
    print(_WHERE, file=sys.stderr)
    return EXIT_OK
