"""Log lines: one event per line, key=value or JSON, with credentials masked."""

import json
import logging

from monitor.logs import JsonFormatter, KeyValueFormatter, log_event, redact
from tests.conftest import run_cli


def record(event: str, **fields) -> logging.LogRecord:
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    logger = logging.getLogger("monitor.test-logs")
    logger.handlers[:] = [Keep()]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    log_event(logger, logging.INFO, event, **fields)
    return captured[0]


def test_key_value_lines_quote_values_with_spaces_and_skip_none():
    line = KeyValueFormatter().format(
        record("feed.failed", feed_id="seed-fr", error="fetch: 'x': 503 status", streak=2, url=None)
    )
    assert line.split(" ", 2)[1:] == [
        "INFO",
        "feed.failed feed_id=seed-fr error=\"fetch: 'x': 503 status\" streak=2",
    ]


def test_credentials_in_urls_are_masked_in_both_formats():
    entry = record("feed.polled", feed_url="https://alice:s3cret@news.example/feed.xml")
    assert "s3cret" not in KeyValueFormatter().format(entry)
    body = json.loads(JsonFormatter().format(entry))
    assert body["feed_url"] == "https://***@news.example/feed.xml"
    assert body["event"] == "feed.polled" and body["level"] == "info"
    assert redact("smtp://u:p@mail.example:587") == "smtp://***@mail.example:587"


def test_json_log_format_gives_one_object_per_line(project):
    result = run_cli(project, "run", "--once", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    names = {event["event"] for event in events}
    assert {"feed.polled", "article.matched", "delivery.enqueued", "delivery.sent"} <= names
    assert all("time" in event and "level" in event for event in events)


def test_an_in_process_run_leaves_logging_as_it_found_it(project, caplog):
    logger = logging.getLogger("monitor")
    before = (logger.handlers[:], logger.level, logger.propagate)
    assert run_cli(project, "check").returncode == 0
    assert (logger.handlers, logger.level, logger.propagate) == before
    # Later tests still see the package's log lines (caplog listens on the root logger).
    log_event(logging.getLogger("monitor.test-logs-after"), logging.WARNING, "after.run")
    assert "after.run" in caplog.text
