"""At-least-once delivery from the durable outbox to the channels.

A delivery row is committed (by the pipeline, through the store) before any
channel is called; this module sends what is due, marks it sent only after the
channel confirms, and reschedules or dead-letters failures. It never renders.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.channels import Channel
from monitor.errors import DeliveryError
from monitor.logs import log_event
from monitor.model import Delivery, Subscription
from monitor.store import Store

DEFAULT_RETRY_DELAYS_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
_log = logging.getLogger("monitor.outbox")


@dataclass(frozen=True, slots=True)
class FlushReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0


class Outbox:
    """Sends due deliveries through their channel and records the outcome."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        subscriptions: Sequence[Subscription],
        *,
        retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._channels = channels
        self._subscriptions = {subscription.id: subscription for subscription in subscriptions}
        self._retry_delays_s = tuple(retry_delays_s)
        self._rng = rng or random.Random()

    def flush(self, now: datetime) -> FlushReport:
        """Try every due delivery once."""
        sent = retrying = dead = 0
        for delivery in self._store.due_deliveries(now):
            outcome = self.attempt(delivery, now)
            sent += outcome == "sent"
            retrying += outcome == "pending"
            dead += outcome == "dead"
        return FlushReport(sent=sent, retrying=retrying, dead=dead)

    def attempt(self, delivery: Delivery, now: datetime) -> str:
        """Send one delivery; return its new status ('sent', 'pending' or 'dead')."""
        channel = self._channels.get(delivery.channel.kind)
        if channel is None:
            return self._fail(delivery, f"no '{delivery.channel.kind}' channel configured", now)
        try:
            channel.send(self._with_secrets(delivery))
        except DeliveryError as exc:
            return self._fail(delivery, str(exc), now, exc=exc)
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

    def _with_secrets(self, delivery: Delivery) -> Delivery:
        # Secrets never go into the database; they are looked up in the live config.
        if delivery.channel.kind != "webhook":
            return delivery
        subscription = self._subscriptions.get(delivery.subscription_id)
        for spec in subscription.channels if subscription else ():
            if spec.kind == "webhook" and spec.webhook_url == delivery.channel.webhook_url:
                return replace(delivery, channel=spec)
        return delivery

    def _fail(
        self, delivery: Delivery, error: str, now: datetime, *, exc: DeliveryError | None = None
    ) -> str:
        attempt = delivery.attempts + 1
        is_permanent = exc is not None and exc.is_permanent
        next_attempt_at = None
        if not is_permanent and attempt <= len(self._retry_delays_s):
            delay_s = self._retry_delays_s[attempt - 1] * self._rng.uniform(0.8, 1.2)
            if exc is not None and exc.retry_after_s is not None:
                delay_s = max(delay_s, exc.retry_after_s)
            next_attempt_at = now + timedelta(seconds=delay_s)
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
