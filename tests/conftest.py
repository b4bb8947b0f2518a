"""Shared fixtures: a private copy of the shipped project (config, rules, templates, seeds)."""

import asyncio
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
