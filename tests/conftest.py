"""Shared fixtures: a private copy of the shipped project (config, rules, templates, seeds)."""

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
MONITOR = [sys.executable, "-m", "monitor.cli"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped config.yaml, rules/, templates/ and seeds/ in a temporary folder."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    for folder in ("rules", "templates", "seeds"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def run_monitor(project: Path, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    """Run the `monitor` command in `project` the way a user would."""
    return subprocess.run(
        [*MONITOR, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


class LoopbackSMTP(Controller):
    """aiosmtpd on 127.0.0.1 with a port the OS picks (Controller alone cannot use port 0)."""

    def __init__(self, handler: object, **options: object) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, **options)

    def _trigger_server(self) -> None:
        # _run() has bound the listening socket by the time start() calls this.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
