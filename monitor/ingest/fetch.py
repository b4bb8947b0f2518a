"""Fetch a feed's bytes (or an article page): http(s) through shared httpx clients, or a file.

Owns conditional GET, timeouts and a wall-clock deadline, the body size cap, redirects and
server hints (read by `hints`). Where a connection may go, and how many may be open
per host, is `netguard`'s call. Returns a `FetchResult` or raises `FetchError`; no httpx
object leaves this module. Never parses, never reads the store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.errors import FetchError
from monitor.ingest.decode import ACCEPTED_CODINGS, BodyDecoder, CorruptBody, UnsupportedCoding
from monitor.ingest.hints import max_age_seconds, retry_after_seconds
from monitor.ingest.localfile import local_path, read_local_file
from monitor.ingest.tls import certificate_refusal, feed_ssl_context
from monitor.model import Feed, FeedState, FetchResult
from monitor.netguard import (
    HostGate,
    RefusedAddress,
    Resolver,
    VettingBackend,
    VettingTransport,
    system_resolve,
)
from monitor.settings import FetchSettings
from monitor.urls import WEB_SCHEMES, web_url_problem

USER_AGENT = "monitor/0.1 (+https://github.com/monitor-press/monitor)"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_RETRY_LATER_STATUSES = frozenset({429, 503})
_GONE = 410
_MAX_HOST_HOLD_S = 24 * 3600.0
_NOT_MODIFIED = 304
_ACCEPT_ENCODING = ", ".join(ACCEPTED_CODINGS)
_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_DEFAULTS = FetchSettings()


@dataclass(slots=True)
class _Session:
    """What an httpx client would hold for one kind of connection: its vetting transport,
    the headers every request carries, and the cookies servers set (sent back as a client
    would)."""

    transport: VettingTransport
    headers: tuple[tuple[str, str], ...]
    timeout: dict[str, float | None]
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)

    @contextlib.asynccontextmanager
    async def get(self, url: str, headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """One GET, streamed: the response is closed when the block ends.

        Straight to the transport, as `httpx.AsyncClient.send` does without its auth and
        redirect flows (redirects are followed by hand) and without building a urllib
        request to read cookies from responses that set none: about 15% less CPU per 304
        (bench/poll.py).
        """
        request = httpx.Request(
            "GET",
            url,
            headers=[*self.headers, *headers.items()],
            extensions={"timeout": self.timeout},
        )
        if request.url.username or request.url.password:
            # As an httpx client does: a URL's credentials are sent as Basic auth (the
            # request line never carries them).
            request.headers["Authorization"] = _basic_auth(request.url)
        if self.cookies:
            self.cookies.set_cookie_header(request)
        response = await self.transport.handle_async_request(request)
        response.request = request
        try:
            if "set-cookie" in response.headers:
                self.cookies.extract_cookies(response)
            yield response
        finally:
            await response.aclose()


def _basic_auth(url: httpx.URL) -> str:
    """The `Authorization` value for the user and password in `url` (decoded, UTF-8)."""
    pair = f"{url.username}:{url.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class _Target:
    """What one HTTP fetch asks for."""

    url: str
    feed_id: str
    allow_private: bool
    headers: dict[str, str]
    state: FeedState | None = None
    is_page: bool = False  # an article page: no feed, so no allow_private to suggest
    ca_file: str | None = None


class Fetcher:
    """Fetches feeds and pages; share one per process so connections and limits are shared."""

    def __init__(
        self,
        settings: FetchSettings = _DEFAULTS,
        *,
        base_dir: Path,
        user_agent: str = USER_AGENT,
        connect_timeout_s: float | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._base_dir = base_dir
        self._timeout = httpx.Timeout(
            settings.timeout_s, connect=connect_timeout_s or settings.timeout_s
        )
        self._deadline_s = settings.deadline_s
        self._max_body_bytes = settings.max_body_bytes
        self._max_redirects = settings.max_redirects
        self._user_agent = user_agent
        self._max_concurrency = settings.max_concurrency
        self._max_per_host = settings.max_per_host
        self._host_spacing_s = settings.host_spacing_s
        self._resolver = resolver or system_resolve
        self._ssl_context = ssl_context  # None: the system's trusted CAs, as httpx does
        # Keyed by allow_private and ca_file: a connection opened for an operator's private
        # feed, or trusting a feed's own CA, must never serve a URL that came from outside.
        self._clients: dict[tuple[bool, str | None], _Session] = {}
        self._gate: HostGate | None = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP clients (a later fetch opens new ones)."""
        clients, self._clients, self._gate = list(self._clients.values()), {}, None
        for client in clients:
            await client.transport.aclose()

    async def fetch(self, feed: Feed, state: FeedState | None, now: datetime) -> FetchResult:
        """Fetch `feed.url`; a 304 comes back as a result with status 304 and no body."""
        scheme = urlsplit(feed.url).scheme.lower()
        # A one-letter scheme is a Windows drive ("C:\\feeds\\x.xml"), so a path.
        if scheme in ("", "file") or len(scheme) == 1:
            return await self._fetch_file(feed, now)
        _require_http(feed.url, "use http, https, file: or a path")
        headers = {"Accept": _FEED_ACCEPT, **_conditional_headers(state)}
        target = _Target(
            feed.url, feed.id, feed.allow_private, headers, state, ca_file=feed.ca_file
        )
        return await self._fetch_http(target, now)

    async def fetch_page(self, url: str, now: datetime) -> FetchResult:
        """Fetch an article page linked from a feed: http(s) and public addresses only.

        The result's `feed_id` is empty: a page belongs to no feed.
        """
        _require_http(url, "article pages must be http or https")
        page = _Target(url, "", allow_private=False, headers={"Accept": _PAGE_ACCEPT}, is_page=True)
        return await self._fetch_http(page, now)

    # --- files ------------------------------------------------------------

    async def _fetch_file(self, feed: Feed, now: datetime) -> FetchResult:
        path = local_path(feed.url, self._base_dir)
        body = await asyncio.to_thread(
            read_local_file, path, feed.url, self._max_body_bytes, self._too_large_message()
        )
        return FetchResult(
            feed_id=feed.id, url=path.as_uri(), status=200, body=body, headers=(), fetched_at=now
        )

    # --- http -------------------------------------------------------------

    async def _fetch_http(self, target: _Target, now: datetime) -> FetchResult:
        """Follow redirects by hand: each hop is counted, vetted and waits for its host's turn."""
        url, seen = target.url, {target.url}
        permanent_to: str | None = None
        is_permanent_chain = True
        deadline_at: float | None = None
        for _ in range(self._max_redirects + 1):
            self._refuse_while_held(url, now)
            async with self._host_gate().turn(_host_key(url)):
                # The deadline starts once the first request may go: queueing is not the
                # server's fault, a slow answer is.
                deadline_at = deadline_at or asyncio.get_running_loop().time() + self._deadline_s
                try:
                    outcome = await self._request_before(deadline_at, target, url, now)
                except FetchError as exc:
                    self._hold_host(url, exc, now)
                    raise
            if isinstance(outcome, FetchResult):
                return replace(outcome, redirected_permanently_to=permanent_to)
            status, location = outcome
            # Only an unbroken run of 301/308 from the configured URL may replace it.
            is_permanent_chain = is_permanent_chain and status in _PERMANENT_REDIRECTS
            permanent_to = location if is_permanent_chain else permanent_to
            if location in seen:
                raise FetchError(f"redirect loop back to '{location}'", url=target.url)
            seen.add(location)
            url = location
        raise FetchError(
            f"more than {self._max_redirects} redirects (last to '{url}')", url=target.url
        )

    def _refuse_while_held(self, url: str, now: datetime) -> None:
        until = self._host_gate().held_until(_host_key(url), now)
        if until is not None:
            left_s = (until - now).total_seconds()
            raise FetchError(
                f"host '{_host_key(url)}' asked every feed on it to wait (Retry-After), "
                f"{left_s:g} s left; not requested",
                url=url,
                retry_after_s=left_s,
            )

    def _hold_host(self, url: str, exc: FetchError, now: datetime) -> None:
        # RFC 9110 10.2.3: Retry-After on a 429 or 503 speaks for the server, not the one
        # URL, so every feed on the host waits (a day at most, as the scheduler caps it).
        if exc.status in _RETRY_LATER_STATUSES and exc.retry_after_s:
            wait_s = min(exc.retry_after_s, _MAX_HOST_HOLD_S)
            self._host_gate().hold(_host_key(url), now + timedelta(seconds=wait_s))

    async def _request_before(
        self, deadline_at: float, target: _Target, url: str, now: datetime
    ) -> FetchResult | tuple[int, str]:
        try:
            async with asyncio.timeout_at(deadline_at):
                return await self._request(target, url, now)
        except TimeoutError:
            raise FetchError(
                f"no complete answer within the {self._deadline_s:g} s deadline", url=target.url
            ) from None

    async def _request(
        self, target: _Target, url: str, now: datetime
    ) -> FetchResult | tuple[int, str]:
        """One GET: the final result, or a redirect as (status, absolute location)."""
        client = self._client(url, allow_private=target.allow_private, ca_file=target.ca_file)
        try:
            async with client.get(url, target.headers) as response:
                location = _redirect_target(response, url)
                if location is not None:
                    await self._read_capped(response, url)  # so the connection can be reused
                    return response.status_code, location
                return await self._read_response(response, target, now)
        except RefusedAddress as refused:
            raise FetchError(
                refused.describe(allow_on=None if target.is_page else "feed"),
                url=url,
                is_permanent=True,
            ) from None
        except httpx.HTTPError as exc:
            raise FetchError(_network_problem(exc, is_page=target.is_page), url=url) from exc
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL: {exc}", url=url, is_permanent=True) from exc

    def _client(self, url: str, *, allow_private: bool, ca_file: str | None) -> _Session:
        client = self._clients.get((allow_private, ca_file))
        if client is None:
            backend = VettingBackend(self._resolver, allow_private=allow_private)
            ssl_context = feed_ssl_context(ca_file, url) if ca_file else self._ssl_context
            client = _Session(
                transport=VettingTransport(
                    backend, max_per_host=self._max_per_host, ssl_context=ssl_context
                ),
                # The headers an httpx client sends by default, with ours.
                headers=(
                    ("Accept-Encoding", _ACCEPT_ENCODING),
                    ("Connection", "keep-alive"),
                    ("User-Agent", self._user_agent),
                ),
                timeout=self._timeout.as_dict(),
            )
            self._clients[allow_private, ca_file] = client
        return client

    def _host_gate(self) -> HostGate:
        if self._gate is None:
            self._gate = HostGate(
                max_concurrency=self._max_concurrency,
                max_per_host=self._max_per_host,
                spacing_s=self._host_spacing_s,
            )
        return self._gate

    async def _read_response(
        self, response: httpx.Response, target: _Target, now: datetime
    ) -> FetchResult:
        url = str(response.url)
        if response.status_code == _NOT_MODIFIED:
            # Empty by RFC 9110, but read to its end: an unread response closes the
            # connection, and most polls are 304s on a connection worth keeping.
            await self._read_capped(response, url)
            body = b""
        elif response.is_success:
            body = await self._read_capped(response, url)
        else:
            raise _status_error(response, url, now)
        state = target.state
        # RFC 9111 4.3.4: a 304 may omit the validators; keep the ones we sent.
        etag = response.headers.get("etag") or (state.etag if state else None)
        last_modified = response.headers.get("last-modified") or (
            state.last_modified if state else None
        )
        return FetchResult(
            feed_id=target.feed_id,
            url=url,
            status=response.status_code,
            body=body,
            headers=tuple(response.headers.multi_items()),
            fetched_at=now,
            etag=etag,
            last_modified=last_modified,
            max_age_s=max_age_seconds(
                response.headers.get("cache-control", ""),
                response.headers.get("expires"),
                response.headers.get("date"),
                now,
            ),
        )

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        decoder = _decoder_for(response, url)
        declared_length = response.headers.get("content-length", "")
        if declared_length.isdigit() and int(declared_length) > self._max_body_bytes:
            raise FetchError(self._too_large_message(), url=url)
        chunks: list[bytes] = []
        size = 0
        try:
            # Raw bytes, decoded here in bounded steps: httpx would inflate a whole network
            # read at once (~64 MiB for 64 KiB of a gzip bomb) before the cap could look.
            async for raw in response.aiter_raw():
                for piece in decoder.feed(raw):
                    size = self._keep_within_cap(chunks, piece, size, url)
            for piece in decoder.finish():
                size = self._keep_within_cap(chunks, piece, size, url)
        except CorruptBody as exc:
            raise FetchError(str(exc), url=url, status=response.status_code) from None
        return b"".join(chunks)

    def _keep_within_cap(self, chunks: list[bytes], piece: bytes, size: int, url: str) -> int:
        size += len(piece)
        if size > self._max_body_bytes:
            raise FetchError(self._too_large_message(), url=url)
        chunks.append(piece)
        return size

    def _too_large_message(self) -> str:
        return f"body larger than the {self._max_body_bytes} byte limit (max_body_bytes)"


def _require_http(url: str, hint: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in WEB_SCHEMES:
        raise FetchError(f"unsupported URL scheme '{scheme}' ({hint})", url=url, is_permanent=True)
    problem = web_url_problem(url)
    if problem is not None:
        raise FetchError(f"refusing URL: {problem}", url=url, is_permanent=True)


def _conditional_headers(state: FeedState | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _redirect_target(response: httpx.Response, url: str) -> str | None:
    if response.status_code not in _REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    if not location:
        raise FetchError(
            f"redirect without a Location header ({response.status_code} status code)",
            url=url,
            status=response.status_code,
        )
    try:
        # Before urljoin: it silently drops tabs and newlines (WHATWG URL) that other
        # parsers keep, and a Location that parsers read differently is refused whole.
        httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise FetchError(
            f"refusing redirect: invalid Location header: {exc}",
            url=url,
            status=response.status_code,
        ) from None
    target = urljoin(url, str(location))
    # A server must not steer us off the web (file:///etc/passwd), nor to a URL that
    # parsers read differently: every hop passes the check the config's URLs passed.
    problem = web_url_problem(target)
    if problem is not None:
        scheme = target.partition(":")[0].lower()
        what = "URL" if scheme in WEB_SCHEMES else "non-http URL"
        raise FetchError(
            f"refusing redirect to {what} '{target}': {problem}",
            url=url,
            status=response.status_code,
        )
    return target


def _decoder_for(response: httpx.Response, url: str) -> BodyDecoder:
    codings = [
        coding.strip().lower()
        for coding in response.headers.get("content-encoding", "").split(",")
        if coding.strip() and coding.strip().lower() != "identity"
    ]
    # One coding is what we asked for; stacked ones only serve to multiply a bomb.
    if len(codings) > 1:
        raise FetchError(
            f"refusing stacked content codings '{', '.join(codings)}'",
            url=url,
            status=response.status_code,
        )
    try:
        return BodyDecoder(codings[0] if codings else "identity")
    except UnsupportedCoding as exc:
        raise FetchError(
            f"unsupported content coding '{exc.coding}' (monitor accepts "
            f"{', '.join(ACCEPTED_CODINGS)} or none; the server ignored Accept-Encoding)",
            url=url,
            status=response.status_code,
        ) from None


def _status_error(response: httpx.Response, url: str, now: datetime) -> FetchError:
    status = response.status_code
    if status in _RETRY_LATER_STATUSES:
        retry_after_s = retry_after_seconds(response.headers.get("retry-after"), now)
        hint = f", retry after {retry_after_s:g} s" if retry_after_s is not None else ""
        return FetchError(
            f"server asks to slow down ({status} status code){hint}",
            url=url,
            status=status,
            retry_after_s=retry_after_s,
        )
    if status == _GONE:
        return FetchError(
            "feed is gone (410 status code), remove it from the config",
            url=url,
            status=status,
            is_permanent=True,
        )
    kind = "server error" if status >= 500 else "client error"
    return FetchError(f"{kind} ({status} status code)", url=url, status=status)


def _network_problem(exc: httpx.HTTPError, *, is_page: bool) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    refusal = certificate_refusal(exc)
    if refusal is not None:
        reason, is_unknown_ca = refusal
        hint = "; for a private CA set ca_file on the feed" if is_unknown_ca and not is_page else ""
        return f"tls_error: certificate refused ({reason}){hint}"
    detail = str(exc) or type(exc).__name__
    return f"network error: {detail}"


def _host_key(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")
