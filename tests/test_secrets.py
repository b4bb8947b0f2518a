"""Planted secrets never leave: a project whose config carries a feed URL with user:password,
a webhook secret, an SMTP password and an Apprise token runs `run --once` against real servers
on 127.0.0.1; no output a user or a log shipper sees, and no byte of the store, holds them."""

import asyncio
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.app import Service
from monitor.cli.common import print_error
from monitor.config import load_config
from monitor.rules import load_rules
from tests.conftest import LoopbackHTTP, LoopbackSMTP, run_cli

FEED_PASSWORD = "feed-pw-7Hq2x"
WEBHOOK_SECRET = "whsec_cGxhbnRlZC13ZWJob29rLXNlY3JldC1aazgxLTAwMDAwMA=="  # 32 bytes
SMTP_PASSWORD = "smtp-pw-Lm39d"
APPRISE_TOKEN = "apprise-token-Qa55v"
SECRETS = (FEED_PASSWORD, WEBHOOK_SECRET, SMTP_PASSWORD, APPRISE_TOKEN)


class Loopback:
    """One HTTP server on 127.0.0.1: GET /feed.xml serves the seed feed, any other GET is a
    404 (a failing feed, so its error is recorded), every POST (webhook, apprise) a 200."""

    def __init__(self, feed: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = feed if self.path == "/feed.xml" else b""
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = LoopbackHTTP(Handler)
        self.host = self.http.host

    def close(self) -> None:
        self.http.close()


class Sink:
    """Accepts every message sent after a login with the planted password."""

    def __init__(self) -> None:
        self.logins: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        is_valid = isinstance(auth_data, LoginPassword) and auth_data.password == (
            SMTP_PASSWORD.encode("utf-8")
        )
        self.logins.append(auth_data.password if isinstance(auth_data, LoginPassword) else b"")
        return AuthResult(success=is_valid, handled=False, auth_data=auth_data)


@pytest.fixture
def planted(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The project with every secret planted in its config and environment."""
    server = Loopback((project / "seeds/feeds/seed-fr.xml").read_bytes())
    sink = Sink()
    # Plain-text AUTH on loopback only: the secret must travel for the test to mean anything.
    smtp = LoopbackSMTP(sink, authenticator=sink.authenticate, auth_require_tls=False)
    smtp.start()
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    credentials = f"reader:{FEED_PASSWORD}@{server.host}"
    (project / "config.yaml").write_text(
        f"""\
store: var/monitor.db
health: null
fetch: {{host_spacing_s: 0}}
feeds:
  - {{id: guarded, url: 'http://{credentials}/feed.xml', every: 5m, language: fr,
      allow_private: true}}
  - {{id: broken, url: 'http://{credentials}/gone.xml', every: 5m, language: fr,
      allow_private: true}}
subscriptions:
  - {{id: hook, rules: ['*'], immediate: high,
      to: {{webhook: {{url: 'http://{server.host}/hook', secret: '${{WEBHOOK_SECRET}}',
                      allow_private: true}}}}}}
  - {{id: mail, rules: ['*'], immediate: high, to: {{email: [desk@example.org]}}}}
  - {{id: chat, rules: ['*'], immediate: high,
      to: {{apprise: {{urls: ['json://bot:{APPRISE_TOKEN}@{server.host}/notify'],
                      allow_private: true}}}}}}
smtp: {{host: 127.0.0.1, port: {smtp.port}, starttls: false, username: alerts,
        password: '${{SMTP_PASSWORD}}', from: alerts@example.org}}
""",
        encoding="utf-8",
    )
    yield project
    assert sink.logins and set(sink.logins) == {SMTP_PASSWORD.encode("utf-8")}
    smtp.stop()
    server.close()


def leaked(text: str | bytes) -> list[str]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return [secret for secret in SECRETS if secret.encode("utf-8") in data]


def test_no_output_and_no_byte_of_the_store_carries_a_planted_secret(planted):
    run = run_cli(planted, "run", "--once", "--verbose")
    assert run.returncode == 0, run.stderr
    # The run really used the secrets' carriers: the feed polled, the failing one recorded.
    assert "feed broken: failed" in run.stdout
    status = run_cli(planted, "status")
    status_json = run_cli(planted, "status", "--json")
    assert status.returncode == status_json.returncode == 0
    assert "http://***@127.0.0.1:" in status_json.stdout  # the URL is shown, its password is not
    # All three channels delivered, each using its secret (the SMTP server checks its login).
    assert "OUTBOX  sent: 3  pending: 0  dead: 0" in status.stdout

    outputs = {
        "run stdout": run.stdout,
        "run log": run.stderr,
        "status": status.stdout + status.stderr,
        "status --json": status_json.stdout + status_json.stderr,
        "metrics": metrics_after_a_pass(planted),
    }
    for path in sorted((planted / "var").rglob("*")):
        if path.is_file():
            outputs[str(path.relative_to(planted))] = path.read_bytes()
    assert any(name.endswith("monitor.db") for name in outputs)
    assert {name: leaked(text) for name, text in outputs.items() if leaked(text)} == {}


def metrics_after_a_pass(project: Path) -> bytes:
    """The `/metrics` exposition of a daemon that has polled and delivered once."""
    config = load_config(project / "config.yaml")
    rules = load_rules(config.rules_dir)

    async def scenario() -> bytes:
        service = Service(config, rules)
        try:
            await service.run_once()
            service.metrics.set_delivery_counts(service.parts.store.delivery_counts())
            return service.metrics.exposition()
        finally:
            await service.close()

    return asyncio.run(scenario())


def test_a_command_error_quoting_a_url_hides_its_password(capsys):
    print_error(f"fetch: 'https://reader:{FEED_PASSWORD}@news.example/feed.xml': refused")

    assert (
        capsys.readouterr().err == "monitor: fetch: 'https://***@news.example/feed.xml': refused\n"
    )


def test_a_feed_that_moved_keeps_its_password_out_of_the_store_and_still_sends_it(project):
    seen: list[tuple[str, str]] = []  # (path, Authorization header)
    feed = (project / "seeds/feeds/seed-fr.xml").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization", "")))
            if self.path == "/old.xml":
                self.send_response(301)
                self.send_header("Location", "/new.xml")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            authorized = self.headers.get("Authorization", "").startswith("Basic ")
            body = feed if self.path == "/new.xml" and authorized else b""
            self.send_response(200 if body else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = LoopbackHTTP(Handler)
    try:
        (project / "config.yaml").write_text(
            f"""\
store: var/monitor.db
health: null
fetch: {{host_spacing_s: 0}}
feeds:
  - {{id: moving, url: 'http://reader:{FEED_PASSWORD}@{server.host}/old.xml', every: 5m,
      language: fr, allow_private: true}}
subscriptions: []
""",
            encoding="utf-8",
        )
        first = run_cli(project, "run", "--once")
        second = run_cli(project, "run", "--once")
        status = run_cli(project, "status")
    finally:
        server.close()
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    # The second pass goes straight to the new address, with the feed's credentials.
    assert [path for path, _ in seen] == ["/old.xml", "/new.xml", "/new.xml"]
    assert all(auth.startswith("Basic ") for _, auth in seen)
    assert "feed moving: failed" not in second.stdout
    assert f"moved permanently to http://***@{server.host}/new.xml" in status.stdout
    store = (project / "var/monitor.db").read_bytes()
    assert FEED_PASSWORD.encode() not in store
    assert leaked(first.stdout + first.stderr + second.stdout + second.stderr + status.stdout) == []
