"""The delivery channels: one `Channel` protocol and the three built-in kinds.

A channel sends one rendered `Delivery` and raises DeliveryError (retryable or
permanent) when it cannot. Channels never read the store or decide on retries:
that is the outbox's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from monitor.channels.email import EmailChannel, SmtpSettings
from monitor.channels.folder import FolderChannel
from monitor.channels.webhook import WebhookChannel
from monitor.model import Delivery

__all__ = [
    "Channel",
    "EmailChannel",
    "FolderChannel",
    "SmtpSettings",
    "WebhookChannel",
    "build_channels",
]


class Channel(Protocol):
    """Sends a delivery; raises DeliveryError(is_permanent=..., retry_after_s=...) on failure."""

    kind: str

    def send(self, delivery: Delivery) -> None: ...


def build_channels(
    *, base_dir: Path, smtp: SmtpSettings | None, webhook_timeout_s: float = 10.0
) -> dict[str, Channel]:
    """The channels keyed by kind; "email" only when SMTP is configured."""
    channels: dict[str, Channel] = {
        "folder": FolderChannel(base_dir),
        "webhook": WebhookChannel(timeout_s=webhook_timeout_s),
    }
    if smtp is not None:
        channels["email"] = EmailChannel(smtp)
    return channels
