"""A local news site for the end-to-end benchmark: N RSS feeds publishing at a steady rate.

Run as a subprocess so its CPU is not counted against the daemon:
    python -m bench.feedserver --feeds 20 --rate 15 --port-file /tmp/port
Feed i publishes item j at start + (j * feeds + i) / rate seconds. Each item's link carries
its publication time in milliseconds (`?pub=`), so the webhook receiver can measure latency.
ETag / If-None-Match make unchanged feeds cost a 304.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from email.utils import formatdate
from html import escape
from pathlib import Path

from bench.corpus import actor_pool, make_articles

ITEMS_PER_FEED = 20


class Site:
    """The feeds' content as a function of time."""

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


async def _serve(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
            }
            feed = int(path.rsplit("/", 1)[-1].removesuffix(".xml"))
            etag, body = site.feed(feed, time.time())
            if headers.get("if-none-match") == etag:
                writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
            else:
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                    f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    site = Site(args.feeds, args.rate, args.words)
    server = await asyncio.start_server(lambda r, w: _serve(site, r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    Path(args.port_file).write_text(f"{port} {site.start}", encoding="ascii")
    async with server:
        await asyncio.sleep(args.lifetime_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=15.0, help="new items per second, all feeds")
    parser.add_argument("--words", type=int, default=400, help="words per article body")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--lifetime-s", type=float, default=3600)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
