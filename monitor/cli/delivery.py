"""`monitor digest preview|send` and `monitor outbox retry`: delivery by hand.

Preview renders without storing or sending anything. Send and retry go through
the durable outbox exactly like the daemon, so their deliveries are recorded
and never repeated by the schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.app import Service, build_parts, utc_now
from monitor.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RUNTIME,
    add_config_option,
    duration_argument,
    load_config_and_rules,
    print_error,
)
from monitor.config import Config
from monitor.model import Annotations, Article, Subscription


def add_delivery_commands(commands: Any) -> None:
    """Register `digest` and `outbox` on the top-level sub-command parser."""
    digest = commands.add_parser("digest", help="preview or send a subscription's digest now")
    digest_commands = digest.add_subparsers(dest="digest_command", required=True, metavar="ACTION")

    preview = digest_commands.add_parser("preview", help="render without storing or sending")
    add_config_option(preview)
    preview.add_argument("subscription")
    preview.add_argument(
        "--since",
        type=duration_argument,
        default=timedelta(hours=24),
        help="stories matched within this window, delivered or not (default: 24h)",
    )
    preview.add_argument("--out", type=Path, help="write the HTML here (the text goes to stdout)")
    preview.set_defaults(handler=_preview)

    send = digest_commands.add_parser("send", help="send what the subscription has not received")
    add_config_option(send)
    send.add_argument("subscription")
    send.add_argument(
        "--since", type=duration_argument, help="only stories matched within this window"
    )
    send.set_defaults(handler=_send)

    outbox = commands.add_parser("outbox", help="act on deliveries in the outbox")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    retry = outbox_commands.add_parser("retry", help="send a pending or dead delivery again now")
    add_config_option(retry)
    retry.add_argument("delivery_id", help="the id, or its first characters, from `status`")
    retry.set_defaults(handler=_retry)


def _subscription(config: Config, wanted: str) -> Subscription | None:
    for subscription in config.subscriptions:
        if subscription.id == wanted:
            return subscription
    known = ", ".join(repr(s.id) for s in config.subscriptions) or "none"
    print_error(f"no subscription '{wanted}' in {config.path} (known: {known})")
    return None


def _preview(args: argparse.Namespace) -> int:
    config, rules = load_config_and_rules(args)
    subscription = _subscription(config, args.subscription)
    if subscription is None:
        return EXIT_INVALID
    parts = build_parts(config, rules, annotator=NoAnnotator())
    try:
        now = utc_now()
        digest = parts.pipeline.deliverer.build_digest(
            subscription, "digest", now, since=now - args.since, include_delivered=True
        )
        message = parts.renderer.render(digest)
    finally:
        asyncio.run(parts.close())
    print(f"Subject: {message.subject}\n")
    sys.stdout.write(message.text)
    if args.out:
        args.out.write_text(message.html, encoding="utf-8")
        print(f"\nwrote the HTML preview to {args.out}", file=sys.stderr)
    return EXIT_OK


def _send(args: argparse.Namespace) -> int:
    config, rules = load_config_and_rules(args)
    subscription = _subscription(config, args.subscription)
    if subscription is None:
        return EXIT_INVALID
    return asyncio.run(_send_async(config, rules, subscription, args.since))


async def _send_async(
    config: Config, rules: Any, subscription: Subscription, since: timedelta | None
) -> int:
    service = Service(config, rules)
    try:
        now = utc_now()
        report = await service.pipeline.deliverer.send_digest_now(
            subscription, now, since=now - since if since else None
        )
    finally:
        await service.close()
    if not report.enqueued:
        print(f"nothing new for '{subscription.id}': no digest sent")
        return EXIT_OK
    flushed = report.flushed
    print(
        f"digest for '{subscription.id}': {len(report.enqueued)} deliveries, "
        f"{flushed.sent} sent, {flushed.retrying} to retry, {flushed.dead} failed"
    )
    return EXIT_OK if flushed.dead == 0 else EXIT_RUNTIME


def _retry(args: argparse.Namespace) -> int:
    config, rules = load_config_and_rules(args)
    return asyncio.run(_retry_async(config, rules, args.delivery_id))


async def _retry_async(config: Config, rules: Any, prefix: str) -> int:
    service = Service(config, rules)
    try:
        store = service.parts.store
        candidates = [
            delivery
            for delivery in store.deliveries("dead") + store.deliveries("pending")
            if delivery.id.startswith(prefix)
        ]
        if len(candidates) != 1:
            what = "no pending or dead delivery" if not candidates else "several deliveries"
            print_error(f"outbox: {what} with an id starting with '{prefix}'")
            return EXIT_INVALID
        now = utc_now()
        store.requeue(candidates[0].id, now)
        status = await service.parts.outbox.attempt(
            store.delivery(candidates[0].id) or candidates[0], now
        )
    finally:
        await service.close()
    print(f"delivery {candidates[0].id}: {status}")
    return EXIT_OK if status == "sent" else EXIT_RUNTIME


class NoAnnotator:
    """For commands that never analyse text (status, previews): the model is never loaded."""

    def annotate(self, articles: Sequence[Article], *, with_entities: bool) -> list[Annotations]:
        raise AssertionError("this command does not analyse articles")
