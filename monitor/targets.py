"""Where a subscription's messages go: one frozen target type per channel kind.

Stdlib only. The store keeps a target as JSON (`target_to_json`): fields marked secret are
never written, and each type's `legacy_keys` reads rows written before the targets had
their own types. Adding a channel kind adds its type here and its channel to the registry
in `deliver/channels`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import ClassVar

SECRET = {"secret": True}


@dataclass(frozen=True, slots=True)
class FolderTarget:
    """Write `.eml` and `.html` files into `folder` (relative to the config file)."""

    kind: ClassVar[str] = "folder"
    legacy_keys: ClassVar[Mapping[str, str]] = {}
    folder: str


@dataclass(frozen=True, slots=True)
class EmailTarget:
    """Send by SMTP (the `smtp` settings) to every address in `to`."""

    kind: ClassVar[str] = "email"
    legacy_keys: ClassVar[Mapping[str, str]] = {"email_to": "to"}
    to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """POST the JSON body to `url`, signed with `secret` when there is one.

    `allow_private` lets `url` reach a loopback or private address (the guard refuses it
    otherwise): an operator's explicit choice for a receiver on their own network.
    """

    kind: ClassVar[str] = "webhook"
    legacy_keys: ClassVar[Mapping[str, str]] = {
        "webhook_url": "url",
        "webhook_secret": "secret",
        "webhook_format": "format",
    }
    url: str
    secret: str | None = field(default=None, metadata=SECRET)
    format: str = "standard"  # "standard" (monitor.digest/1) | "slack"
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class AppriseTarget:
    """Notify each Apprise service URL; the URLs carry tokens, so the store keeps them redacted.

    `allow_private` lets a URL's host be a loopback or private address (refused otherwise).
    """

    kind: ClassVar[str] = "apprise"
    legacy_keys: ClassVar[Mapping[str, str]] = {"apprise_urls": "urls"}
    urls: tuple[str, ...]
    allow_private: bool = False


ChannelTarget = FolderTarget | EmailTarget | WebhookTarget | AppriseTarget
TARGET_TYPES: Mapping[str, type[ChannelTarget]] = {
    target.kind: target for target in (FolderTarget, EmailTarget, WebhookTarget, AppriseTarget)
}


def target_to_json(target: ChannelTarget) -> dict[str, object]:
    """The target as a JSON object with its `kind`; secret fields are left out."""
    document: dict[str, object] = {"kind": target.kind}
    for spec in fields(target):
        if spec.metadata.get("secret"):
            continue
        value = getattr(target, spec.name)
        document[spec.name] = list(value) if isinstance(value, tuple) else value
    return document


def target_from_json(document: Mapping[str, object]) -> ChannelTarget:
    """Read back `target_to_json`'s output, or a row written with the old flat field names."""
    kind = str(document.get("kind"))
    target_type = TARGET_TYPES.get(kind)
    if target_type is None:
        known = ", ".join(TARGET_TYPES)
        raise ValueError(f"unknown channel kind '{kind}' (known: {known})")
    names = {spec.name: spec for spec in fields(target_type)}
    values: dict[str, object] = {}
    for key, value in document.items():
        name = target_type.legacy_keys.get(key, key)
        # Old rows carry every kind's fields, mostly empty: keep only this kind's, set ones.
        if name not in names or value is None or names[name].metadata.get("secret"):
            continue
        values[name] = tuple(value) if isinstance(value, list) else value
    try:
        return target_type(**values)  # type: ignore[arg-type]  # keys are this type's fields
    except TypeError as exc:
        raise ValueError(f"incomplete '{kind}' channel in the outbox: {exc}") from None
