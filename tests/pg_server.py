"""A throw-away PostgreSQL server for the tests: Debian's binaries, a cluster made by
`initdb` in a temporary folder, listening on 127.0.0.1 (password) and on a Unix socket in
that folder (trust), stopped and deleted at the end of the session.

initdb and postgres refuse to run as root: as root (CI, the sessions) they run as
Debian's unprivileged `postgres` user. Without PostgreSQL the tests that need it skip
with the reason, except under CI=true, where they fail: CI must never lose them silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

# Debian installs each major version under its own folder; the newest wins.
BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
SUPERUSER = "monitor"
PASSWORD = "pg-test-password"
TEMPLATE = "monitor_template"
INSTALL_HINT = (
    "PostgreSQL is not installed (Debian: apt-get install -y postgresql; .ci/run installs "
    "it as root)"
)


@dataclass(frozen=True)
class PgServer:
    """A running cluster: where it listens and how to reach its databases."""

    folder: Path
    socket_dir: Path
    port: int

    def socket_url(self, database: str) -> str:
        """A URL over the Unix socket, trusted: fast, for the store suites."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, database: str, *, password: str | None = None) -> str:
        """A URL over 127.0.0.1, where the server asks for the password."""
        secret = f":{password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.socket_url("postgres"), autocommit=True)


def unavailable(reason: str) -> None:
    """Skip, or under CI=true fail: a CI run without PostgreSQL must not pass quietly."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires PostgreSQL", pytrace=False)
    pytest.skip(reason)


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(*, settings: str = "") -> PgServer:
    """initdb a new cluster in a temporary folder and start it (fast and unsafe settings:
    fsync, synchronous commit and full page writes off; it is thrown away). `settings`: more
    `-c name=value` options for the server (bench.scaling loads pg_stat_statements)."""
    bin_dir = BINARIES[0].parent
    folder = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, password_file = folder / "data", folder / "password"
    password_file.write_text(PASSWORD, encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(password_file, "postgres", "postgres")
    subprocess.run(
        _as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={password_file}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
        f"{settings}"
    )
    subprocess.run(
        _as_server_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    return PgServer(folder=folder, socket_dir=folder, port=port)


def stop_server(server: PgServer) -> None:
    bin_dir = BINARIES[0].parent
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "pg_ctl"), "-D", str(server.folder / "data"), "-m", "immediate", "stop"]
        ),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(server.folder, ignore_errors=True)


class Databases:
    """Fresh databases, each a copy of one migrated template (CREATE DATABASE … TEMPLATE
    copies files: faster than migrating every time)."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self._count = 0
        self._lock = threading.Lock()
        self._template_ready = False

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        from monitor.store import Store

        with self.server.admin() as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")
        Store(self.server.socket_url(TEMPLATE)).close()
        self._template_ready = True

    def create(self, *, migrated: bool = True) -> str:
        """The name of a new database, migrated (from the template) or empty."""
        with self._lock:
            if migrated:
                self._ensure_template()
            self._count += 1
            name = f"test_{os.getpid()}_{self._count}"
            template = f" TEMPLATE {TEMPLATE}" if migrated else ""
            with self.server.admin() as admin:
                admin.execute(f"CREATE DATABASE {name}{template}")
            return name

    def drop(self, name: str) -> None:
        with self.server.admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL cluster (skips, or fails under CI=true, without one)."""
    if not BINARIES:
        unavailable(INSTALL_HINT)
    try:
        server = start_server()
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        unavailable(f"PostgreSQL did not start ({exc}; {detail.decode(errors='replace')})")
        raise  # unreachable: unavailable() skips or fails
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def pg_databases(pg_server: PgServer) -> Databases:
    return Databases(pg_server)


@pytest.fixture
def pg_url(pg_databases: Databases) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of its own for this test."""
    name = pg_databases.create()
    yield pg_databases.server.socket_url(name)
    pg_databases.drop(name)
