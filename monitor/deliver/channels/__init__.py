"""The delivery channels: one `Channel` protocol and the built-in kinds.

A channel sends one rendered `Delivery` and raises DeliveryError (retryable or
permanent) when it cannot. Channels never read the store or decide on retries:
that is the outbox's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from monitor.deliver.channels.apprise import AppriseChannel, check_apprise_urls, redact_url
from monitor.deliver.channels.email import EmailChannel, SmtpSettings
from monitor.deliver.channels.folder import FolderChannel
from monitor.deliver.channels.webhook import EndpointGone, WebhookChannel, display_url
from monitor.model import Delivery

__all__ = [
    "AppriseChannel",
    "Channel",
    "EmailChannel",
    "EndpointGone",
    "FolderChannel",
    "SmtpSettings",
    "WebhookChannel",
    "build_channels",
    "check_apprise_urls",
    "display_url",
    "redact_url",
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
        "apprise": AppriseChannel(),
    }
    if smtp is not None:
        channels["email"] = EmailChannel(smtp)
    return channels
