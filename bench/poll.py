"""Benchmark one polling round: N feeds through `Fetcher` (and `parse_feed` for the 200s).

    python -m bench.poll            # 1,000 and 10,000 feeds
    python -m bench.poll --quick    # 1,000 feeds only

The feeds are served by a small asyncio HTTP/1.1 server on 127.0.0.1 running in a
subprocess, so the CPU seconds reported are the client's alone (the two share the
machine's cores, which the wall time does reflect). Like a steady state, every feed is
polled with its stored ETag: about 95% answer 304, 5% answer 200 with a small new body.
The feeds are spread over --hosts host names (a fake resolver maps them to 127.0.0.1)
so the per-host limit works as it would on the web; politeness spacing is off, since
it only adds idle wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Result, record
from monitor.errors import FetchError, ParseError
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import parse_feed
from monitor.model import Feed, FeedState
from monitor.settings import FetchSettings

TARGET_CPU_S_AT_10K = 15.0
CHANGED_EVERY = 20  # one feed in 20 has a new body: ~5% 200s
ITEMS_PER_BODY = 5
NOW = datetime(2026, 10, 21, 8, 0, tzinfo=UTC)


# --- the server (subprocess) ----------------------------------------------------------------


def _feed_body(number: int) -> bytes:
    items = "".join(
        f"<item><title>Article {number}-{item}</title>"
        f"<link>https://h{number}.bench/a/{item}</link><guid>{number}-{item}</guid>"
        f"<pubDate>Tue, 20 Oct 2026 {item:02d}:00:00 GMT</pubDate>"
        f"<description>Un résumé court de l'article {item}.</description></item>"
        for item in range(ITEMS_PER_BODY)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {number}</title><link>https://h{number}.bench/</link>{items}"
        f"</channel></rss>"
    ).encode()


class _FeedProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1 for GET with keep-alive: 304 on a matching ETag, else 200."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            self._answer(head)

    def _answer(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        number = int(path.rsplit("/", 1)[-1])
        etag = f'"v{number}"'
        is_changed = number % CHANGED_EVERY == 0
        if headers.get("If-None-Match", headers.get("if-none-match")) == etag and not is_changed:
            response = f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n"
            payload = response.encode()
        else:
            body = _feed_body(number)
            response = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                f'ETag: "v{number}-new"\r\nContent-Length: {len(body)}\r\n\r\n'
            )
            payload = response.encode() + body
        assert self._transport is not None
        self._transport.write(payload)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_FeedProtocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        # Serve until the parent closes our stdin.
        await loop.run_in_executor(None, sys.stdin.read)


# --- the client --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundResult:
    feeds: int
    wall_s: float
    cpu_s: float
    statuses: Counter[str]
    peak_rss_mb: float
    server_cpu_s: float | None

    @property
    def cpu_ms_per_feed(self) -> float:
        return 1000 * self.cpu_s / self.feeds


def _feeds(count: int, hosts: int, port: int) -> list[tuple[Feed, FeedState]]:
    pairs = []
    for number in range(count):
        url = f"http://h{number % hosts}.bench:{port}/feed/{number}"
        feed = Feed(id=f"feed-{number}", url=url, allow_private=True)
        pairs.append((feed, FeedState(feed_id=feed.id, etag=f'"v{number}"')))
    return pairs


async def _resolve_to_loopback(host: str, port: int) -> Sequence[str]:
    return ["127.0.0.1"]


async def _poll_once(fetcher: Fetcher, feed: Feed, state: FeedState) -> str:
    try:
        result = await fetcher.fetch(feed, state, NOW)
        if result.is_modified:
            parse_feed(result)
        return str(result.status)
    except (FetchError, ParseError) as exc:
        return type(exc).__name__


async def _round(feeds: list[tuple[Feed, FeedState]], concurrency: int) -> Counter[str]:
    settings = FetchSettings(max_concurrency=concurrency, max_per_host=2, host_spacing_s=0.0)
    async with Fetcher(settings, base_dir=Path("."), resolver=_resolve_to_loopback) as fetcher:
        outcomes = await asyncio.gather(*(_poll_once(fetcher, f, s) for f, s in feeds))
    return Counter(outcomes)


def _process_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_round(
    count: int, *, hosts: int, concurrency: int, port: int, server_pid: int
) -> RoundResult:
    feeds = _feeds(count, hosts, port)
    server_cpu_before = _process_cpu_s(server_pid)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    statuses = asyncio.run(_round(feeds, concurrency))
    wall_s, cpu_s = time.perf_counter() - wall_start, time.process_time() - cpu_start
    server_cpu_after = _process_cpu_s(server_pid)
    server_cpu_s = (
        server_cpu_after - server_cpu_before
        if server_cpu_before is not None and server_cpu_after is not None
        else None
    )
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return RoundResult(count, wall_s, cpu_s, statuses, peak_rss_mb, server_cpu_s)


def _print_table(results: list[RoundResult]) -> None:
    print(
        f"{'feeds':>7} {'wall s':>7} {'cpu s':>7} {'req/s':>7} {'cpu ms/feed':>12} "
        f"{'200':>5} {'304':>6} {'errors':>6} {'peak MB':>8} {'server cpu s':>13}"
    )
    for result in results:
        errors = sum(n for status, n in result.statuses.items() if not status.isdigit())
        server = f"{result.server_cpu_s:.2f}" if result.server_cpu_s is not None else "n/a"
        print(
            f"{result.feeds:>7} {result.wall_s:>7.2f} {result.cpu_s:>7.2f} "
            f"{result.feeds / result.wall_s:>7.0f} {result.cpu_ms_per_feed:>12.3f} "
            f"{result.statuses['200']:>5} {result.statuses['304']:>6} {errors:>6} "
            f"{result.peak_rss_mb:>8.1f} {server:>13}"
        )


def _verdict(results: list[RoundResult]) -> None:
    by_size = {result.feeds: result for result in results}
    small, large = by_size.get(1_000), by_size.get(10_000)
    for result in results:
        record(
            Result("poll", f"{result.feeds:,} feeds: CPU s per round", f"{result.cpu_s:.2f}"),
            Result(
                "poll", f"{result.feeds:,} feeds: requests/s", f"{result.feeds / result.wall_s:.0f}"
            ),
        )
    if small and large:
        ratio = large.cpu_ms_per_feed / small.cpu_ms_per_feed
        print(f"cpu per feed, 10,000 vs 1,000: x{ratio:.2f}")
        record(Result("poll", "CPU per feed, 10,000 vs 1,000", f"x{ratio:.2f}"))
        record(
            Result(
                "poll",
                "10,000 feeds: CPU s per round",
                f"{large.cpu_s:.2f}",
                f"<= {TARGET_CPU_S_AT_10K:g}",
                large.cpu_s <= TARGET_CPU_S_AT_10K,
            )
        )
    if large:
        verdict = "ok" if large.cpu_s <= TARGET_CPU_S_AT_10K else "MISSED"
        print(
            f"target: 10,000 feeds in <= {TARGET_CPU_S_AT_10K:g} cpu s: "
            f"{large.cpu_s:.2f} s {verdict}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.poll", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="1,000 feeds only")
    parser.add_argument("--hosts", type=int, default=100, help="host names the feeds spread over")
    parser.add_argument("--concurrency", type=int, default=50, help="Fetcher max_concurrency")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return
    sizes = [1_000] if args.quick else [1_000, 10_000]
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.poll", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        print(
            f"bench.poll: {args.hosts} hosts, concurrency {args.concurrency}, "
            f"~{100 // CHANGED_EVERY}% changed (200 + parse), the rest 304"
        )
        run_round(
            200, hosts=args.hosts, concurrency=args.concurrency, port=port, server_pid=server.pid
        )  # warm-up
        results = [
            run_round(
                size,
                hosts=args.hosts,
                concurrency=args.concurrency,
                port=port,
                server_pid=server.pid,
            )
            for size in sizes
        ]
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
    _print_table(results)
    _verdict(results)


if __name__ == "__main__":
    main()
