"""Fetch a feed's bytes: http(s) through one shared httpx client, or a local file.

Owns conditional GET, timeouts and a wall-clock deadline, the body size cap, the
redirect limit, the private-address guard and the reading of Retry-After. Returns a
`FetchResult` or raises `FetchError`; no httpx exception or object leaves this module.
It never parses the body and never reads the store.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import httpx

from monitor.errors import FetchError
from monitor.model import Feed, FeedState, FetchResult

USER_AGENT = "monitor/0.1 (+https://github.com/monitor-press/monitor)"

_HTTP_SCHEMES = frozenset({"http", "https"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_LATER_STATUSES = frozenset({429, 503})
_GONE = 410
_NOT_MODIFIED = 304
# Only codings the stdlib decodes with bounded output per chunk; brotli and zstd
# (when installed) would let a tiny body expand without limit before the cap sees it.
_ACCEPT_ENCODING = "gzip, deflate"
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


class Fetcher:
    """Fetches feeds; share one per process so connections are reused."""

    def __init__(
        self,
        *,
        base_dir: Path,
        timeout_s: float = 10.0,
        deadline_s: float = 30.0,
        max_body_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 5,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._base_dir = base_dir
        self._timeout_s = timeout_s
        self._deadline_s = deadline_s
        self._max_body_bytes = max_body_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None

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
        """Close the shared HTTP client (a later fetch opens a new one)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def fetch(self, feed: Feed, state: FeedState | None, now: datetime) -> FetchResult:
        """Fetch `feed.url`; a 304 comes back as a result with status 304 and no body."""
        scheme = urlsplit(feed.url).scheme.lower()
        # A one-letter scheme is a Windows drive ("C:\\feeds\\x.xml"), so a path.
        if scheme in ("", "file") or len(scheme) == 1:
            return await self._fetch_file(feed, now)
        if scheme not in _HTTP_SCHEMES:
            raise FetchError(
                f"unsupported URL scheme '{scheme}' (use http, https, file: or a path)",
                url=feed.url,
                is_permanent=True,
            )
        try:
            async with asyncio.timeout(self._deadline_s):
                return await self._fetch_http(feed, state, now)
        except TimeoutError:
            raise FetchError(
                f"no complete answer within the {self._deadline_s:g} s deadline", url=feed.url
            ) from None

    # --- files ------------------------------------------------------------

    async def _fetch_file(self, feed: Feed, now: datetime) -> FetchResult:
        path = self._local_path(feed.url)
        body = await asyncio.to_thread(self._read_file, path, feed.url)
        return FetchResult(
            feed_id=feed.id,
            url=path.as_uri(),
            status=200,
            body=body,
            headers=(),
            fetched_at=now,
        )

    def _local_path(self, url: str) -> Path:
        parts = urlsplit(url)
        # file:relative/x.xml has no authority, so it reads like a plain relative path.
        is_file_url = parts.scheme.lower() == "file"
        path = Path(url2pathname(parts.path) if is_file_url else url).expanduser()
        return (path if path.is_absolute() else self._base_dir / path).resolve()

    def _read_file(self, path: Path, url: str) -> bytes:
        try:
            with path.open("rb") as stream:
                body = stream.read(self._max_body_bytes + 1)
        except FileNotFoundError:
            raise FetchError(f"no such file '{path}'", url=url) from None
        except OSError as exc:
            raise FetchError(f"cannot read '{path}': {exc.strerror or exc}", url=url) from exc
        if len(body) > self._max_body_bytes:
            raise FetchError(self._too_large_message(), url=url)
        return body

    # --- http -------------------------------------------------------------

    async def _fetch_http(self, feed: Feed, state: FeedState | None, now: datetime) -> FetchResult:
        client = self._http_client()
        headers = _conditional_headers(state)
        url = feed.url
        seen = {url}
        for _ in range(self._max_redirects + 1):
            if not feed.allow_private:
                await _refuse_private_host(url)
            try:
                async with client.stream("GET", url, headers=headers) as response:
                    location = _redirect_target(response, url)
                    if location is None:
                        return await self._read_response(response, feed, state, now)
            except httpx.HTTPError as exc:
                raise FetchError(_network_problem(exc), url=url) from exc
            except httpx.InvalidURL as exc:
                raise FetchError(f"invalid URL: {exc}", url=url, is_permanent=True) from exc
            if location in seen:
                raise FetchError(f"redirect loop back to '{location}'", url=feed.url)
            seen.add(location)
            url = location
        raise FetchError(
            f"more than {self._max_redirects} redirects (last to '{url}')", url=feed.url
        )

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout_s),
                # Redirects are followed by hand: each hop is counted and checked.
                follow_redirects=False,
                headers={
                    "User-Agent": self._user_agent,
                    "Accept": _ACCEPT,
                    "Accept-Encoding": _ACCEPT_ENCODING,
                },
            )
        return self._client

    async def _read_response(
        self, response: httpx.Response, feed: Feed, state: FeedState | None, now: datetime
    ) -> FetchResult:
        url = str(response.url)
        if response.status_code == _NOT_MODIFIED:
            body = b""
        elif response.is_success:
            body = await self._read_capped(response, url)
        else:
            raise _status_error(response, url, now)
        # RFC 9111 4.3.4: a 304 may omit the validators; keep the ones we sent.
        etag = response.headers.get("etag") or (state.etag if state else None)
        last_modified = response.headers.get("last-modified") or (
            state.last_modified if state else None
        )
        return FetchResult(
            feed_id=feed.id,
            url=url,
            status=response.status_code,
            body=body,
            headers=tuple(response.headers.multi_items()),
            fetched_at=now,
            etag=etag,
            last_modified=last_modified,
        )

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        _refuse_stacked_codings(response, url)
        declared_length = response.headers.get("content-length", "")
        if declared_length.isdigit() and int(declared_length) > self._max_body_bytes:
            raise FetchError(self._too_large_message(), url=url)
        chunks: list[bytes] = []
        size = 0
        # aiter_bytes yields decoded bytes, so the cap also bounds a compression bomb.
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_body_bytes:
                raise FetchError(self._too_large_message(), url=url)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large_message(self) -> str:
        return f"body larger than the {self._max_body_bytes} byte limit (max_body_bytes)"


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
    target = urljoin(url, str(location))
    # A server must not steer us off the web, e.g. to file:///etc/passwd.
    if urlsplit(target).scheme.lower() not in _HTTP_SCHEMES:
        raise FetchError(
            f"refusing redirect to non-http URL '{target}'",
            url=url,
            status=response.status_code,
        )
    return target


def _refuse_stacked_codings(response: httpx.Response, url: str) -> None:
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


def _status_error(response: httpx.Response, url: str, now: datetime) -> FetchError:
    status = response.status_code
    if status in _RETRY_LATER_STATUSES:
        retry_after_s = _retry_after_seconds(response.headers.get("retry-after"), now)
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


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _network_problem(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    detail = str(exc) or type(exc).__name__
    return f"network error: {detail}"


async def _refuse_private_host(url: str) -> None:
    """Refuse URLs whose host resolves to a loopback, private or link-local address.

    Feed and article links come from the outside: without this check a feed could make
    us request the intranet. Operator-configured feeds opt out with `allow_private`.
    The address is checked at resolution time; a rebinding DNS server could still
    answer differently to httpx, which is accepted as out of scope.
    """
    host = urlsplit(url).hostname
    if not host:
        raise FetchError("URL has no host", url=url, is_permanent=True)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve host '{host}': {exc.strerror or exc}", url=url) from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise FetchError(
                f"host '{host}' resolves to non-public address '{address}' "
                "(set allow_private on the feed to allow it)",
                url=url,
                is_permanent=True,
            )
