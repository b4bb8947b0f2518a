"""Structured log lines: one event name followed by key=value fields.

Every module logs through `log_event`, so field names and quoting stay the same
everywhere and credentials in URLs are redacted before they reach a log file.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_NEEDS_QUOTES = re.compile(r"[\s\"=]")


def redact(text: str) -> str:
    """Hide user:password@ in URLs."""
    return _CREDENTIALS_IN_URL.sub(r"\g<scheme>***@", text)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log `event` with its fields, skipping fields that are None."""
    if logger.isEnabledFor(level):
        kept = {key: value for key, value in fields.items() if value is not None}
        logger.log(level, event, extra={"event_fields": kept})


def log_crash(
    logger: logging.Logger, event: str, *, level: int = logging.ERROR, **fields: Any
) -> None:
    """Log the exception being handled (call from an `except` block) with its traceback."""
    kept = {key: value for key, value in fields.items() if value is not None}
    logger.log(level, event, exc_info=True, extra={"event_fields": kept})


class KeyValueFormatter(logging.Formatter):
    """`2026-01-01T08:00:00Z INFO feed.fetched feed_id=seed-fr status=304`."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "event_fields", {})
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [stamp, record.levelname, redact(record.getMessage())]
        parts += [f"{key}={_quote(redact(str(value)))}" for key, value in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "event_fields", {})
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": redact(record.getMessage()),
        }
        body.update({key: redact(str(value)) for key, value in fields.items()})
        if record.exc_info:
            body["traceback"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


def configure_logging(*, level: int = logging.INFO, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger("monitor")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False) if _NEEDS_QUOTES.search(value) else value
