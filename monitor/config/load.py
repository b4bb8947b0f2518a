"""Read config.yaml and the environment into a frozen `Config`.

Validation happens here, once, at start-up: unknown keys, bad values and
missing secrets are `ConfigError`s naming the file and line. Nothing else in
the project reads the file or the environment for settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from monitor.errors import ConfigError
from monitor.model import Feed, Priority, Subscription
from monitor.settings import FetchSettings, SmtpSettings
from monitor.targets import AppriseTarget, ChannelTarget, EmailTarget, FolderTarget, WebhookTarget

MAX_CONFIG_BYTES = 1024 * 1024
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_s(value: str | int | float) -> float:
    """Read '90s', '5m', '2h', '1d' or a bare number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    found = _DURATION.match(value)
    if not found:
        raise ValueError(f"'{value}' is not a duration (use e.g. 30s, 5m, 2h, 1d)")
    return float(found.group(1)) * _UNIT_S[found.group(2) or "s"]


# --- digest schedules -----------------------------------------------------------

# The grammar `monitor.schedule.parse_schedule` reads. Config imports only the base, so it
# checks with croniter itself; tests/test_config.py holds the two to the same verdicts.
_EVERY = re.compile(r"^\s*every\s+(\d+)\s*(m|h|d)\s*$", re.IGNORECASE)
_EVERY_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day of week", "0-7 or sun-sat"),
)


def _check_digest_schedule(expression: str) -> None:
    """Refuse a digest schedule that is neither 'every N m|h|d' nor a 5-field cron that fires."""
    found = _EVERY.match(expression)
    if found is not None:
        if int(found.group(1)) * _EVERY_UNIT_S[found.group(2).lower()] < 60:
            raise ValueError(f"'{expression}': a digest runs at most every minute")
        return
    if expression.strip().lower().startswith("every"):
        raise ValueError(f"'{expression}': write 'every' then a number and m, h or d")
    parts = expression.split()
    if len(parts) != len(_CRON_FIELDS):
        raise ValueError(
            f"'{expression}' is not a 5-field cron expression "
            "(minute hour day-of-month month day-of-week)"
        )
    for index, (name, allowed) in enumerate(_CRON_FIELDS):
        probe = ["*"] * len(_CRON_FIELDS)
        probe[index] = parts[index]
        if not croniter.is_valid(" ".join(probe)):
            raise ValueError(
                f"cron '{expression}': {name}: '{parts[index]}' is not valid "
                f"(use {allowed}, lists, ranges and steps)"
            )
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"cron '{expression}' never fires") from None
    except ValueError:
        raise ValueError(f"cron '{expression}' is not a valid cron expression") from None


# --- the file's shape ---------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _FeedSpec(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str = Field(min_length=1)
    title: str = ""
    every: str | int = "15m"
    language: str | None = None
    tags: list[str] = []
    allow_private: bool = False
    full_text: bool = False

    @field_validator("every")
    @classmethod
    def _check_every(cls, value: str | int) -> str | int:
        if parse_duration_s(value) < 10:
            raise ValueError("a feed is polled at most every 10s")
        return value


class _WebhookSpec(_Strict):
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None
    format: Literal["standard", "slack"] = "standard"


class _ChannelSpec(_Strict):
    """One `to` entry: exactly one of these keys, each read by `_TARGET_READERS`."""

    folder: str | None = None
    email: list[str] | str | None = None
    webhook: _WebhookSpec | None = None
    apprise: list[str] | None = None


def _email_target(value: list[str] | str) -> EmailTarget:
    return EmailTarget(to=(value,) if isinstance(value, str) else tuple(value))


def _webhook_target(value: _WebhookSpec) -> WebhookTarget:
    return WebhookTarget(url=value.url, secret=value.secret, format=value.format)


# The one place config parsing lists channel kinds: `to` key → the target it builds.
_TARGET_READERS: dict[str, Callable[[Any], ChannelTarget]] = {
    "folder": lambda value: FolderTarget(folder=value),
    "email": _email_target,
    "webhook": _webhook_target,
    "apprise": lambda value: AppriseTarget(urls=tuple(value)),
}


class _SubscriptionSpec(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str | None = None
    rules: list[str] = ["*"]
    schedule: str | None = None
    timezone: str = "UTC"
    immediate: Literal["low", "normal", "high"] | None = None
    to: _ChannelSpec | list[_ChannelSpec]
    max_items: int = Field(default=200, ge=1, le=5000)
    send_empty: bool = False
    templates: str | None = None

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name)") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            _check_digest_schedule(value)
        return value


class _SmtpSpec(_Strict):
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    from_: str = Field(default="monitor@localhost", alias="from")
    timeout_s: float = 30.0
    ca_file: str | None = None


_FETCH = FetchSettings()


class _FetchSpec(_Strict):
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


class _NlpSpec(_Strict):
    max_chars: int = Field(default=20_000, ge=100)
    batch_size: int = Field(default=8, ge=1, le=256)
    workers: int = Field(default=1, ge=1, le=64)


class _DeliverySpec(_Strict):
    check_every: str | int = "30s"
    send_timeout: str | int = "60s"

    @field_validator("send_timeout")
    @classmethod
    def _check_send_timeout(cls, value: str | int) -> str | int:
        if parse_duration_s(value) <= 0:
            raise ValueError("a send needs some time: use e.g. 60s")
        return value

    retry_delays: list[str | int] = ["5s", "5m", "30m", "2h", "5h", "10h", "10h"]


class _HealthSpec(_Strict):
    listen: str = Field(default="127.0.0.1:9464", pattern=r"^\[?[0-9A-Za-z.:-]*\]?:\d{1,5}$")


class _ConfigSpec(_Strict):
    store: str = "var/monitor.db"
    retention: str | int = "90d"
    stop_budget: str | int = "20s"
    health: _HealthSpec | None = _HealthSpec()
    rules: str = "rules"
    templates: str = "templates"
    feeds: list[_FeedSpec] = []
    subscriptions: list[_SubscriptionSpec] = []
    smtp: _SmtpSpec | None = None
    fetch: _FetchSpec = _FetchSpec()
    nlp: _NlpSpec = _NlpSpec()
    delivery: _DeliverySpec = _DeliverySpec()


# --- the frozen result --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the daemon needs, validated; paths are absolute."""

    path: Path
    base_dir: Path
    store_path: Path
    rules_dir: Path
    templates_dir: Path
    feeds: tuple[Feed, ...]
    subscriptions: tuple[Subscription, ...]
    smtp: SmtpSettings | None
    fetch: FetchSettings
    nlp_max_chars: int
    nlp_batch_size: int
    nlp_workers: int
    deliver_every_s: float
    send_timeout_s: float  # the longest one delivery attempt may take
    retry_delays_s: tuple[float, ...]
    retention_s: float
    stop_budget_s: float
    health_listen: tuple[str, int] | None  # host, port; None when the endpoint is off


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path`; raise ConfigError naming the file and line."""
    environ = os.environ if environ is None else environ
    shown = str(path)
    data = _read_yaml(path, shown)
    data = _expand_environment(data, environ, shown)
    try:
        spec = _ConfigSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(first["loc"])
        where = ".".join(str(part) for part in location) or "config"
        raise ConfigError(
            f"key '{where}': {_describe(first)}",
            path=shown,
            line=_line_of(data, location),
        ) from None
    return _build(spec, path.resolve(), data, shown)


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError("file is larger than 1 MiB", path=shown)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found (pass --config PATH)", path=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=shown) from None
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"yaml syntax error: {exc.problem}", path=shown, line=line) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a mapping of settings", path=shown, line=1)
    return data


def _expand_environment(node: Any, environ: Mapping[str, str], shown: str) -> Any:
    """Replace ${NAME} in string values, keeping ruamel's line info on containers."""
    if isinstance(node, MutableMapping):
        for key in list(node):
            value = node[key]
            if isinstance(value, str) and _ENV_REFERENCE.search(value):
                node[key] = _substitute(value, environ, shown, _line_of(node, (key,)))
            else:
                _expand_environment(value, environ, shown)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, str) and _ENV_REFERENCE.search(value):
                node[index] = _substitute(value, environ, shown, _line_of(node, (index,)))
            else:
                _expand_environment(value, environ, shown)
    return node


def _substitute(value: str, environ: Mapping[str, str], shown: str, line: int | None) -> str:
    def lookup(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in environ:
            raise ConfigError(f"environment variable '{name}' is not set", path=shown, line=line)
        return environ[name]

    return _ENV_REFERENCE.sub(lookup, value)


def _line_of(data: Any, location: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest part of `location` that exists in `data`."""
    line: int | None = 1
    node = data
    for part in location:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                if isinstance(node, Mapping) and part in node:
                    line = lc.key(part)[0] + 1
                elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                    line = lc.item(part)[0] + 1
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _build(spec: _ConfigSpec, path: Path, data: Any, shown: str) -> Config:
    base_dir = path.parent
    _check_unique([feed.id for feed in spec.feeds], "feed", data, "feeds", shown)
    _check_unique(
        [sub.id for sub in spec.subscriptions], "subscription", data, "subscriptions", shown
    )
    subscriptions = tuple(
        _build_subscription(sub, data, index, shown, base_dir)
        for index, sub in enumerate(spec.subscriptions)
    )
    return Config(
        path=path,
        base_dir=base_dir,
        store_path=_resolve(base_dir, spec.store.removeprefix("sqlite:///")),
        rules_dir=_resolve(base_dir, spec.rules),
        templates_dir=_resolve(base_dir, spec.templates),
        feeds=tuple(_build_feed(feed) for feed in spec.feeds),
        subscriptions=subscriptions,
        smtp=_build_smtp(spec.smtp, base_dir, data, shown),
        fetch=_build_fetch(spec.fetch),
        nlp_max_chars=spec.nlp.max_chars,
        nlp_batch_size=spec.nlp.batch_size,
        nlp_workers=spec.nlp.workers,
        deliver_every_s=parse_duration_s(spec.delivery.check_every),
        send_timeout_s=parse_duration_s(spec.delivery.send_timeout),
        retry_delays_s=tuple(parse_duration_s(delay) for delay in spec.delivery.retry_delays),
        retention_s=parse_duration_s(spec.retention),
        stop_budget_s=parse_duration_s(spec.stop_budget),
        health_listen=_listen_address(spec.health.listen) if spec.health else None,
    )


def _listen_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _build_fetch(spec: _FetchSpec) -> FetchSettings:
    values = spec.model_dump(exclude={"max_interval", "failing_after"})
    return FetchSettings(
        **values,
        max_interval_s=parse_duration_s(spec.max_interval),
        failing_after_s=parse_duration_s(spec.failing_after),
    )


def _resolve(base_dir: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def _check_unique(ids: list[str], what: str, data: Any, key: str, shown: str) -> None:
    seen: set[str] = set()
    for index, item_id in enumerate(ids):
        if item_id in seen:
            raise ConfigError(
                f"{what} id '{item_id}' is used twice",
                path=shown,
                line=_line_of(data, (key, index)),
            )
        seen.add(item_id)


def _build_feed(spec: _FeedSpec) -> Feed:
    language = spec.language.split("-")[0].lower() if spec.language else None
    return Feed(
        id=spec.id,
        url=spec.url,
        title=spec.title or spec.id,
        poll_every_s=int(parse_duration_s(spec.every)),
        language=language,
        tags=tuple(spec.tags),
        allow_private=spec.allow_private,
        full_text=spec.full_text,
    )


def _build_subscription(
    spec: _SubscriptionSpec, data: Any, index: int, shown: str, base_dir: Path
) -> Subscription:
    line = _line_of(data, ("subscriptions", index))
    if spec.schedule is None and spec.immediate is None:
        raise ConfigError(
            f"subscription '{spec.id}': set 'schedule' (a cron digest), 'immediate', or both",
            path=shown,
            line=line,
        )
    targets = spec.to if isinstance(spec.to, list) else [spec.to]
    channels = tuple(_build_channel(target, spec.id, shown, line) for target in targets)
    return Subscription(
        id=spec.id,
        rules=tuple(spec.rules),
        channels=channels,
        schedule=spec.schedule,
        timezone=spec.timezone,
        immediate=Priority.parse(spec.immediate) if spec.immediate else None,
        max_items=spec.max_items,
        send_empty=spec.send_empty,
        title=spec.title,
        templates=str(_resolve(base_dir, spec.templates)) if spec.templates else None,
    )


def _build_channel(
    target: _ChannelSpec, subscription_id: str, shown: str, line: int | None
) -> ChannelTarget:
    chosen = [name for name in _TARGET_READERS if getattr(target, name)]
    if len(chosen) != 1:
        raise ConfigError(
            f"subscription '{subscription_id}': each 'to' entry names exactly one of "
            f"{', '.join(_TARGET_READERS)}",
            path=shown,
            line=line,
        )
    (name,) = chosen
    return _TARGET_READERS[name](getattr(target, name))


def _build_smtp(
    spec: _SmtpSpec | None, base_dir: Path, data: Any, shown: str
) -> SmtpSettings | None:
    if spec is None:
        return None
    password = spec.password
    if spec.password_file:
        secret_path = _resolve(base_dir, spec.password_file)
        try:
            password = secret_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"smtp.password_file '{spec.password_file}' cannot be read: {exc.strerror}",
                path=shown,
                line=_line_of(data, ("smtp", "password_file")),
            ) from None
    return SmtpSettings(
        host=spec.host,
        port=spec.port,
        starttls=spec.starttls,
        tls=spec.tls,
        username=spec.username,
        password=password,
        from_addr=spec.from_,
        timeout_s=spec.timeout_s,
        ca_file=_resolve(base_dir, spec.ca_file) if spec.ca_file else None,
    )
