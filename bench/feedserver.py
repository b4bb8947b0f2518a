"""Local news sites for the benchmarks, served on 127.0.0.1 from a subprocess so their CPU
is not counted against the daemon.

Two sites, one small HTTP/1.1 server (GET, keep-alive, ETag / If-None-Match):

- the end-to-end site (bench.e2e): N RSS feeds publishing at a steady rate,
      python -m bench.feedserver --feeds 20 --rate 15 --port-file /tmp/port
  Feed i publishes item j at start + (j * feeds + i) / rate seconds. Each item's link carries
  its publication time in milliseconds (`?pub=`), so the webhook receiver can measure latency.
- the polling-round site (bench.poll): feed n answers as `poll_kind(n)` says, with items
  made of real French news (../shared/corpus/fr-feeds/),
      python -m bench.feedserver --poll-round --port-file /tmp/port --now 1792569600
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from html import escape
from pathlib import Path

from bench.corpus import actor_pool, make_articles
from bench.workload import CORPUS_DIR

ITEMS_PER_FEED = 20

# An answer: the bytes to write, or None to answer nothing (the client times out).
Respond = Callable[[str, dict[str, str]], bytes | None]


class Site:
    """The end-to-end site's feeds as a function of time."""

    def __init__(self, feeds: int, rate: float, words: int) -> None:
        self.feeds = feeds
        self.rate = rate
        self.words = words
        self.start = time.time()
        self.actors = actor_pool(2_000)

    def latest_index(self, feed: int, now: float) -> int:
        """The newest item number feed `feed` has published by `now` (-1 before the first)."""
        elapsed_items = (now - self.start) * self.rate
        return int((elapsed_items - feed) // self.feeds) if elapsed_items >= feed else -1

    def published_at(self, feed: int, index: int) -> float:
        return self.start + (index * self.feeds + feed) / self.rate

    def item(self, feed: int, index: int) -> str:
        # Distinct, realistic text per item (bench.corpus), so that near-duplicate
        # detection links no two bench articles into one story.
        article = make_articles(1, self.actors, words=self.words, seed=feed * 1_000_003 + index)[0]
        published = self.published_at(feed, index)
        return (
            f"<item><title>{escape(article.title)} (veille {feed}-{index})</title>"
            f"<link>https://bench.example/{feed}/{index}?pub={int(published * 1000)}</link>"
            f'<guid isPermaLink="false">bench-{feed}-{index}</guid>'
            f"<pubDate>{formatdate(published, usegmt=True)}</pubDate>"
            f"<description><![CDATA[<p>{escape(article.body)}</p>]]></description></item>"
        )

    def feed(self, feed: int, now: float) -> tuple[str, bytes]:
        latest = self.latest_index(feed, now)
        items = "".join(
            self.item(feed, index) for index in range(latest, max(latest - ITEMS_PER_FEED, -1), -1)
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench feed {feed}</title><link>https://bench.example/{feed}</link>"
            f"<description>bench</description><language>fr</language>{items}</channel></rss>"
        )
        return f'"{feed}-{latest}"', body.encode("utf-8")

    def respond(self, path: str, headers: dict[str, str]) -> bytes:
        feed = int(path.rsplit("/", 1)[-1].removesuffix(".xml"))
        etag, body = self.feed(feed, time.time())
        if headers.get("if-none-match") == etag:
            return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode()
        return (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
            f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )


# --- the polling-round site ----------------------------------------------------------------

# Out of every 1,000 feeds: 50 publish at every poll (200 with new items), 10 answer 200 with
# the body they answered last time (a server that ignores If-None-Match), 10 answer 500,
# 2 never answer (the client's timeout), the other 928 answer 304.
CHANGED, SAME_BODY, SERVER_ERROR, SILENT, NOT_MODIFIED = (
    "changed",
    "same-body",
    "500",
    "timeout",
    "304",
)
POLL_ITEMS = 20  # a section feed's window: the corpus's feeds carry 22 items on average
NEW_PER_POLL = 2  # items a changed feed gains between two polls
ROUND_S = 7 * 3600.0  # the bench clock's step between rounds: beyond any backoff
HOSTS = 100  # host names the feeds spread over


def poll_kind(number: int) -> str:
    """How feed `number` answers every poll."""
    slot = number % 1000
    if slot % 20 == 0:
        return CHANGED
    if slot % 100 == 1:
        return SAME_BODY
    if slot % 100 == 3:
        return SERVER_ERROR
    if slot in (7, 507):
        return SILENT
    return NOT_MODIFIED


def poll_etag(number: int) -> str:
    """The validator a 304 feed answers to (the one a steady-state client holds)."""
    return f'"v{number}"'


@dataclass(frozen=True, slots=True)
class CorpusItem:
    title: str
    summary: str  # HTML as the feed carried it


@functools.cache
def corpus_items() -> tuple[CorpusItem, ...]:
    """Every item of the real French corpus: title and summary as published (the markup
    included, which is what the parser is timed on; `bench.workload.feed_items` has them
    normalised)."""
    if not CORPUS_DIR.is_dir():
        raise SystemExit(f"bench: the corpus is not beside the repository ({CORPUS_DIR})")
    items = []
    for path in sorted(CORPUS_DIR.glob("*.xml")):
        for item in ET.parse(path).getroot().iter("item"):
            title = (item.findtext("title") or "").strip()
            summary = (item.findtext("description") or "").strip().replace("]]>", "]]&gt;")
            if title:
                items.append(CorpusItem(title, summary))
    return tuple(items)


def poll_body(number: int, version: int, now_s: float) -> bytes:
    """Feed `number`'s RSS at its `version`-th answer: POLL_ITEMS real items, newest first.

    Version v+1 carries NEW_PER_POLL items version v did not; item i is published
    ROUND_S / NEW_PER_POLL after item i-1, the newest of version v at now_s + v * ROUND_S.
    """
    corpus = corpus_items()
    newest = version * NEW_PER_POLL + POLL_ITEMS - 1
    first_published = now_s + version * ROUND_S - newest * ROUND_S / NEW_PER_POLL
    host = f"h{number % HOSTS}.bench"
    entries = []
    for index in range(newest, newest - POLL_ITEMS, -1):
        item = corpus[(number * 31 + index) % len(corpus)]
        published = first_published + index * ROUND_S / NEW_PER_POLL
        # The corpus has 1,334 items and a round brings ~1,000 new ones: the dateline in the
        # title makes each a new article (the store deduplicates on content too).
        entries.append(
            f"<item><title>{escape(item.title)} ({number}-{index})</title>"
            f"<link>https://{host}/{number}/{index}</link>"
            f'<guid isPermaLink="false">poll-{number}-{index}</guid>'
            f"<pubDate>{formatdate(published, usegmt=True)}</pubDate>"
            f"<description><![CDATA[{item.summary}]]></description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Rubrique {number}</title><link>https://{host}/{number}</link>"
        f"<description>Actualités</description><language>fr</language>{''.join(entries)}"
        "</channel></rss>"
    ).encode()


class PollSite:
    """The polling-round site: each feed answers as `poll_kind` says, every time."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s
        self.served: Counter[int] = Counter()

    def respond(self, path: str, headers: dict[str, str]) -> bytes | None:
        number = int(path.rsplit("/", 1)[-1])
        kind = poll_kind(number)
        version = self.served[number]
        self.served[number] += 1
        common = f"Date: {formatdate(usegmt=True)}\r\nServer: bench\r\n"
        if kind == SILENT:
            return None
        if kind == SERVER_ERROR:
            return (
                f"HTTP/1.1 500 Internal Server Error\r\n{common}Content-Length: 0\r\n\r\n".encode()
            )
        if kind == NOT_MODIFIED and headers.get("if-none-match") == poll_etag(number):
            return (
                f"HTTP/1.1 304 Not Modified\r\n{common}ETag: {poll_etag(number)}\r\n\r\n".encode()
            )
        if kind == CHANGED:
            body, etag = poll_body(number, version, self.now_s), f'"v{number}-{version}"'
        else:  # same-body ignores validators and sends none; a lost 304 feed starts again
            body, etag = poll_body(number, 0, self.now_s), poll_etag(number)
        validator = f"ETag: {etag}\r\n" if kind != SAME_BODY else ""
        return (
            f"HTTP/1.1 200 OK\r\n{common}Content-Type: application/rss+xml; charset=utf-8\r\n"
            f"Cache-Control: max-age=60\r\n{validator}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body


# --- the server ------------------------------------------------------------------------------


async def _serve(
    respond: Respond, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
            }
            answer = respond(path, headers)
            if answer is None:
                await reader.read()  # until the client gives up and closes
                return
            writer.write(answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    respond: Respond
    if args.poll_round:
        corpus_items()  # loaded before the port is announced: the client times requests
        respond, started = PollSite(args.now).respond, args.now
    else:
        site = Site(args.feeds, args.rate, args.words)
        respond, started = site.respond, site.start
    server = await asyncio.start_server(
        functools.partial(_serve, respond), "127.0.0.1", 0, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    # Written whole, then renamed: the client waits for the file and reads it at once.
    partial = Path(f"{args.port_file}.partial")
    partial.write_text(f"{port} {started}", encoding="ascii")
    partial.replace(args.port_file)
    async with server:
        await asyncio.sleep(args.lifetime_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=15.0, help="new items per second, all feeds")
    parser.add_argument("--words", type=int, default=400, help="words per article body")
    parser.add_argument("--poll-round", action="store_true", help="serve bench.poll's feeds")
    parser.add_argument("--now", type=float, default=0.0, help="bench.poll's clock at round 0")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--lifetime-s", type=float, default=3600)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
