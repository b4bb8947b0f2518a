"""The uvicorn adapter: serve an ASGI app inside the caller's event loop.

Owns the listening socket (bound here, so a busy port is a clear error, not uvicorn's
`sys.exit`) and the server task; the daemon or `monitor web` owns the loop and the
signals, so uvicorn is told not to install its own handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from monitor.errors import MonitorError

# How long a stopping server waits for open requests before closing their connections.
GRACEFUL_STOP_S = 2.0
_STARTUP_TIMEOUT_S = 10.0


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn replaces SIGTERM/SIGINT handlers with signal.signal(), which would
        # silently take the daemon's shutdown away from it: the owner of the loop decides.
        yield


class WebServer:
    """`app` on host:port, started and stopped from a running event loop."""

    def __init__(self, app: ASGIApp, *, host: str, port: int, setting: str = "web.listen") -> None:
        self._app = app
        self._host = host
        self._port = port
        self._setting = setting
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        if self._socket is None:
            return self._host, self._port
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def start(self) -> None:
        try:
            self._socket = socket.create_server(
                (self._host, self._port),
                family=socket.AF_INET6 if ":" in self._host else socket.AF_INET,
                reuse_port=False,
            )
        except OSError as exc:
            raise MonitorError(
                f"web: cannot listen on {self._host}:{self._port} "
                f"({exc.strerror or exc}); change {self._setting} in the config or set "
                "`web: null`"
            ) from exc
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=int(GRACEFUL_STOP_S),
            log_level=logging.WARNING,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STARTUP_TIMEOUT_S
        while not self._server.started:
            if self._task.done() or loop.time() > deadline:
                await self.close()
                raise MonitorError(f"web: the server on {self.url} did not start")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = self._socket = None

    async def wait(self) -> None:
        """Until the server stops (see `close`)."""
        if self._task is not None:
            await asyncio.shield(self._task)
