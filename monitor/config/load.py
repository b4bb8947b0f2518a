"""Read config.yaml and the environment into a frozen `Config`.

Validation happens here, once, at start-up: unknown keys, bad values and
missing secrets are `ConfigError`s naming the file and line. Nothing else in
the project reads the file or the environment for settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.config.schema import (
    MAX_CONFIG_BYTES,
    TARGET_READERS,
    ChannelSpec,
    ConfigSpec,
    FeedSpec,
    FetchSpec,
    SmtpSpec,
    SubscriptionSpec,
    parse_duration_s,
)
from monitor.errors import ConfigError
from monitor.model import Feed, Priority, Subscription
from monitor.settings import DeliverySettings, FetchSettings, NlpSettings, SmtpSettings
from monitor.targets import ChannelTarget
from monitor.yamldoc import YamlRefused, parse_yaml

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
    nlp: NlpSettings
    delivery: DeliverySettings
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
        spec = ConfigSpec.model_validate(data)
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
        data = parse_yaml(text)
    except YamlRefused as refused:
        raise ConfigError(refused.problem, path=shown, line=refused.line) from None
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


def _build(spec: ConfigSpec, path: Path, data: Any, shown: str) -> Config:
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
        feeds=tuple(_build_feed(feed, base_dir) for feed in spec.feeds),
        subscriptions=subscriptions,
        smtp=_build_smtp(spec.smtp, base_dir, data, shown),
        fetch=_build_fetch(spec.fetch),
        nlp=NlpSettings(
            max_chars=spec.nlp.max_chars,
            batch_size=spec.nlp.batch_size,
            workers=spec.nlp.workers,
        ),
        delivery=DeliverySettings(
            check_every_s=parse_duration_s(spec.delivery.check_every),
            send_timeout_s=parse_duration_s(spec.delivery.send_timeout),
            retry_delays_s=tuple(parse_duration_s(delay) for delay in spec.delivery.retry_delays),
        ),
        retention_s=parse_duration_s(spec.retention),
        stop_budget_s=parse_duration_s(spec.stop_budget),
        health_listen=_listen_address(spec.health.listen) if spec.health else None,
    )


def _listen_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _build_fetch(spec: FetchSpec) -> FetchSettings:
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


def _build_feed(spec: FeedSpec, base_dir: Path) -> Feed:
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
        ca_file=str(_resolve(base_dir, spec.ca_file)) if spec.ca_file else None,
    )


def _build_subscription(
    spec: SubscriptionSpec, data: Any, index: int, shown: str, base_dir: Path
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
    target: ChannelSpec, subscription_id: str, shown: str, line: int | None
) -> ChannelTarget:
    chosen = [name for name in TARGET_READERS if getattr(target, name)]
    if len(chosen) != 1:
        raise ConfigError(
            f"subscription '{subscription_id}': each 'to' entry names exactly one of "
            f"{', '.join(TARGET_READERS)}",
            path=shown,
            line=line,
        )
    (name,) = chosen
    return TARGET_READERS[name](getattr(target, name))


def _build_smtp(
    spec: SmtpSpec | None, base_dir: Path, data: Any, shown: str
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
