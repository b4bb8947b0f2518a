"""The one guard on every outgoing connection (feeds, article pages, webhooks, Apprise):
where it may go, and how many may go at once.

Owns the address policy (no loopback, private, link-local, CGNAT, multicast, reserved or
unspecified address, in any spelling), an httpcore network backend that resolves once,
vets and connects to the vetted address, the httpx transport over it, and the per-host
politeness gate. A base module so every stage can use it; it never builds requests or
reads bodies (that is `ingest.fetch` and the channels).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
from collections import Counter, OrderedDict
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from datetime import datetime

import httpcore
import httpx

# Resolves a host name to IP address strings; the default asks the system resolver.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# RFC 6052 NAT64 prefix: its addresses carry an IPv4 address in the low 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LEGACY_IPV4_CHARS = frozenset("0123456789abcdefx.")
# Origins whose idle connections are kept open (each with up to `max_per_host`): more than a
# desk's distinct feed hosts rarely are, well under a default limit of 1,024 open files.
IDLE_HOSTS = 256


class HostGate:
    """At most `max_per_host` requests in flight per host and `max_concurrency` in all,
    request starts to one host at least `spacing_s` apart, and no request to a host
    before the time it asked for (Retry-After)."""

    def __init__(self, *, max_concurrency: int, max_per_host: int, spacing_s: float) -> None:
        self._total = asyncio.Semaphore(max_concurrency)
        self._max_per_host = max_per_host
        self._spacing_s = spacing_s
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._next_start: dict[str, float] = {}
        # Wall-clock times (the callers' `now`), so an injected clock moves them too.
        self._not_before: dict[str, datetime] = {}

    def hold(self, host: str, until: datetime) -> None:
        """Let no request go to `host` before `until` (a later hold wins)."""
        current = self._not_before.get(host)
        if current is None or until > current:
            self._not_before[host] = until

    def held_until(self, host: str, now: datetime) -> datetime | None:
        """When `host` may be asked again, if that is still after `now`."""
        until = self._not_before.get(host)
        if until is None or until <= now:
            self._not_before.pop(host, None)
            return None
        return until

    @contextlib.asynccontextmanager
    async def turn(self, host: str) -> AsyncIterator[None]:
        host_slots = self._per_host.setdefault(host, asyncio.Semaphore(self._max_per_host))
        # The host first: a busy host's queue must not hold global slots while it waits.
        async with host_slots, self._total:
            await self._keep_spacing(host)
            yield

    async def _keep_spacing(self, host: str) -> None:
        if self._spacing_s <= 0:
            return
        loop_now = asyncio.get_running_loop().time()
        start_at = max(loop_now, self._next_start.get(host, loop_now))
        # Book the start before sleeping so concurrent waiters queue one spacing apart.
        self._next_start[host] = start_at + self._spacing_s
        if start_at > loop_now:
            await asyncio.sleep(start_at - loop_now)


# --- SSRF guard ------------------------------------------------------------------------


def is_public_address(text: str) -> bool:
    """Whether an IP address may be fetched from a URL that came from outside.

    Refuses loopback, private, link-local, CGNAT, multicast, unspecified and reserved
    addresses, including IPv4 addresses wrapped in IPv6 (mapped, 6to4, NAT64).
    """
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        address = _embedded_ipv4(address) or address
    is_special = address.is_multicast or address.is_reserved or address.is_unspecified
    return address.is_global and not is_special


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _literal_address(name: str) -> str | None:
    """The IP address a host name spells, in any form libc accepts, else None."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    # inet_aton reads the legacy spellings libc still resolves without DNS:
    # 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 are all 127.0.0.1.
    if name[:1].isdigit() and set(name) <= _LEGACY_IPV4_CHARS:
        with contextlib.suppress(OSError):
            return socket.inet_ntoa(socket.inet_aton(name))
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver (getaddrinfo), off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class RefusedAddress(Exception):
    """A connection refused by the guard. Raised inside httpcore's connect, it passes
    through httpcore and httpx unchanged, so `fetch` can report it as such."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(host, address)
        self.host, self.address = host, address

    def describe(self, *, allow_on: str | None) -> str:
        """The refusal in words; `allow_on` names where `allow_private` may be set, if anywhere."""
        hint = f" (set allow_private on the {allow_on} to allow it)" if allow_on else ""
        return f"host '{self.host}' resolves to non-public address '{self.address}'{hint}"


def _refuse_non_public(host: str, addresses: Iterable[str]) -> None:
    # Every answer must be public: a mixed answer is a classic rebinding trick.
    for address in addresses:
        if not is_public_address(address):
            raise RefusedAddress(host, address)


async def refuse_private_host(
    host: str, port: int, resolver: Resolver = system_resolve, *, timeout_s: float
) -> None:
    """Raise RefusedAddress when `host` is, or resolves to, a non-public address.

    For clients that connect by themselves (Apprise): a check before the request, not at
    connect time, so it stops a configured private host but not DNS rebinding. A name that
    does not resolve passes: there is nothing to connect to, and the client will say so.
    """
    name = host.rstrip(".").lower()
    literal = _literal_address(name)
    if literal is not None:
        _refuse_non_public(host, [literal])
        return
    if name == "localhost" or name.endswith(".localhost"):
        raise RefusedAddress(host, "127.0.0.1")  # RFC 6761: always loopback
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await resolver(name, port)
    except (TimeoutError, OSError):
        return
    _refuse_non_public(host, addresses)


class VettingBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host once, vets every address, then connects to a vetted address.

    Connecting to the address that was checked, never to the name again, is what stops
    DNS rebinding. TLS is unaffected: httpcore takes SNI and the certificate's expected
    name from the URL, and httpx sends the Host header from the URL.
    """

    def __init__(self, resolver: Resolver, *, allow_private: bool) -> None:
        self._resolver = resolver
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._vetted_addresses(host, port, timeout)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # like a browser: the next address when one is down
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address for host '{host}'")

    async def _vetted_addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        name = host.rstrip(".").lower()
        literal = _literal_address(name)
        if literal is not None:
            addresses = [literal]
        elif not self._allow_private and (name == "localhost" or name.endswith(".localhost")):
            raise RefusedAddress(host, "127.0.0.1")  # RFC 6761: always loopback
        else:
            addresses = await self._resolve(name, port, timeout)
        if not self._allow_private:
            _refuse_non_public(host, addresses)
        return list(dict.fromkeys(addresses))

    async def _resolve(self, name: str, port: int, timeout: float | None) -> list[str]:
        try:
            async with asyncio.timeout(timeout):
                return list(await self._resolver(name, port))
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving host '{name}' timed out") from None
        except OSError as exc:
            message = f"cannot resolve host '{name}': {exc.strerror or exc}"
            raise httpcore.ConnectError(message) from exc

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VettingTransport(httpx.AsyncBaseTransport):
    """httpx's default transport, but over httpcore pools that use `VettingBackend`: one
    pool per origin (scheme, host, port), each with at most `max_per_host` connections.

    httpx offers no public way to give its transport a network backend, so this adapts
    httpcore pools to httpx's transport interface (both documented extension points). A
    connection only ever serves its own origin, so a redirect to another host opens (and
    vets) a connection of its own; pools of the least recently used origins beyond
    `max_idle_hosts` are closed once idle, which bounds the sockets kept open.
    """

    def __init__(
        self,
        backend: VettingBackend,
        *,
        max_per_host: int,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_hosts: int | None = None,
    ) -> None:
        self._backend = backend
        self._max_per_host = max_per_host
        self._max_idle_hosts = IDLE_HOSTS if max_idle_hosts is None else max_idle_hosts
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        # Oldest use first. One pool per origin, not one for all: httpcore scans every
        # connection of a pool at each request, and a shared pool closes idle connections
        # whenever it holds more than its keep-alive count in all, so over 100 hosts it
        # reconnected at nearly every poll (bench/poll.py; docs/decisions.md).
        self._pools: OrderedDict[tuple[bytes, bytes, int | None], httpcore.AsyncConnectionPool]
        self._pools = OrderedDict()
        self._in_flight: Counter[tuple[bytes, bytes, int | None]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, AsyncIterable):  # httpx.AsyncClient always streams
            raise TypeError("the vetting transport serves httpx.AsyncClient only")
        origin = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        # Counted before any await, so no other request closes this origin's pool under it.
        self._in_flight[origin] += 1
        try:
            pool = self._pool_for(origin)
            await self._close_idle_pools()
            with _as_httpx_errors(request):
                core_response = await pool.handle_async_request(core_request)
        except BaseException:
            self._done(origin)
            raise
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(
                core_response.stream, request, on_close=functools.partial(self._done, origin)
            ),
            extensions=core_response.extensions,
        )

    def _pool_for(self, origin: tuple[bytes, bytes, int | None]) -> httpcore.AsyncConnectionPool:
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl_context,
                max_connections=self._max_per_host,
                max_keepalive_connections=self._max_per_host,
                network_backend=self._backend,
            )
        else:
            self._pools.move_to_end(origin)
        return pool

    async def _close_idle_pools(self) -> None:
        """Close the least recently used pools with no request in flight, beyond the limit."""
        surplus = len(self._pools) - self._max_idle_hosts
        if surplus <= 0:
            return
        idle = [origin for origin in self._pools if not self._in_flight[origin]][:surplus]
        for origin in idle:
            await self._pools.pop(origin).aclose()

    def _done(self, origin: tuple[bytes, bytes, int | None]) -> None:
        self._in_flight[origin] -= 1
        if self._in_flight[origin] <= 0:
            del self._in_flight[origin]

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(
        self,
        stream: Iterable[bytes] | AsyncIterable[bytes],
        request: httpx.Request,
        *,
        on_close: Callable[[], None],
    ) -> None:
        self._stream = stream
        self._request = request
        self._on_close: Callable[[], None] | None = on_close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if not isinstance(self._stream, AsyncIterable):
            raise TypeError("httpcore returned a synchronous stream to an async pool")
        with _as_httpx_errors(self._request):
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:  # once, however often httpx closes the stream
                on_close()


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except (
        httpcore.TimeoutException,
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.UnsupportedProtocol,
    ) as exc:
        # httpx names its errors after httpcore's (ReadTimeout, ConnectError...): keep them.
        error_type: type[httpx.TransportError] = getattr(
            httpx, type(exc).__name__, httpx.TransportError
        )
        raise error_type(str(exc), request=request) from exc
