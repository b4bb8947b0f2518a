"""At-least-once delivery from the durable outbox to the channels.

A delivery row is committed (by the pipeline, through the store) before any
channel is called; this module sends what is due, marks it sent only after the
channel confirms, and reschedules or dead-letters failures. Every send runs under a
deadline; a send cancelled at shutdown leaves its row untouched (pending). It never
renders. See docs/delivery.md for the guarantees and the tests that back them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from monitor.deliver.channels import Channel, EndpointGone, display_url, live_target
from monitor.errors import DeliveryError
from monitor.logs import log_event
from monitor.model import Delivery, Subscription
from monitor.settings import DeliverySettings
from monitor.targets import WebhookTarget

_DEFAULT_SETTINGS = DeliverySettings()
DEFAULT_RETRY_DELAYS_S = _DEFAULT_SETTINGS.retry_delays_s
JITTER = 0.2  # each delay is drawn from ±20% of the schedule, so retries do not stampede
# A receiver's Retry-After is honoured up to a day; past that the schedule goes on.
MAX_RETRY_AFTER_S = 86400.0
# The longest one send may take, all its round trips included, before it counts as failed.
_log = logging.getLogger("monitor.deliver.outbox")

EndpointGoneHandler = Callable[[Delivery, EndpointGone], None]


class OutboxStore(Protocol):
    """What the outbox needs of the store: due rows and their outcome."""

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]: ...

    def mark_sent(self, delivery_id: str, now: datetime) -> None: ...

    def mark_failed(
        self, delivery_id: str, error: str, *, next_attempt_at: datetime | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class FlushReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0


class Outbox:
    """Sends due deliveries through their channel and records the outcome.

    `on_endpoint_gone` is called once per delivery whose webhook answered 410 Gone;
    deliveries to a gone URL (or one of `disabled_webhook_urls`) are dead-lettered
    without a request. A send that takes longer than `settings.send_timeout_s` is a retryable
    failure. One flush at a time: two concurrent flushes could send the same row twice.
    """

    def __init__(
        self,
        store: OutboxStore,
        channels: Mapping[str, Channel],
        subscriptions: Sequence[Subscription],
        *,
        settings: DeliverySettings = _DEFAULT_SETTINGS,
        rng: random.Random | None = None,
        on_endpoint_gone: EndpointGoneHandler | None = None,
        disabled_webhook_urls: Iterable[str] = (),
    ) -> None:
        self._store = store
        self._channels = channels
        self._subscriptions = {subscription.id: subscription for subscription in subscriptions}
        self._retry_delays_s = settings.retry_delays_s
        self._rng = rng or random.Random()
        self._on_endpoint_gone = on_endpoint_gone
        self._gone_urls = set(disabled_webhook_urls)
        self._send_timeout_s = settings.send_timeout_s

    async def flush(self, now: datetime) -> FlushReport:
        """Try every due delivery once, one after the other."""
        sent = retrying = dead = 0
        for delivery in self._store.due_deliveries(now):
            outcome = await self.attempt(delivery, now)
            sent += outcome == "sent"
            retrying += outcome == "pending"
            dead += outcome == "dead"
        return FlushReport(sent=sent, retrying=retrying, dead=dead)

    async def attempt(self, delivery: Delivery, now: datetime) -> str:
        """Send one delivery; return its new status ('sent', 'pending' or 'dead').

        Cancelled (at shutdown), it records nothing: the row stays pending, its attempt
        uncounted, and the next start sends it.
        """
        channel = self._channels.get(delivery.channel.kind)
        if channel is None:
            return self._fail(delivery, f"no '{delivery.channel.kind}' channel configured", now)
        target = delivery.channel
        if isinstance(target, WebhookTarget) and target.url in self._gone_urls:
            error = DeliveryError(
                f"{display_url(target.url)} was disabled after a 410 Gone; update or remove the "
                "webhook url, then retry this delivery",
                channel="webhook",
                is_permanent=True,
            )
            return self._fail(delivery, str(error), now, exc=error)
        try:
            await self._send(channel, self._with_secrets(delivery))
        except EndpointGone as exc:
            return self._gone(delivery, exc, now)
        except DeliveryError as exc:
            return self._fail(delivery, str(exc), now, exc=exc)
        # No await between the channel's confirmation and this line: a cancellation cannot
        # fall between them.
        self._store.mark_sent(delivery.id, now)
        log_event(
            _log,
            logging.INFO,
            "delivery.sent",
            delivery_id=delivery.id,
            subscription_id=delivery.subscription_id,
            channel=delivery.channel.kind,
            attempt=delivery.attempts + 1,
        )
        return "sent"

    async def _send(self, channel: Channel, delivery: Delivery) -> None:
        """`channel.send` under the send deadline; running out of time is retryable."""
        try:
            async with asyncio.timeout(self._send_timeout_s):
                await channel.send(delivery)
        except TimeoutError:
            raise DeliveryError(
                f"no confirmation within {self._send_timeout_s:g} s (delivery.send_timeout)",
                channel=delivery.channel.kind,
            ) from None

    def _with_secrets(self, delivery: Delivery) -> Delivery:
        # Secrets never go into the database; they are looked up in the live config.
        subscription = self._subscriptions.get(delivery.subscription_id)
        live = subscription.channels if subscription else ()
        return replace(delivery, channel=live_target(delivery.channel, live))

    def _gone(self, delivery: Delivery, exc: EndpointGone, now: datetime) -> str:
        self._gone_urls.add(exc.url)
        status = self._fail(delivery, str(exc), now, exc=exc)
        if self._on_endpoint_gone is not None:
            self._on_endpoint_gone(delivery, exc)
        return status

    def _fail(
        self, delivery: Delivery, error: str, now: datetime, *, exc: DeliveryError | None = None
    ) -> str:
        attempt = delivery.attempts + 1
        next_attempt_at = self._next_attempt_at(attempt, now, exc)
        self._store.mark_failed(delivery.id, error, next_attempt_at=next_attempt_at)
        status = "pending" if next_attempt_at else "dead"
        log_event(
            _log,
            logging.WARNING if status == "pending" else logging.ERROR,
            "delivery.failed",
            delivery_id=delivery.id,
            subscription_id=delivery.subscription_id,
            channel=delivery.channel.kind,
            attempt=attempt,
            status=status,
            error=error,
            next_attempt_at=next_attempt_at.isoformat() if next_attempt_at else None,
        )
        return status

    def _next_attempt_at(
        self, attempt: int, now: datetime, exc: DeliveryError | None
    ) -> datetime | None:
        """When to try again after failed attempt number `attempt`; None: dead-letter."""
        if (exc is not None and exc.is_permanent) or attempt > len(self._retry_delays_s):
            return None
        delay_s = self._retry_delays_s[attempt - 1] * self._rng.uniform(1 - JITTER, 1 + JITTER)
        if exc is not None and exc.retry_after_s is not None:
            delay_s = max(delay_s, min(exc.retry_after_s, MAX_RETRY_AFTER_S))
        return now + timedelta(seconds=delay_s)
