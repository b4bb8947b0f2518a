"""The shape of config.yaml: one strict pydantic model per section, with the checks that
need no other section (durations, digest schedules, channel targets).

Pure: no file, no environment. `load.py` reads the file, expands secrets and validates the
document against `ConfigSpec`; cross-section checks and the frozen `Config` live there.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.config.address import address_problem
from monitor.config.duration import parse_duration_s
from monitor.config.story_spec import StoriesSpec
from monitor.cron import parse_schedule
from monitor.settings import FetchSettings
from monitor.targets import AppriseTarget, ChannelTarget, EmailTarget, FolderTarget, WebhookTarget
from monitor.urls import feed_url_problem, web_url_problem

# A desk with 10,000 feeds writes a config.yaml of ~1.5 MB and ~200,000 values (about 20 a
# feed); the caps leave room for ten times that while a billion-laughs file stays refused.
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_CONFIG_VALUES = 2_000_000


def known_time_zone(value: str) -> str:
    """`value` if it names an IANA time zone; else ValueError saying so."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}' (use an IANA name)") from None
    return value


def _check_address(value: str) -> str:
    problem = address_problem(value)
    if problem:
        raise ValueError(problem)
    return value


EmailAddress = Annotated[str, AfterValidator(_check_address)]


def _as_list(value: object) -> object:
    """One value where a list is allowed, as a one-item list (a single `to`, one address)."""
    return value if isinstance(value, list) else [value]


# --- the file's shape ---------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSpec(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str = Field(min_length=1)
    title: str = ""
    every: str | int = "15m"
    language: str | None = None
    tags: list[str] = []
    allow_private: bool = False
    full_text: bool = False
    ca_file: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        problem = feed_url_problem(value)
        if problem is not None:
            # Not the URL itself: it may carry a password. The location names the feed.
            raise ValueError(f"invalid url: {problem}")
        return value

    @field_validator("every")
    @classmethod
    def _check_every(cls, value: str | int) -> str | int:
        if parse_duration_s(value) < 10:
            raise ValueError("a feed is polled at most every 10s")
        return value


class WebhookSpec(Strict):
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None
    format: Literal["standard", "slack"] = "standard"
    allow_private: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        problem = web_url_problem(value)
        if problem is not None:
            raise ValueError(f"invalid webhook url: {problem}")
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: str | None) -> str | None:
        problem = webhook_secret_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_BYTES = (24, 64)  # the Standard Webhooks range for a secret's random key
_UNSET_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def new_webhook_secret(key_bytes: int = 32) -> str:
    """A fresh random Standard Webhooks secret: 'whsec_' + base64 of `key_bytes` random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(key_bytes)).decode("ascii")


def webhook_secret_problem(secret: str | None) -> str | None:
    """Why `secret` is not a Standard Webhooks secret ('whsec_' + base64 of 24-64 bytes), or None.

    Receivers' libraries base64-decode every secret string, so a plain password would sign
    with one key here and verify with another there. The message never quotes the secret.
    """
    # Still `${NAME}`: the variable is unset, which its own error (or check's note) reports.
    if secret is None or _UNSET_REFERENCE.search(secret):
        return None
    hint = "; generate one with `monitor webhook new-secret`"
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        return (
            "the webhook secret is not a Standard Webhooks secret (it should start with "
            f"'{WEBHOOK_SECRET_PREFIX}', which receivers' libraries expect){hint}"
        )
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return f"the webhook secret's text after '{WEBHOOK_SECRET_PREFIX}' is not base64{hint}"
    low, high = WEBHOOK_SECRET_BYTES
    if not low <= len(key) <= high:
        return (
            f"the webhook secret holds a {len(key)}-byte key; Standard Webhooks asks for "
            f"{low} to {high} bytes{hint}"
        )
    return None


class AppriseSpec(Strict):
    urls: list[str] = Field(min_length=1)
    allow_private: bool = False


class ChannelSpec(Strict):
    """One `to` entry: exactly one of these keys, each read by `TARGET_READERS`.

    The short forms (`email: one@address`, `apprise: [urls]`) are widened before validation,
    so each key has one shape and a mistake gets one message, not one per union branch.
    """

    folder: str | None = None
    email: list[EmailAddress] | None = None
    webhook: WebhookSpec | None = None
    # A bare list of service URLs, or {urls, allow_private} to reach a private host.
    apprise: AppriseSpec | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _widen_email(cls, value: object) -> object:
        return value if value is None else _as_list(value)

    @field_validator("apprise", mode="before")
    @classmethod
    def _widen_apprise(cls, value: object) -> object:
        return {"urls": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _check_one_kind(self) -> ChannelSpec:
        chosen = [name for name in TARGET_READERS if getattr(self, name)]
        if len(chosen) != 1:
            raise ValueError(
                f"each 'to' entry names exactly one of {', '.join(TARGET_READERS)}"
                + (f" (this one names {' and '.join(chosen)})" if chosen else "")
            )
        return self


def _email_target(value: list[str]) -> EmailTarget:
    return EmailTarget(to=tuple(value))


def _webhook_target(value: WebhookSpec) -> WebhookTarget:
    return WebhookTarget(
        url=value.url, secret=value.secret, format=value.format, allow_private=value.allow_private
    )


def _apprise_target(value: AppriseSpec) -> AppriseTarget:
    return AppriseTarget(urls=tuple(value.urls), allow_private=value.allow_private)


# The one place config parsing lists channel kinds: `to` key → the target it builds.
TARGET_READERS: dict[str, Callable[[Any], ChannelTarget]] = {
    "folder": lambda value: FolderTarget(folder=value),
    "email": _email_target,
    "webhook": _webhook_target,
    "apprise": _apprise_target,
}


class FollowUpSpec(Strict):
    """When a story already sent earns one "story developing" update (off unless set)."""

    outlets: int | None = Field(default=None, ge=1, le=1000)
    new_actor: bool = False

    @model_validator(mode="after")
    def _check_some_trigger(self) -> FollowUpSpec:
        if self.outlets is None and not self.new_actor:
            raise ValueError(
                "follow_up says neither when to follow a story up: set 'outlets' (how many "
                "new outlets, e.g. 3), 'new_actor: true', or both; remove 'follow_up' to "
                "send each story once"
            )
        return self


class SubscriptionSpec(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str | None = None
    rules: list[str] = ["*"]
    schedule: str | None = None
    timezone: str = "UTC"
    immediate: Literal["low", "normal", "high"] | None = None
    to: list[ChannelSpec]
    max_items: int = Field(default=200, ge=1, le=5000)
    send_empty: bool = False
    templates: str | None = None
    language: Literal["fr", "en"] | None = None  # None: the top-level `language`
    follow_up: FollowUpSpec | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _widen_to(cls, value: object) -> object:
        return _as_list(value)

    @model_validator(mode="after")
    def _check_when(self) -> SubscriptionSpec:
        if self.schedule is None and self.immediate is None:
            raise ValueError("set 'schedule' (a cron digest), 'immediate', or both")
        return self

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return known_time_zone(value)

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value, "UTC")
        return value


class SmtpSpec(Strict):
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    from_: EmailAddress = Field(default="monitor@localhost", alias="from")
    timeout_s: float = 30.0
    ca_file: str | None = None
    unsubscribe_url: str | None = None

    @field_validator("unsubscribe_url")
    @classmethod
    def _check_unsubscribe_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "{subscription}" not in value:
            raise ValueError(
                f"'{value}' does not say which subscription to leave "
                "(put '{subscription}' in it, e.g. https://example.org/unsubscribe/{subscription})"
            )
        # RFC 8058 3.1: the one-click form needs an https URI.
        problem = web_url_problem(value.replace("{subscription}", "x"))
        if problem is None and not value.lower().startswith("https://"):
            problem = "one-click unsubscribe needs https (RFC 8058)"
        if problem is not None:
            raise ValueError(f"'{value}': {problem}")
        return value


_FETCH = FetchSettings()


class FetchSpec(Strict):
    # The defaults live in FetchSettings; this is the file's shape and the allowed ranges.
    timeout_s: float = Field(default=_FETCH.timeout_s, gt=0)
    deadline_s: float = Field(default=_FETCH.deadline_s, gt=0)
    max_body_bytes: int = Field(default=_FETCH.max_body_bytes, gt=0)
    max_redirects: int = Field(default=_FETCH.max_redirects, ge=0, le=20)
    max_entries: int = Field(default=_FETCH.max_entries, ge=1)
    max_concurrency: int = Field(default=_FETCH.max_concurrency, ge=1, le=1000)
    max_per_host: int = Field(default=_FETCH.max_per_host, ge=1, le=100)
    host_spacing_s: float = Field(default=_FETCH.host_spacing_s, ge=0)
    max_interval: str | int | float = _FETCH.max_interval_s
    failing_after: str | int | float = _FETCH.failing_after_s

    @field_validator("max_interval", "failing_after")
    @classmethod
    def _check_duration(cls, value: str | int | float) -> str | int | float:
        parse_duration_s(value)
        return value


class NlpSpec(Strict):
    max_chars: int = Field(default=20_000, ge=100)
    batch_size: int = Field(default=8, ge=1, le=256)
    workers: int = Field(default=1, ge=1, le=64)


class DeliverySpec(Strict):
    check_every: str | int = "30s"
    send_timeout: str | int = "60s"

    @field_validator("send_timeout")
    @classmethod
    def _check_send_timeout(cls, value: str | int) -> str | int:
        if parse_duration_s(value) <= 0:
            raise ValueError("a send needs some time: use e.g. 60s")
        return value

    retry_delays: list[str | int] = ["5s", "5m", "30m", "2h", "5h", "10h", "10h"]


_LISTEN = r"^\[?[0-9A-Za-z.:-]*\]?:\d{1,5}$"


class HealthSpec(Strict):
    """The deprecated spelling of `web`: `health.listen` is read as `web.listen`."""

    listen: str = Field(default="127.0.0.1:9464", pattern=_LISTEN)


class WebSpec(Strict):
    listen: str = Field(default="127.0.0.1:9464", pattern=_LISTEN)
    timezone: str = "UTC"
    page_size: int = Field(default=30, ge=5, le=500)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return known_time_zone(value)


# `scheme://` at the start of a store setting; without one it is a SQLite file's path.
_STORE_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
STORE_SCHEMES = ("sqlite", "postgresql", "postgres")


class ConfigSpec(Strict):
    store: str = "var/monitor.db"

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        scheme = _STORE_SCHEME.match(value)
        if scheme is not None and scheme.group(1).lower() not in STORE_SCHEMES:
            # Not the URL itself: it may carry a password.
            raise ValueError(
                f"unknown kind of store '{scheme.group(1)}'; use a file path, "
                "sqlite:///PATH or postgresql://HOST:PORT/DATABASE"
            )
        if value.startswith("sqlite://") and not value.startswith("sqlite:///"):
            raise ValueError("a SQLite store is written sqlite:///PATH (three slashes)")
        return value

    # How long a daemon holds the work it claims on a shared PostgreSQL store (renewed
    # while it works): the longest a dead daemon's feeds, batches and sends wait for another.
    store_lease: str | int = "2m"

    @field_validator("store_lease")
    @classmethod
    def _check_store_lease(cls, value: str | int) -> str | int:
        if not 2 <= parse_duration_s(value) <= 3600:
            raise ValueError("a lease lasts from 2s to 1h: use e.g. 2m")
        return value

    retention: str | int = "90d"
    stop_budget: str | int = "20s"
    web: WebSpec | None = WebSpec()
    health: HealthSpec | None = HealthSpec()  # deprecated alias of `web` (see load.py)
    rules: str = "rules"
    templates: str = "templates"
    language: Literal["fr", "en"] = "en"
    feeds: list[FeedSpec] = []
    subscriptions: list[SubscriptionSpec] = []
    smtp: SmtpSpec | None = None
    fetch: FetchSpec = FetchSpec()
    nlp: NlpSpec = NlpSpec()
    delivery: DeliverySpec = DeliverySpec()
    stories: StoriesSpec = StoriesSpec()
