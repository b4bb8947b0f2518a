"""The delivery channels: one `Channel` protocol and the one registry of channel kinds.

A channel sends one rendered `Delivery` (async: it never blocks the event loop) and raises
DeliveryError (retryable or permanent) when it cannot. Channels never read the store or
decide on retries: that is the outbox's job. `KINDS` says, per kind, how to build its
channel, what `monitor check` refuses, what the store may keep and which webhook body it
wants. A new kind is one target type in `model`, one channel module and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from monitor.deliver.channels.apprise import AppriseChannel, check_apprise_urls, redact_url
from monitor.deliver.channels.email import EmailChannel
from monitor.deliver.channels.folder import FolderChannel
from monitor.deliver.channels.mime import MailingList
from monitor.deliver.channels.webhook import EndpointGone, WebhookChannel, display_url
from monitor.model import Delivery
from monitor.settings import SmtpSettings
from monitor.targets import AppriseTarget, ChannelTarget, EmailTarget, FolderTarget, WebhookTarget

__all__ = [
    "KINDS",
    "AppriseChannel",
    "Channel",
    "ChannelContext",
    "ChannelKind",
    "EmailChannel",
    "EndpointGone",
    "FolderChannel",
    "MailingList",
    "WebhookChannel",
    "build_channels",
    "check_apprise_urls",
    "display_url",
    "live_target",
    "payload_format",
    "redact_channel",
    "redact_url",
    "target_problems",
]

T = TypeVar("T", FolderTarget, EmailTarget, WebhookTarget, AppriseTarget)


class Channel(Protocol):
    """Sends a delivery; raises DeliveryError(is_permanent=..., retry_after_s=...) on failure."""

    kind: str

    async def send(self, delivery: Delivery) -> None: ...


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What building a channel or checking a target may use, from the validated config."""

    base_dir: Path
    smtp: SmtpSettings | None = None
    mailing_lists: tuple[MailingList, ...] = ()  # one per subscription: List-Id, language
    webhook_timeout_s: float = 10.0
    # The deadline of channels that run in a worker thread (folder, apprise).
    thread_timeout_s: float = 30.0


def _no_problems(target: object, context: ChannelContext) -> list[str]:
    return []


def _kept_whole(target: T) -> T:
    return target


def _standard_body(target: object) -> str:
    return "standard"


@dataclass(frozen=True, slots=True)
class ChannelKind(Generic[T]):
    """Everything the rest of monitor needs to know about one channel kind."""

    target: type[T]
    # The channel for this kind, or None when the config cannot make one (email without smtp).
    build: Callable[[ChannelContext], Channel | None]
    # Problems `monitor check` and the daemon refuse to start with, one sentence each.
    check: Callable[[T, ChannelContext], list[str]] = _no_problems
    # The target as the store may keep it: no secret in clear.
    redact: Callable[[T], T] = _kept_whole
    # Which webhook body (`render`'s payload_format) this target wants.
    body_format: Callable[[T], str] = _standard_body


def _check_email(target: EmailTarget, context: ChannelContext) -> list[str]:
    if context.smtp is None:
        return ["sends email but there is no 'smtp' section"]
    return []


KINDS: Mapping[str, ChannelKind[Any]] = {
    kind.target.kind: kind
    for kind in (
        ChannelKind(
            FolderTarget,
            build=lambda context: FolderChannel(
                context.base_dir, timeout_s=context.thread_timeout_s
            ),
        ),
        ChannelKind(
            EmailTarget,
            build=lambda context: (
                EmailChannel(context.smtp, mailing_lists=context.mailing_lists)
                if context.smtp
                else None
            ),
            check=_check_email,
        ),
        ChannelKind(
            WebhookTarget,
            build=lambda context: WebhookChannel(timeout_s=context.webhook_timeout_s),
            redact=lambda target: replace(target, secret=None),
            body_format=lambda target: target.format,
        ),
        ChannelKind(
            AppriseTarget,
            build=lambda context: AppriseChannel(timeout_s=context.thread_timeout_s),
            check=lambda target, context: check_apprise_urls(target.urls),
            redact=lambda target: replace(target, urls=tuple(redact_url(u) for u in target.urls)),
        ),
    )
}


def _kind_of(target: ChannelTarget) -> ChannelKind[Any]:
    # KINDS is keyed by each target type's own `kind`: the entry is the one made for it.
    return KINDS[target.kind]


def build_channels(context: ChannelContext) -> dict[str, Channel]:
    """The channels keyed by kind; a kind the config cannot serve (email without smtp) is absent."""
    channels: dict[str, Channel] = {}
    for name, kind in KINDS.items():
        channel = kind.build(context)
        if channel is not None:
            channels[name] = channel
    return channels


def target_problems(target: ChannelTarget, context: ChannelContext) -> list[str]:
    """What is wrong with `target` under this config, for `monitor check`; [] when fine."""
    return _kind_of(target).check(target, context)


def redact_channel(target: ChannelTarget) -> ChannelTarget:
    """The target as the store may keep it: no webhook secret, apprise URLs redacted.

    The outbox finds the live, secret-bearing target again at send time (`live_target`).
    """
    redacted: ChannelTarget = _kind_of(target).redact(target)
    return redacted


def payload_format(target: ChannelTarget) -> str:
    """The webhook body format this target wants ("standard" unless it says otherwise)."""
    return _kind_of(target).body_format(target)


def live_target(stored: ChannelTarget, live: Iterable[ChannelTarget]) -> ChannelTarget:
    """The configured target that `stored` was redacted from (with its secrets), else `stored`.

    Rows written before URLs were redacted kept them in clear: those match as they are.
    """
    for candidate in live:
        if type(candidate) is type(stored) and stored in (candidate, redact_channel(candidate)):
            return candidate
    return stored
