"""Read config.yaml and the environment into a frozen `Config`.

Validation happens here, once, at start-up: unknown keys, bad values and
missing secrets are `ConfigError`s naming the file and line. Nothing else in
the project reads the file or the environment for settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.config.duration import parse_duration_s
from monitor.config.problems import config_problems, key_path, line_of
from monitor.config.schema import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_VALUES,
    TARGET_READERS,
    ChannelSpec,
    ConfigSpec,
    FeedSpec,
    FetchSpec,
    SmtpSpec,
    SubscriptionSpec,
)
from monitor.errors import ConfigError, ConfigErrors
from monitor.logs import redact
from monitor.model import Feed, FollowUpPolicy, Priority, Subscription
from monitor.settings import (
    DeliverySettings,
    FetchSettings,
    NlpSettings,
    SmtpSettings,
    StoreSettings,
    StorySettings,
    WebSettings,
)
from monitor.targets import ChannelTarget
from monitor.yamldoc import LineList, LineMap, YamlRefused, parse_yaml_lines

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The web workspace's access token: only from the environment, never from config.yaml.
WEB_TOKEN_VARIABLE = "MONITOR_WEB_TOKEN"


# --- the frozen result --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the daemon needs, validated; paths are absolute."""

    path: Path
    base_dir: Path
    store: StoreSettings
    rules_dir: Path
    templates_dir: Path
    feeds: tuple[Feed, ...]
    subscriptions: tuple[Subscription, ...]
    smtp: SmtpSettings | None
    fetch: FetchSettings
    nlp: NlpSettings
    stories: StorySettings
    delivery: DeliverySettings
    retention_s: float
    stop_budget_s: float
    web: WebSettings | None  # None when the web server (pages, /healthz, /metrics) is off
    # Secrets a read-only command could not read ("FILE:LINE: secret ... (needed by KEY)").
    missing_secrets: tuple[str, ...] = ()
    # The line of each key and list item in config.yaml, by place: ("feeds", 0, "url") → 12.
    key_lines: Mapping[tuple[str | int, ...], int] = field(default_factory=dict, compare=False)

    @property
    def store_path(self) -> Path | None:
        """The SQLite store's file; None when the store is a PostgreSQL server."""
        return self.store.path

    def line_of(self, *place: str | int) -> int | None:
        """The line of `place` in config.yaml, e.g. `line_of("subscriptions", 0, "rules", 1)`."""
        return self.key_lines.get(place)


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, require_secrets: bool = True
) -> Config:
    """Read and validate `path`; raise ConfigError naming the file and line.

    Every mistake in the file is found in one pass: one is raised as itself, several as
    `ConfigErrors`. With `require_secrets=False` (the read-only commands: `check`, `status`)
    an unset `${NAME}` or an unreadable `*_file` is not an error but a line in
    `Config.missing_secrets`, and the setting keeps its `${NAME}` text or stays unset.
    """
    environ = os.environ if environ is None else environ
    shown = str(path)
    data = _read_yaml(path, shown)
    secrets = _Secrets(environ, shown)
    data = secrets.expand(data)
    errors = _duplicate_ids(data, shown) + _web_and_health(data, shown)
    try:
        spec = ConfigSpec.model_validate(data)
    except ValidationError as exc:
        errors += config_problems(exc.errors(), data, ConfigSpec, shown)
        spec = None
    base_dir = path.resolve().parent
    password = _read_password(spec.smtp, base_dir, secrets) if spec else None
    errors += secrets.missing if require_secrets else []
    if errors:
        errors.sort(key=lambda error: error.line or 0)
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    assert spec is not None  # no errors means the document validated
    config = _build(spec, path.resolve(), password, environ.get(WEB_TOKEN_VARIABLE) or None)
    return replace(
        config,
        missing_secrets=tuple(str(error) for error in secrets.missing),
        key_lines=_key_lines(data),
    )


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"file is larger than {MAX_CONFIG_BYTES >> 20} MiB", path=shown)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found (pass --config PATH)", path=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=shown) from None
    try:
        data = parse_yaml_lines(text, max_nodes=MAX_CONFIG_VALUES)
    except YamlRefused as refused:
        raise ConfigError(refused.problem, path=shown, line=refused.line) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a mapping of settings", path=shown, line=1)
    return data


class _Secrets:
    """Expands ${NAME} from the environment and remembers each secret it could not find."""

    def __init__(self, environ: Mapping[str, str], shown: str) -> None:
        self.environ = environ
        self.shown = shown
        self.missing: list[ConfigError] = []
        self._root: Any = None

    def expand(self, data: Any) -> Any:
        """Replace ${NAME} in the document's string values, keeping ruamel's line info."""
        self._root = data
        self._walk(data, ())
        return data

    def unreadable(self, what: str, needed_by: tuple[Any, ...]) -> None:
        """Note a secret that is not there: what is wrong and the setting that needs it."""
        self.missing.append(
            ConfigError(
                f"secret {what} (needed by {key_path(self._root, needed_by)})",
                path=self.shown,
                line=line_of(self._root, needed_by),
            )
        )

    def _walk(self, node: Any, place: tuple[Any, ...]) -> None:
        if isinstance(node, MutableMapping):
            keys: list[Any] = list(node)
        elif isinstance(node, list):
            keys = list(range(len(node)))
        else:
            return
        for key in keys:
            value = node[key]
            if isinstance(value, str) and _ENV_REFERENCE.search(value):
                node[key] = self._substitute(value, (*place, key))
            else:
                self._walk(value, (*place, key))

    def _substitute(self, value: str, place: tuple[Any, ...]) -> str:
        def lookup(found: re.Match[str]) -> str:
            name = found.group(1)
            if name in self.environ:
                return self.environ[name]
            self.unreadable(f"'{name}' is not set in the environment", place)
            # Left as written: a read-only command never uses it, and no value is invented.
            return found.group(0)

        return _ENV_REFERENCE.sub(lookup, value)


def _duplicate_ids(data: Any, shown: str) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for key, what in (("feeds", "feed"), ("subscriptions", "subscription")):
        items = data.get(key)
        seen: set[str] = set()
        for index, item in enumerate(items if isinstance(items, list) else []):
            item_id = item.get("id") if isinstance(item, Mapping) else None
            if isinstance(item_id, str) and item_id in seen:
                errors.append(
                    ConfigError(
                        f"{what} id '{item_id}' is used twice",
                        path=shown,
                        line=line_of(data, (key, index)),
                    )
                )
            if isinstance(item_id, str):
                seen.add(item_id)
    return errors


def _web_and_health(data: Any, shown: str) -> list[ConfigError]:
    if isinstance(data, Mapping) and "web" in data and "health" in data:
        return [
            ConfigError(
                "'health' is the old name of 'web': keep only 'web' (move 'listen' into it)",
                path=shown,
                line=line_of(data, ("health",)),
            )
        ]
    return []


def _build_web(spec: ConfigSpec, token: str | None) -> WebSettings | None:
    """`web:`, or the deprecated `health:` (its `listen`; `health: null` turns the server off)."""
    if "health" in spec.model_fields_set:
        if spec.health is None:
            return None
        host, port = _listen_address(spec.health.listen)
        return WebSettings(host=host, port=port, token=token, language=spec.language)
    if spec.web is None:
        return None
    host, port = _listen_address(spec.web.listen)
    return WebSettings(
        host=host,
        port=port,
        token=token,
        timezone=spec.web.timezone,
        page_size=spec.web.page_size,
        language=spec.language,
    )


def _key_lines(data: Any) -> dict[tuple[str | int, ...], int]:
    """The line of every key and list item in the document, by its place."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: Any, place: tuple[str | int, ...]) -> None:
        if isinstance(node, LineMap):
            for key, value in node.items():
                lines[(*place, str(key))] = node.key_lines.get(key, node.line)
                walk(value, (*place, str(key)))
        elif isinstance(node, LineList):
            for index, value in enumerate(node):
                lines[(*place, index)] = node.item_lines[index]
                walk(value, (*place, index))

    walk(data, ())
    return lines


def _build(spec: ConfigSpec, path: Path, password: str | None, web_token: str | None) -> Config:
    base_dir = path.parent
    subscriptions = tuple(
        _build_subscription(sub, base_dir, spec.language) for sub in spec.subscriptions
    )
    return Config(
        path=path,
        base_dir=base_dir,
        store=_build_store(spec.store, base_dir, parse_duration_s(spec.store_lease)),
        rules_dir=_resolve(base_dir, spec.rules),
        templates_dir=_resolve(base_dir, spec.templates),
        feeds=tuple(_build_feed(feed, base_dir) for feed in spec.feeds),
        subscriptions=subscriptions,
        smtp=_build_smtp(spec.smtp, base_dir, password),
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
        stories=spec.stories.settings(),
        retention_s=parse_duration_s(spec.retention),
        stop_budget_s=parse_duration_s(spec.stop_budget),
        web=_build_web(spec, web_token),
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


def _build_store(value: str, base_dir: Path, lease_s: float) -> StoreSettings:
    """A path or `sqlite:///PATH` (relative to config.yaml's folder), or a server's URL."""
    if value.split("://", 1)[0].lower() in ("postgresql", "postgres"):
        return StoreSettings(url=value, path=None, shown=redact(value), lease_s=lease_s)
    path = _resolve(base_dir, value.removeprefix("sqlite:///"))
    return StoreSettings(url=f"sqlite:///{path}", path=path, shown=str(path), lease_s=lease_s)


def _resolve(base_dir: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


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


def _build_subscription(spec: SubscriptionSpec, base_dir: Path, language: str) -> Subscription:
    channels = tuple(_build_channel(target) for target in spec.to)
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
        language=spec.language or language,
        follow_up=(
            FollowUpPolicy(outlets=spec.follow_up.outlets, new_actor=spec.follow_up.new_actor)
            if spec.follow_up
            else None
        ),
    )


def _build_channel(target: ChannelSpec) -> ChannelTarget:
    # The schema has checked that exactly one kind is set.
    (name,) = [name for name in TARGET_READERS if getattr(target, name)]
    return TARGET_READERS[name](getattr(target, name))


def _read_password(spec: SmtpSpec | None, base_dir: Path, secrets: _Secrets) -> str | None:
    """The SMTP password, from `password_file` when one is named (a missing one is noted)."""
    if spec is None or not spec.password_file:
        return spec.password if spec else None
    try:
        return _resolve(base_dir, spec.password_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        secrets.unreadable(
            f"file '{spec.password_file}' cannot be read: {reason}", ("smtp", "password_file")
        )
        return None


def _build_smtp(spec: SmtpSpec | None, base_dir: Path, password: str | None) -> SmtpSettings | None:
    if spec is None:
        return None
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
        unsubscribe_url=spec.unsubscribe_url,
    )
