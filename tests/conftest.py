"""Shared fixtures: a private copy of the shipped project (config, rules, templates, seeds), and
two ways to run the `monitor` command in it: in-process (`run_cli`, the default) or as a real
subprocess (`run_monitor`, kept for the few tests that prove the installed command)."""

import asyncio
import contextlib
import io
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.cli.main import main as monitor_main
from monitor.logs import KeyValueFormatter
from tests.pg_server import PASSWORD as PG_PASSWORD
from tests.pg_server import pg_databases, pg_server, pg_url

__all__ = ["pg_databases", "pg_server", "pg_url"]  # fixtures, shared with every test file

ROOT = Path(__file__).resolve().parent.parent
MONITOR = [sys.executable, "-m", "monitor.cli"]
# Debian's browser, for the screenshot and workspace tests (.ci/run installs it as root).
CHROMIUM = Path("/usr/bin/chromium")
# Under CI a missing browser fails the browser tests instead of skipping them, so a CI run
# that passes has really driven the pages (as the PostgreSQL tests do without a server).
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Chromium is not installed at /usr/bin/chromium (Debian: apt-get install -y "
    "chromium; .ci/run installs it); Playwright cannot download its own browser here",
)


@pytest.fixture(autouse=True)
def _log_lines_as_the_daemon_writes_them(caplog: pytest.LogCaptureFixture) -> None:
    """caplog.text shows each event with its key=value fields, as the daemon's log does."""
    caplog.handler.setFormatter(KeyValueFormatter())


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden files under tests/golden/ from this run",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each backend: a SQLite file in tmp_path, or a migrated database of
    its own on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_project(
    request: pytest.FixtureRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The shipped project on each backend: as shipped (a SQLite file), or with `store:` a
    new, empty PostgreSQL database over 127.0.0.1 and its password in PGPASSWORD (which
    `run_monitor`'s processes inherit)."""
    if request.param == "postgresql":
        databases = request.getfixturevalue("pg_databases")
        use_store(project, databases.server.tcp_url(databases.create(migrated=False)))
        monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    return project


def use_store(project: Path, store: str) -> None:
    """Point the project's config.yaml at `store` instead of its SQLite file."""
    config = project / "config.yaml"
    text = config.read_text("utf-8")
    assert "store: var/monitor.db" in text
    config.write_text(text.replace("store: var/monitor.db", f"store: {store}", 1), "utf-8")


def raw_rows(store_url: str, sql: str) -> list[tuple]:
    """Rows as the database itself holds them, read on a connection of its own (not the
    store's): what another program, a backup or an attacker with the file would see."""
    if store_url.startswith("sqlite:///"):
        raw = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        try:
            with raw:  # commits a write
                return [tuple(row) for row in raw.execute(sql)]
        finally:
            raw.close()
    with psycopg.connect(store_url) as connection:  # commits a write
        cursor = connection.execute(sql)
        return [tuple(row) for row in cursor] if cursor.description else []


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped config.yaml, rules/, templates/ and seeds/ in a temporary folder."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    for folder in ("rules", "templates", "seeds"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def run_monitor(project: Path, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    """Run the `monitor` command in `project` the way a user would: a new Python process.

    Each call pays start-up, imports and often a model load (up to ~3 s): use `run_cli` unless
    the test is about the command itself or needs a process of its own (signals, kills, locks).
    """
    return subprocess.run(
        [*MONITOR, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass(frozen=True)
class CliResult:
    """What `run_cli` saw: the fields of `subprocess.CompletedProcess` the tests read."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(project: Path, *args: str) -> CliResult:
    """Run `monitor ARGS...` in this process, in `project`, as `run_monitor` would.

    stdout and stderr (log lines included) are captured; the working directory and the
    `monitor` logger are restored afterwards, so calls do not leak into each other. The spaCy
    model is loaded once per session (monitor.nlp caches it), not once per call.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(project),
        _logger_restored("monitor"),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            code = monitor_main(list(args))
        except SystemExit as exc:  # argparse exits on usage errors and --help
            code = _exit_code(exc)
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def _exit_code(exc: SystemExit) -> int:
    # Python's own rule: None is success, an int is the status, anything else is printed and 1.
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


@contextlib.contextmanager
def _logger_restored(name: str) -> Iterator[None]:
    """Put back the handlers, level and propagation that `configure_logging` replaces."""
    logger = logging.getLogger(name)
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    try:
        yield
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


class LoopbackSMTP(Controller):
    """aiosmtpd on 127.0.0.1 with a port the OS picks (Controller alone cannot use port 0)."""

    def __init__(self, handler: object, **options: object) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, **options)

    def _trigger_server(self) -> None:
        # _run() has bound the listening socket by the time start() calls this.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class LoopbackHTTP:
    """A threaded HTTP server on 127.0.0.1 with a port the OS picks, serving `handler`."""

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.base = f"http://{self.host}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class FeedServer:
    """Serves a folder over HTTP on 127.0.0.1 and logs the paths asked for;
    /slow/... never answers in time."""

    def __init__(self, root: Path) -> None:
        self.stopping = threading.Event()
        self.requested: list[str] = []
        stopping, requested = self.stopping, self.requested

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                requested.append(self.path)
                if self.path.startswith("/slow/"):
                    stopping.wait(60)
                    return
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self.http = LoopbackHTTP(partial(Handler, directory=str(root)))
        self.base = self.http.base

    def close(self) -> None:
        self.stopping.set()
        self.http.close()


def write_self_signed_certificate(
    folder: Path, common_name: str, alt_name: x509.GeneralName
) -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM files in `folder`), valid for two days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.now(UTC) - timedelta(hours=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
