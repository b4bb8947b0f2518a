"""The health and metrics endpoint: GET /healthz and GET /metrics over plain HTTP.

A deliberately tiny HTTP/1.1 responder on asyncio: it answers two read-only
paths, closes every connection, and listens on 127.0.0.1 unless the operator
says otherwise. It computes nothing itself; the service passes the callables.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from monitor.logs import log_crash, log_event

_log = logging.getLogger("monitor.app.health")
_MAX_REQUEST_BYTES = 8192
_READ_TIMEOUT_S = 5.0


class HealthServer:
    """Serves `health()` as JSON on /healthz and `metrics()` on /metrics."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        metrics: Callable[[], tuple[bytes, str]],
    ) -> None:
        self._host = host
        self._port = port
        self._health = health
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        if self._server is None:
            return self._host, self._port
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
            method, path = _request_line(request)
            status, content_type, body = self._answer(method, path)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        except Exception:
            log_crash(_log, "health.crashed")
            status, content_type, body = 500, "text/plain", b"internal error\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        try:
            await writer.drain()
        finally:
            writer.close()

    def _answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method != "GET":
            return 405, "text/plain", b"method not allowed\n"
        route = path.split("?", 1)[0]
        if route == "/healthz":
            is_healthy, details = self._health()
            body = json.dumps(details, default=str).encode("utf-8") + b"\n"
            return (200 if is_healthy else 503), "application/json", body
        if route == "/metrics":
            body, content_type = self._metrics()
            return 200, content_type, body
        log_event(_log, logging.DEBUG, "health.not_found", path=route[:200])
        return 404, "text/plain", b"not found\n"


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _request_line(request: bytes) -> tuple[str, str]:
    if len(request) > _MAX_REQUEST_BYTES:
        raise ValueError("request too large")
    first = request.split(b"\r\n", 1)[0].decode("ascii")
    method, path, _version = first.split(" ", 2)
    return method, path
