"""fetch.py against a real HTTP server on 127.0.0.1 and real files."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gzip
import itertools
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from monitor import netguard
from monitor.errors import FetchError, ParseError
from monitor.ingest.fetch import _ACCEPT_ENCODING, USER_AGENT, Fetcher
from monitor.ingest.parse import parse_feed
from monitor.model import Feed, FeedState, FetchResult
from monitor.settings import FetchSettings
from tests.conftest import write_self_signed_certificate

NOW = datetime(2026, 10, 21, 7, 26, 30, tzinfo=UTC)
FEED_BODY = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Local</title>
<item><title>Un</title><link>https://example.org/1</link></item>
</channel></rss>
"""
ETAG = '"v1"'
LAST_MODIFIED = "Tue, 20 Oct 2026 10:00:00 GMT"
DRIP_INTERVAL_S = 0.5
BOMB_MIB = 256
SLOW_S = 0.3
FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


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
        self.connections = 0
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts: list[float] = []
        self.sni: list[str | None] = []

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.lock:  # every accepted TCP connection, even one that never sends a request
            self.connections += 1
        return True

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _etag(handler: _Handler) -> None:
    if handler.headers.get("If-None-Match") == ETAG:
        handler._send(
            304, headers={"ETag": ETAG, "Content-Length": "0", "Cache-Control": "max-age=120"}
        )
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


@functools.cache
def _bomb(wbits: int) -> bytes:
    """BOMB_MIB of zeros, compressed (gzip: wbits 31, zlib: 15, raw deflate: -15)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = b"\0" * (1024 * 1024)
    return b"".join(packer.compress(zeros) for _ in range(BOMB_MIB)) + packer.flush()


def _raw_deflate(body: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(body) + packer.flush()


def _bomb_route(coding: str, wbits: int) -> Callable[[_Handler], None]:
    return lambda handler: handler._send(200, _bomb(wbits), {"Content-Encoding": coding})


def _flaky(handler: _Handler) -> None:
    """500 three times for each distinct query, then the feed."""
    with handler.server.lock:
        handler.server.hits[handler.path] += 1
        hits = handler.server.hits[handler.path]
    if hits <= 3:
        handler._send(500, b"oops")
    else:
        handler._send(200, FEED_BODY)


def _slow(handler: _Handler) -> None:
    """Counts requests in flight at once; each takes SLOW_S."""
    server = handler.server
    with server.lock:
        server.in_flight += 1
        server.max_in_flight = max(server.max_in_flight, server.in_flight)
        server.starts.append(time.monotonic())
    time.sleep(SLOW_S)
    with server.lock:
        server.in_flight -= 1
    handler._send(200, FEED_BODY)


def _expires_in_an_hour(handler: _Handler) -> None:
    expires = formatdate(time.time() + 3600, usegmt=True)
    handler._send(200, FEED_BODY, {"Expires": expires})


def _redirect_to_port(template: str) -> Callable[[_Handler], None]:
    """A redirect to another host on this server's port ('{port}' in the template)."""
    return lambda handler: handler._send(
        302, headers={"Location": template.format(port=handler.server.port)}
    )


ROUTES: dict[str, Callable[[_Handler], None]] = {
    "/feed": lambda handler: handler._send(200, FEED_BODY),
    "/sets-cookie": lambda handler: handler._send(
        200, FEED_BODY, {"Set-Cookie": "consent=yes; Path=/"}
    ),
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
    "/to-backslash": _redirect_to_port("http://127.0.0.1:{port}\\@evil.example/feed"),
    "/to-two-ats": _redirect_to_port("http://a@b@127.0.0.1:{port}/feed"),
    "/to-tab": _redirect_to("/fe\ted"),
    "/to-nested-credentials": _redirect_to("/r?next=https://user:pass@evil.example/"),
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
    "/bomb-gzip": _bomb_route("gzip", 31),
    "/bomb-deflate": _bomb_route("deflate", 15),
    "/bomb-raw-deflate": _bomb_route("deflate", -15),
    "/deflate": lambda handler: handler._send(
        200, zlib.compress(FEED_BODY), {"Content-Encoding": "deflate"}
    ),
    "/raw-deflate": lambda handler: handler._send(
        200,
        _raw_deflate(FEED_BODY),
        {"Content-Encoding": "deflate"},
    ),
    "/brotli": lambda handler: handler._send(
        200, b"\x0b\x02\x80hello\x03", {"Content-Encoding": "br"}
    ),
    "/compress": lambda handler: handler._send(200, b"\x1f\x9d", {"Content-Encoding": "compress"}),
    "/gzip-corrupt": lambda handler: handler._send(
        200, b"\x1f\x8bnot gzip at all", {"Content-Encoding": "gzip"}
    ),
    "/flaky": _flaky,
    "/slow": _slow,
    "/perm-a": _redirect_to("/perm-b", 301),
    "/perm-b": _redirect_to("/feed", 308),
    "/cached": lambda handler: handler._send(
        200, FEED_BODY, {"Cache-Control": 'public, max-age="600"'}
    ),
    "/expires": _expires_in_an_hour,
    "/expires-invalid": lambda handler: handler._send(200, FEED_BODY, {"Expires": "0"}),
    "/to-loopback-literal": _redirect_to_port("http://127.0.0.2:{port}/feed"),
    "/to-localhost": _redirect_to_port("http://localhost:{port}/feed"),
    "/wrong-charset": lambda handler: handler._send(
        200, (FIXTURES / "windows-1252.xml").read_bytes()
    ),
    "/html": lambda handler: handler._send(
        200, (FIXTURES / "not-a-feed.html").read_bytes(), {"Content-Type": "text/html"}
    ),
    "/path-body": lambda handler: handler._send(200, str(FIXTURES / "rss2.xml").encode()),
}


@pytest.fixture(scope="module")
def server() -> Iterator[_FeedServer]:
    feed_server = _FeedServer()
    thread = threading.Thread(target=feed_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield feed_server
    feed_server.stopping.set()
    feed_server.shutdown()
    feed_server.server_close()
    thread.join()


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _feed(url: str, *, allow_private: bool = True) -> Feed:
    return Feed(id="local", url=url, allow_private=allow_private)


def make_fetcher(base_dir: Path = Path("."), **options: Any) -> Fetcher:
    """A Fetcher from keyword options: the FetchSettings fields go into its settings."""
    names = {field.name for field in dataclasses.fields(FetchSettings)}
    settings = FetchSettings(**{key: value for key, value in options.items() if key in names})
    rest = {key: value for key, value in options.items() if key not in names}
    return Fetcher(settings, base_dir=base_dir, **rest)


def fetch(
    url: str,
    state: FeedState | None = None,
    *,
    base_dir: Path = Path("."),
    allow_private: bool = True,
    **settings: Any,
) -> FetchResult:
    # Politeness spacing has its own test; elsewhere it would only slow the suite down.
    settings.setdefault("host_spacing_s", 0.0)

    async def run() -> FetchResult:
        async with make_fetcher(base_dir, **settings) as fetcher:
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


def test_a_poll_sends_what_an_http_client_sends_and_returns_cookies_a_server_set(
    server: _FeedServer,
) -> None:
    async def run() -> None:
        async with make_fetcher(host_spacing_s=0.0) as fetcher:
            for path in ("/feed", "/sets-cookie", "/feed"):
                await fetcher.fetch(_feed(server.base_url + path), None, NOW)

    asyncio.run(run())

    [first, _, after_cookie] = [headers for _, headers in server.requests[-3:]]
    assert first["Host"] == server.base_url.split("//", 1)[1]
    assert first["Connection"] == "keep-alive"
    assert first["Accept-Encoding"] == _ACCEPT_ENCODING
    assert first["Accept"].startswith("application/rss+xml")
    assert "Cookie" not in first
    assert after_cookie["Cookie"] == "consent=yes"


def test_a_feed_urls_credentials_are_sent_as_basic_auth_and_never_in_the_request_line(
    server: _FeedServer,
) -> None:
    host = server.base_url.split("//", 1)[1]
    fetch(f"http://lecteur:p%C3%A2te%3A1@{host}/feed")
    fetch(server.base_url + "/feed")

    [(with_path, with_credentials), (_, without)] = server.requests[-2:]
    assert with_path == "/feed"
    # base64 of "lecteur:pâte:1", the password decoded and sent as UTF-8.
    assert with_credentials["Authorization"] == "Basic bGVjdGV1cjpww6J0ZTox"
    assert "Authorization" not in without


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


def test_a_retry_after_holds_every_url_on_that_host_until_its_time(server: _FeedServer) -> None:
    async def run() -> tuple[FetchError, FetchError, FetchResult]:
        async with make_fetcher(host_spacing_s=0.0) as fetcher:
            with pytest.raises(FetchError) as busy:
                await fetcher.fetch(_feed(server.base_url + "/busy-seconds"), None, NOW)
            with pytest.raises(FetchError) as held:
                await fetcher.fetch(_feed(server.base_url + "/feed"), None, NOW + seconds(20))
            later = await fetcher.fetch(_feed(server.base_url + "/feed"), None, NOW + seconds(120))
            return busy.value, held.value, later

    requests_before = len(server.requests)
    busy, held, later = asyncio.run(run())

    assert busy.retry_after_s == 120
    assert held.retry_after_s == 100 and not held.is_permanent
    assert "host '127.0.0.1' asked every feed on it to wait (Retry-After), 100 s left" in str(held)
    assert later.status == 200
    assert [path for path, _ in server.requests[requests_before:]] == ["/busy-seconds", "/feed"]


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


@pytest.mark.parametrize(
    ("route", "problem"),
    [
        ("/to-backslash", "@evil.example/feed': a backslash at position"),
        ("/to-two-ats", "more than one '@'"),
        # httpx refuses a control character in Location before our check sees it.
        ("/to-tab", "Invalid non-printable ASCII character in URL, '\\t'"),
        ("/to-nested-credentials", "credentials ('scheme://user@')"),
    ],
)
def test_a_redirect_to_a_url_parsers_disagree_on_is_refused(
    server: _FeedServer, route: str, problem: str
) -> None:
    requests_before = len(server.requests)

    error = fetch_error(server.base_url + route)

    assert problem in str(error)
    assert not error.is_permanent  # backed off like any failure: the server may fix it
    assert len(server.requests) == requests_before + 1  # the hop was never requested


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1\\@evil.example/feed", "http://a@b@127.0.0.1:1/", "http://h/\tx"]
)
def test_a_feed_url_parsers_disagree_on_is_refused_before_connecting(url: str) -> None:
    error = fetch_error(url)

    assert error.is_permanent
    assert "refusing URL: " in str(error)


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


@pytest.mark.parametrize("route", ["/bomb-gzip", "/bomb-deflate", "/bomb-raw-deflate"])
def test_a_compression_bomb_costs_at_most_the_cap_plus_16_mib(
    server: _FeedServer, route: str
) -> None:
    cap = 1024 * 1024
    _bomb({"/bomb-gzip": 31, "/bomb-deflate": 15, "/bomb-raw-deflate": -15}[route])  # not measured
    tracemalloc.start()
    try:
        error = fetch_error(server.base_url + route, max_body_bytes=cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "byte limit" in str(error)
    # 256 MiB once inflated, about 250 KiB on the wire: inflating one 64 KiB read at once
    # would hold ~64 MiB; in bounded steps the peak stays near the cap.
    assert peak < cap + 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("route", ["/deflate", "/raw-deflate"])
def test_deflate_bodies_are_decoded_with_or_without_the_zlib_wrapper(
    server: _FeedServer, route: str
) -> None:
    assert fetch(server.base_url + route).body == FEED_BODY


@pytest.mark.parametrize(("route", "coding"), [("/brotli", "br"), ("/compress", "compress")])
def test_a_coding_monitor_did_not_ask_for_is_refused(
    server: _FeedServer, route: str, coding: str
) -> None:
    error = fetch_error(server.base_url + route)

    assert f"unsupported content coding '{coding}'" in str(error)
    assert "br" not in server.requests[-1][1]["Accept-Encoding"]


def test_a_corrupt_gzip_body_is_a_fetch_error(server: _FeedServer) -> None:
    error = fetch_error(server.base_url + "/gzip-corrupt")

    assert "invalid gzip data" in str(error)


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


# --- retries are the scheduler's job: the fetcher reports each failure ------------------


def test_500_three_times_then_200(server: _FeedServer) -> None:
    url = server.base_url + "/flaky?run=three-then-ok"

    statuses = [fetch_error(url).status for _ in range(3)]

    assert statuses == [500, 500, 500]
    assert fetch(url).body == FEED_BODY


# --- hints for the scheduler and the store -------------------------------------------------


def test_permanent_redirect_chain_reports_the_new_url(server: _FeedServer) -> None:
    result = fetch(server.base_url + "/perm-a")  # 301 then 308

    assert result.body == FEED_BODY
    assert result.redirected_permanently_to == server.base_url + "/feed"


def test_permanent_redirect_then_temporary_reports_only_the_permanent_part(
    server: _FeedServer,
) -> None:
    result = fetch(server.base_url + "/moved")  # 301 to /moved-again, then 302 to /feed

    assert result.url == server.base_url + "/feed"
    assert result.redirected_permanently_to == server.base_url + "/moved-again"


def test_temporary_redirects_report_no_new_url(server: _FeedServer) -> None:
    assert fetch(server.base_url + "/chain-1").redirected_permanently_to is None
    assert fetch(server.base_url + "/feed").redirected_permanently_to is None


def test_cache_control_max_age_is_reported(server: _FeedServer) -> None:
    assert fetch(server.base_url + "/cached").max_age_s == 600
    assert fetch(server.base_url + "/feed").max_age_s is None


def test_expires_is_read_against_the_server_date(server: _FeedServer) -> None:
    max_age_s = fetch(server.base_url + "/expires").max_age_s

    assert max_age_s is not None
    assert 3598 <= max_age_s <= 3601
    assert fetch(server.base_url + "/expires-invalid").max_age_s == 0


def test_304_carries_max_age_too(server: _FeedServer) -> None:
    state = FeedState(feed_id="local", etag=ETAG)

    result = fetch(server.base_url + "/etag", state)

    assert result.status == 304
    assert result.max_age_s == 120


# --- what the body is, end to end -----------------------------------------------------------


def test_wrong_charset_label_still_reads_right(server: _FeedServer) -> None:
    # windows-1252 bytes served as "charset=utf-8"
    parsed = parse_feed(fetch(server.base_url + "/wrong-charset"))

    assert parsed.entries[0].title == "Réforme des retraites : l’été sera chaud"


def test_html_page_instead_of_a_feed_is_a_failure_not_an_empty_feed(server: _FeedServer) -> None:
    result = fetch(server.base_url + "/html")

    with pytest.raises(ParseError, match="not an RSS or Atom feed"):
        parse_feed(result)


def test_body_that_names_a_local_file_is_never_read(server: _FeedServer) -> None:
    result = fetch(server.base_url + "/path-body")

    assert result.body == str(FIXTURES / "rss2.xml").encode()
    with pytest.raises(ParseError):  # the file is a valid feed: reading it would parse
        parse_feed(result)


# --- SSRF guard --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",  # decimal
        "0x7f.1",  # hex, short form
        "0177.0.0.1",  # octal (httpx rejects the URL itself)
        "127.1",
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "[::ffff:7f00:1]",
        "[::1]",
        "0.0.0.0",  # unspecified: Linux connects it to loopback
        "localhost",
        "localhost.",  # trailing dot
        "LOCALHOST",
        "feeds.localhost",  # RFC 6761
    ],
)
def test_private_spellings_are_refused_before_any_connection(
    server: _FeedServer, host: str
) -> None:
    connections_before = server.connections

    error = fetch_error(f"http://{host}:{server.port}/feed", allow_private=False)

    assert error.is_permanent
    assert "non-public address" in str(error) or "invalid URL" in str(error)
    assert server.connections == connections_before


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "::1", "::",
        "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1", "2002:c0a8:0101::1",
        "64:ff9b::7f00:1", "not an address",
    ],
)  # fmt: skip
def test_non_public_addresses(address: str) -> None:
    assert not netguard.is_public_address(address)


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:8.8.8.8"]
)
def test_public_addresses(address: str) -> None:
    assert netguard.is_public_address(address)


class _FakeDns:
    """A resolver for names under .test: DNS is the one part that cannot run here."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.questions: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.questions.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def test_a_mixed_dns_answer_is_refused_whole(server: _FeedServer) -> None:
    # A rebinding resolver answers one public and one private address; which one a
    # connection would use is up to chance, so any private answer refuses the host.
    dns = _FakeDns({"rebind.test": ["93.184.215.14", "127.0.0.1"]})
    connections_before = server.connections

    error = fetch_error(f"http://rebind.test:{server.port}/feed", allow_private=False, resolver=dns)

    assert "host 'rebind.test' resolves to non-public address '127.0.0.1'" in str(error)
    assert server.connections == connections_before
    assert dns.questions == ["rebind.test"]


def test_the_vetted_address_is_the_one_connected_with_the_original_host(
    server: _FeedServer,
) -> None:
    # Resolved once, connected to that address: no second lookup a rebinding DNS could
    # answer differently. The Host header still names the URL's host.
    dns = _FakeDns({"news.test": ["127.0.0.1"]})

    result = fetch(f"http://news.test:{server.port}/feed", resolver=dns)

    assert result.body == FEED_BODY
    assert server.requests[-1][1]["Host"] == f"news.test:{server.port}"
    assert dns.questions == ["news.test"]


def test_unknown_host_is_a_network_error() -> None:
    error = fetch_error("http://nowhere.test/feed", allow_private=False, resolver=_FakeDns({}))

    assert "cannot resolve host 'nowhere.test'" in str(error)
    assert not error.is_permanent


@pytest.mark.parametrize("route", ["/to-loopback-literal", "/to-localhost"])
def test_every_redirect_hop_is_vetted(
    server: _FeedServer, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    # No public server can be reached from a test, so 127.0.0.1 plays one here; every
    # other loopback address keeps the real policy.
    real_policy = netguard.is_public_address
    monkeypatch.setattr(
        netguard, "is_public_address", lambda text: text == "127.0.0.1" or real_policy(text)
    )
    requests_before = len(server.requests)

    error = fetch_error(server.base_url + route, allow_private=False)

    assert "non-public address" in str(error)
    assert error.is_permanent
    assert [path for path, _ in server.requests[requests_before:]] == [route]


def test_fetch_page_never_allows_private_addresses(server: _FeedServer) -> None:
    async def run() -> FetchError:
        async with Fetcher(base_dir=Path(".")) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch_page(server.base_url + "/feed", NOW)
            return caught.value

    connections_before = server.connections

    error = asyncio.run(run())

    assert "non-public address '127.0.0.1'" in str(error)
    assert "allow_private" not in str(error)  # a page link is not the operator's to allow
    assert server.connections == connections_before


@pytest.mark.parametrize("url", ["file:///etc/passwd", "/etc/passwd", "ftp://example.org/x"])
def test_fetch_page_refuses_anything_but_http(url: str) -> None:
    async def run() -> FetchError:
        async with Fetcher(base_dir=Path(".")) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch_page(url, NOW)
            return caught.value

    error = asyncio.run(run())

    assert error.is_permanent
    assert "unsupported URL scheme" in str(error)


# --- TLS through the guard ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_FeedServer, Path]]:
    """The feed server behind TLS, with a certificate for 'news.test' only."""
    cert_path, key_path = write_self_signed_certificate(
        tmp_path_factory.mktemp("tls"), "news.test", x509.DNSName("news.test")
    )
    feed_server = _FeedServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda sock, server_name, _: feed_server.sni.append(server_name)
    feed_server.socket = context.wrap_socket(feed_server.socket, server_side=True)
    thread = threading.Thread(target=feed_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield feed_server, cert_path
    feed_server.shutdown()
    feed_server.server_close()
    thread.join()


def test_tls_keeps_the_host_name_while_connecting_to_the_vetted_address(
    tls_server: tuple[_FeedServer, Path],
) -> None:
    server, cert_path = tls_server
    trust = ssl.create_default_context(cafile=str(cert_path))
    dns = _FakeDns({"news.test": ["127.0.0.1"]})

    result = fetch(f"https://news.test:{server.port}/feed", resolver=dns, ssl_context=trust)

    assert result.body == FEED_BODY
    assert server.sni[-1] == "news.test"  # SNI names the host, not the address
    assert server.requests[-1][1]["Host"] == f"news.test:{server.port}"
    # The certificate is still checked against the URL's host name.
    error = fetch_error(f"https://127.0.0.1:{server.port}/feed", ssl_context=trust)
    assert "tls_error: certificate refused (IP address mismatch" in str(error)
    assert "ca_file" not in str(error)  # trusting another CA would not fix a wrong name


# --- politeness ----------------------------------------------------------------------------


def _fetch_many(urls: Sequence[str], **settings: Any) -> list[FetchResult]:
    async def run() -> list[FetchResult]:
        async with make_fetcher(**settings) as fetcher:
            return list(
                await asyncio.gather(*(fetcher.fetch(_feed(url), None, NOW) for url in urls))
            )

    return asyncio.run(run())


@pytest.fixture
def fresh_server() -> Iterator[_FeedServer]:
    """A server of its own, for tests that count what happens at once."""
    feed_server = _FeedServer()
    thread = threading.Thread(target=feed_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield feed_server
    feed_server.shutdown()
    feed_server.server_close()
    thread.join()


def test_per_host_concurrency_is_limited(fresh_server: _FeedServer) -> None:
    urls = [f"{fresh_server.base_url}/slow?n={n}" for n in range(6)]

    results = _fetch_many(urls, max_per_host=2, host_spacing_s=0.0)

    assert [result.status for result in results] == [200] * 6
    assert fresh_server.max_in_flight == 2


def test_total_concurrency_is_limited_across_hosts(fresh_server: _FeedServer) -> None:
    dns = _FakeDns({f"host{n}.test": ["127.0.0.1"] for n in range(4)})
    urls = [f"http://host{n % 4}.test:{fresh_server.port}/slow?n={n}" for n in range(8)]

    _fetch_many(urls, max_per_host=2, max_concurrency=3, host_spacing_s=0.0, resolver=dns)

    assert fresh_server.max_in_flight == 3


def test_request_starts_to_one_host_are_spaced(fresh_server: _FeedServer) -> None:
    urls = [f"{fresh_server.base_url}/slow?n={n}" for n in range(4)]

    spacing_s = 0.5
    _fetch_many(urls, max_per_host=4, host_spacing_s=spacing_s)

    # Seen from the server, so connection set-up adds noise to each gap (a busy machine has
    # shown 0.1 s): the spacing is wide enough for that noise not to decide the outcome.
    starts = sorted(fresh_server.starts)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 3
    assert starts[-1] - starts[0] >= 3 * spacing_s - 0.25
    assert min(gaps) >= spacing_s - 0.2


# --- connection reuse --------------------------------------------------------------------


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"  # keeps each connection open for the next request


@pytest.fixture
def keep_alive_server() -> Iterator[_FeedServer]:
    """A server of its own that keeps connections open, counting the ones it accepts."""
    feed_server = _FeedServer()
    feed_server.RequestHandlerClass = _KeepAliveHandler
    thread = threading.Thread(target=feed_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield feed_server
    feed_server.stopping.set()
    feed_server.shutdown()
    feed_server.server_close()
    thread.join()


def test_a_second_round_over_many_hosts_reuses_every_connection(
    keep_alive_server: _FeedServer,
) -> None:
    # 30 hosts, more than one shared pool's 20 idle connections: it closed some between
    # rounds, so every round reconnected to a third of the hosts.
    hosts = [f"host{n}.test" for n in range(30)]
    dns = _FakeDns({host: ["127.0.0.1"] for host in hosts})
    feeds = [_feed(f"http://{host}:{keep_alive_server.port}/etag") for host in hosts]

    async def run() -> list[int]:
        opened: list[int] = []
        async with make_fetcher(host_spacing_s=0.0, resolver=dns) as fetcher:
            for _ in range(3):
                before = keep_alive_server.connections
                results = await asyncio.gather(*(fetcher.fetch(f, None, NOW) for f in feeds))
                assert [result.status for result in results] == [200] * len(feeds)
                opened.append(keep_alive_server.connections - before)
        return opened

    assert asyncio.run(run()) == [30, 0, 0]


def test_the_least_recently_used_hosts_beyond_the_limit_are_disconnected(
    keep_alive_server: _FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netguard, "IDLE_HOSTS", 2)
    dns = _FakeDns({f"host{n}.test": ["127.0.0.1"] for n in range(3)})
    url = f"http://host{{}}.test:{keep_alive_server.port}/feed"

    async def run() -> list[int]:
        opened: list[int] = []
        async with make_fetcher(host_spacing_s=0.0, resolver=dns) as fetcher:
            for host in (0, 1, 2, 2, 1, 0):  # host 0 is the oldest when host 2 comes
                before = keep_alive_server.connections
                assert (await fetcher.fetch(_feed(url.format(host)), None, NOW)).status == 200
                opened.append(keep_alive_server.connections - before)
        return opened

    assert asyncio.run(run()) == [1, 1, 1, 0, 0, 1]


def test_a_kept_connection_never_carries_a_redirect_to_another_host(
    keep_alive_server: _FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.1 plays a public server; 127.0.0.2 keeps the real policy (loopback).
    real_policy = netguard.is_public_address
    monkeypatch.setattr(
        netguard, "is_public_address", lambda text: text == "127.0.0.1" or real_policy(text)
    )
    port = keep_alive_server.port
    dns = _FakeDns({"news.test": ["127.0.0.1"], "inside.test": ["127.0.0.2"]})
    ROUTES["/to-inside"] = _redirect_to(f"http://inside.test:{port}/feed")
    try:

        async def run() -> FetchError:
            async with make_fetcher(host_spacing_s=0.0, resolver=dns) as fetcher:
                warm = _feed(f"http://news.test:{port}/feed", allow_private=False)
                assert (await fetcher.fetch(warm, None, NOW)).status == 200
                moved = _feed(f"http://news.test:{port}/to-inside", allow_private=False)
                with pytest.raises(FetchError) as caught:
                    await fetcher.fetch(moved, None, NOW)
                return caught.value

        error = asyncio.run(run())
    finally:
        del ROUTES["/to-inside"]

    assert "host 'inside.test' resolves to non-public address '127.0.0.2'" in str(error)
    assert keep_alive_server.connections == 1  # the redirect rode the kept one, nothing else
    assert dns.questions == ["news.test", "inside.test"]


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
