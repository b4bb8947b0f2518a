"""fetch.py against a real HTTP server on 127.0.0.1 and real files."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import FetchError
from monitor.fetch import USER_AGENT, Fetcher
from monitor.model import Feed, FeedState, FetchResult

NOW = datetime(2026, 10, 21, 7, 26, 30, tzinfo=UTC)
FEED_BODY = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Local</title>
<item><title>Un</title><link>https://example.org/1</link></item>
</channel></rss>
"""
ETAG = '"v1"'
LAST_MODIFIED = "Tue, 20 Oct 2026 10:00:00 GMT"
DRIP_INTERVAL_S = 0.5


# --- the local server ----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _FeedServer

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers.items())))
        route = ROUTES.get(self.path.split("?", 1)[0])
        if route is None:
            self._send(404, b"not found")
        else:
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        all_headers = {"Content-Type": "application/rss+xml; charset=utf-8", **(headers or {})}
        all_headers.setdefault("Content-Length", str(len(body)))
        for name, value in all_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _etag(handler: _Handler) -> None:
    if handler.headers.get("If-None-Match") == ETAG:
        handler._send(304, headers={"ETag": ETAG, "Content-Length": "0"})
    else:
        handler._send(200, FEED_BODY, {"ETag": ETAG, "Last-Modified": LAST_MODIFIED})


def _redirect_to(location: str, status: int = 302) -> Callable[[_Handler], None]:
    return lambda handler: handler._send(status, headers={"Location": location})


def _drip(handler: _Handler) -> None:
    """Declares 100 bytes, then sends one every DRIP_INTERVAL_S."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    for _ in range(100):
        if handler.server.stopping.wait(DRIP_INTERVAL_S):
            return
        try:
            handler.wfile.write(b"x")
            handler.wfile.flush()
        except OSError:  # the client gave up, as it should
            return


def _undeclared_length(body: bytes) -> Callable[[_Handler], None]:
    """HTTP/1.0 without Content-Length: the body ends when the connection closes."""

    def route(handler: _Handler) -> None:
        handler.send_response(200)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def _gzipped(body: bytes, coding: str = "gzip", layers: int = 1) -> Callable[[_Handler], None]:
    for _ in range(layers):
        body = gzip.compress(body, compresslevel=6)
    return lambda handler: handler._send(200, body, {"Content-Encoding": coding})


ROUTES: dict[str, Callable[[_Handler], None]] = {
    "/feed": lambda handler: handler._send(200, FEED_BODY),
    "/etag": _etag,
    "/busy-seconds": lambda handler: handler._send(429, headers={"Retry-After": "120"}),
    "/busy-date": lambda handler: handler._send(
        503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}
    ),
    "/broken": lambda handler: handler._send(500, b"oops"),
    "/missing": lambda handler: handler._send(404, b"no"),
    "/gone": lambda handler: handler._send(410),
    "/moved": _redirect_to("/moved-again", 301),
    "/moved-again": _redirect_to("/feed"),
    "/to-file": _redirect_to("file:///etc/passwd"),
    "/loop-a": _redirect_to("/loop-b"),
    "/loop-b": _redirect_to("/loop-a"),
    "/chain-3": _redirect_to("/chain-2"),
    "/chain-2": _redirect_to("/chain-1"),
    "/chain-1": _redirect_to("/feed"),
    "/drip": _drip,
    "/big": lambda handler: handler._send(200, b"x" * 5000),
    "/big-undeclared": _undeclared_length(b"x" * 5000),
    "/gzip": _gzipped(FEED_BODY),
    "/gzip-bomb": _gzipped(b"\0" * (20 * 1024 * 1024)),
    "/gzip-stacked": _gzipped(FEED_BODY, "gzip, gzip", layers=2),
}


@pytest.fixture(scope="module")
def server() -> Iterator[_FeedServer]:
    feed_server = _FeedServer()
    thread = threading.Thread(target=feed_server.serve_forever, daemon=True)
    thread.start()
    yield feed_server
    feed_server.stopping.set()
    feed_server.shutdown()
    feed_server.server_close()
    thread.join()


def _feed(url: str, *, allow_private: bool = True) -> Feed:
    return Feed(id="local", url=url, allow_private=allow_private)


def fetch(
    url: str,
    state: FeedState | None = None,
    *,
    base_dir: Path = Path("."),
    allow_private: bool = True,
    **settings: Any,
) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(base_dir=base_dir, **settings) as fetcher:
            return await fetcher.fetch(_feed(url, allow_private=allow_private), state, NOW)

    return asyncio.run(run())


def fetch_error(url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, **kwargs)
    return caught.value


# --- http ------------------------------------------------------------------------


def test_ok_returns_body_validators_and_sends_user_agent(server: _FeedServer) -> None:
    result = fetch(server.base_url + "/etag")

    assert result.status == 200
    assert result.is_modified
    assert result.body == FEED_BODY
    assert result.etag == ETAG
    assert result.last_modified == LAST_MODIFIED
    assert result.fetched_at == NOW
    assert result.header("content-type") == "application/rss+xml; charset=utf-8"
    sent = server.requests[-1][1]
    assert sent["User-Agent"] == USER_AGENT
    assert "github.com" in USER_AGENT


def test_conditional_get_returns_304_and_keeps_validators(server: _FeedServer) -> None:
    state = FeedState(feed_id="local", etag=ETAG, last_modified=LAST_MODIFIED)

    result = fetch(server.base_url + "/etag", state)

    assert result.status == 304
    assert not result.is_modified
    assert result.body == b""
    assert result.etag == ETAG
    assert result.last_modified == LAST_MODIFIED  # not re-sent by the server, kept
    sent = server.requests[-1][1]
    assert sent["If-None-Match"] == ETAG
    assert sent["If-Modified-Since"] == LAST_MODIFIED


def test_429_reports_retry_after_in_seconds(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/busy-seconds")

    assert error.status == 429
    assert error.retry_after_s == 120
    assert not error.is_permanent
    assert "retry after 120 s" in str(error)


def test_503_reads_retry_after_http_date_against_now(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/busy-date")

    assert error.status == 503
    assert error.retry_after_s == 90  # 07:28:00 minus NOW (07:26:30)


def test_server_error_carries_status(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/broken")

    assert error.status == 500
    assert error.retry_after_s is None
    assert not error.is_permanent
    assert str(error) == f"fetch: '{server.base_url}/broken': server error (500 status code)"


def test_client_error_carries_status(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/missing")

    assert error.status == 404
    assert not error.is_permanent


def test_410_is_permanent(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/gone")

    assert error.status == 410
    assert error.is_permanent


def test_redirects_are_followed_and_final_url_reported(server: _FeedServer) -> None:
    result = fetch(server.base_url + "/moved")

    assert result.status == 200
    assert result.body == FEED_BODY
    assert result.url == server.base_url + "/feed"


def test_redirect_loop_is_an_error(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/loop-a")

    assert "redirect loop" in str(error)


def test_redirect_off_the_web_is_refused(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/to-file")

    assert "refusing redirect to non-http URL 'file:///etc/passwd'" in str(error)


def test_redirects_beyond_the_limit_are_an_error(server: _FeedServer) -> None:
    assert fetch(server.base_url + "/chain-3", max_redirects=3).status == 200

    error = fetch_error(server.base_url + "/chain-3", max_redirects=2)

    assert "more than 2 redirects" in str(error)


def test_drip_feed_is_cut_off_by_the_deadline(server: _FeedServer) -> None:
    started = time.monotonic()

    error = fetch_error(server.base_url + "/drip", deadline_s=1.2, timeout_s=5.0)

    elapsed_s = time.monotonic() - started
    assert "1.2 s deadline" in str(error)
    assert 1.0 < elapsed_s < 2.5


def test_read_timeout_is_wrapped(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/drip", timeout_s=0.2)

    assert "timed out" in str(error)
    assert error.status is None


@pytest.mark.parametrize("path", ["/big", "/big-undeclared"])
def test_body_over_the_cap_is_refused(server: _FeedServer, path: str) -> None:
    error = fetch_error(server.base_url + path, max_body_bytes=1000)

    assert "1000 byte limit" in str(error)


def test_gzip_body_is_decoded(server: _FeedServer) -> None:
    result = fetch(server.base_url + "/gzip")

    assert result.body == FEED_BODY
    assert server.requests[-1][1]["Accept-Encoding"] == "gzip, deflate"


def test_gzip_bomb_stops_at_the_decoded_size_cap(server: _FeedServer) -> None:
    # About 20 KB on the wire, 20 MB once decoded.
    error = fetch_error(server.base_url + "/gzip-bomb", max_body_bytes=1024 * 1024)

    assert "byte limit" in str(error)


def test_stacked_content_codings_are_refused(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/gzip-stacked")

    assert "stacked content codings 'gzip, gzip'" in str(error)


def test_private_address_needs_allow_private(server: _FeedServer) -> None:
    requests_before = len(server.requests)

    error = fetch_error(server.base_url + "/feed", allow_private=False)

    assert error.is_permanent
    assert "non-public address '127.0.0.1'" in str(error)
    assert len(server.requests) == requests_before  # refused before connecting


def test_connection_refused_is_wrapped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]

    error = fetch_error(f"http://127.0.0.1:{free_port}/feed")

    assert "network error" in str(error)
    assert error.status is None


def test_unsupported_scheme_is_permanent() -> None:
    error = fetch_error("ftp://127.0.0.1/feed.xml")

    assert error.is_permanent
    assert "unsupported URL scheme 'ftp'" in str(error)


def test_fetcher_is_reusable_across_fetches(server: _FeedServer) -> None:
    async def run() -> list[int]:
        fetcher = Fetcher(base_dir=Path("."))
        try:
            feed = _feed(server.base_url + "/feed")
            results = await asyncio.gather(*(fetcher.fetch(feed, None, NOW) for _ in range(5)))
        finally:
            await fetcher.aclose()
        return [result.status for result in results]

    assert asyncio.run(run()) == [200] * 5


# --- files -----------------------------------------------------------------------


@pytest.fixture
def feed_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds" / "local feed.xml"
    path.parent.mkdir()
    path.write_bytes(FEED_BODY)
    return path


def test_relative_path_is_read_from_base_dir(tmp_path: Path, feed_file: Path) -> None:
    result = fetch("feeds/local feed.xml", base_dir=tmp_path)

    assert result.status == 200
    assert result.body == FEED_BODY
    assert result.url == feed_file.as_uri()
    assert result.headers == ()


def test_absolute_path_and_file_url(feed_file: Path) -> None:
    assert fetch(str(feed_file)).body == FEED_BODY
    assert fetch(feed_file.as_uri()).body == FEED_BODY


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    error = fetch_error("feeds/nope.xml", base_dir=tmp_path)

    assert f"no such file '{tmp_path / 'feeds' / 'nope.xml'}'" in str(error)
    assert error.url == "feeds/nope.xml"


def test_file_over_the_cap_is_refused(feed_file: Path) -> None:
    error = fetch_error(str(feed_file), max_body_bytes=10)

    assert "10 byte limit" in str(error)
