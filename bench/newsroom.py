"""A loopback news site for bench.e2e: RSS feeds publishing real French text at a rate the
benchmark changes while it runs.

    python -m bench.newsroom --feeds 100 --port-file PATH     (a subprocess: its CPU is its own)

`GET /feed/F.xml` is feed F: its newest ITEMS_PER_FEED articles, with an ETag (an unchanged
feed costs a 304). `GET /rate?per_s=R` publishes R articles a second from now on (0 stops);
`GET /published` answers `{"published": N, "rate": R}`. Article n goes to feed n % feeds; its
link carries its publication time in milliseconds (`?pub=`), for the webhook receiver.

The text is the corpus's (`bench.workload.long_articles`, ~500-word bodies, each joining
consecutive items of one feed; one paragraph per item). Published copies must not fold into
one story by the near-duplicate check (MinHash of word 3-shingles, estimated similarity >= 0.55),
so article n keeps the lead paragraph of body n % len(pool) and a random third of that body's
other paragraphs, fills up to ~500 words with paragraphs of other bodies and shuffles them, all
seeded by n; paragraphs over LONGEST_PARAGRAPH words are left out. Two articles on the same body
share about a quarter of their text, well under the similarity at which copies join;
`tests/test_bench_newsroom.py` checks real copies.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from bench.workload import long_articles
from monitor.ingest import normalize_entries, parse_feed
from monitor.model import Article, Feed, FetchResult

# Real feeds carry 20 to 50 items; at 100 feeds polled every 10 s, 30 items lose nothing
# below 300 articles a second.
ITEMS_PER_FEED = 30
WORDS = 500


@dataclass(frozen=True, slots=True)
class Story:
    """One published article: what its feed item says."""

    number: int
    title: str
    lead: str
    paragraphs: tuple[str, ...]


# A paragraph this long (a few corpus items are a whole article) would make up most of every
# copy that holds it: such copies would fold into one story.
LONGEST_PARAGRAPH = WORDS // 4


@functools.cache
def _pool() -> tuple[tuple[str, ...], ...]:
    """Each corpus body as its paragraphs (one per corpus item), without the long ones; only
    bodies left with at least four."""
    bodies = [
        tuple(p for p in article.body.split("\n\n") if len(p.split()) <= LONGEST_PARAGRAPH)
        for article in long_articles(words=WORDS)
    ]
    return tuple(body for body in bodies if len(body) >= 4)


def story(number: int) -> Story:
    """Article `number`: the same text on every call and in every process."""
    pool = _pool()
    rng = random.Random(number)
    base = pool[number % len(pool)]
    rest = list(base[1:])
    kept = rng.sample(rest, len(rest) // 3)
    words = sum(len(paragraph.split()) for paragraph in (base[0], *kept))
    while words < WORDS:
        other = pool[rng.randrange(len(pool))]
        if other is base:
            continue
        paragraph = rng.choice(other)
        kept.append(paragraph)
        words += len(paragraph.split())
    rng.shuffle(kept)
    title, _, lead = base[0].partition("\n")
    return Story(number, title, lead or title, (base[0], *kept))


def item_xml(story: Story, feed: int, published_s: float) -> str:
    """The RSS item: title, a link carrying the publication time, the lead as description and
    every paragraph (one per corpus item, its lines kept) as content:encoded."""
    paragraphs = "".join(
        "<p>" + "<br/>".join(escape(line) for line in paragraph.splitlines()) + "</p>"
        for paragraph in story.paragraphs
    )
    return (
        f"<item><title>{escape(story.title)}</title>"
        f"<link>https://newsroom.example/{feed}/{story.number}?pub={int(published_s * 1000)}</link>"
        f'<guid isPermaLink="false">newsroom-{story.number}</guid>'
        f"<pubDate>{formatdate(published_s, usegmt=True)}</pubDate>"
        f"<description>{escape(story.lead)}</description>"
        f"<content:encoded><![CDATA[{paragraphs}]]></content:encoded></item>"
    )


def feed_xml(feed: int, items: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Newsroom {feed}</title><link>https://newsroom.example/{feed}</link>"
        f"<description>bench</description><language>fr</language>{''.join(items)}"
        "</channel></rss>"
    ).encode()


def as_the_daemon_sees(numbers: list[int]) -> list[Article]:
    """Articles `numbers` after the project's own parser and normaliser, as the daemon stores
    them (the text the raw spaCy measure runs on)."""
    now = datetime.now(UTC)
    body = feed_xml(0, [item_xml(story(n), 0, now.timestamp()) for n in numbers])
    result = FetchResult("newsroom", "http://127.0.0.1/feed/0.xml", 200, body, (), now)
    feed = Feed(id="newsroom", url=result.url, language="fr")
    return normalize_entries(parse_feed(result), feed, now, max_entries=len(numbers))


class Schedule:
    """When each article was published, under a rate that changes while the site runs."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.rate = 0.0
        self._since = 0.0  # when the current rate was set
        self._sent_since = 0  # articles published at the current rate

    def set_rate(self, rate: float, now: float) -> None:
        self.advance(now)
        self.rate, self._since, self._sent_since = max(0.0, rate), now, 0

    def advance(self, now: float) -> int:
        """Publish what is due by `now`; return how many articles are out."""
        if self.rate:
            # From the rate's start, not from the previous article: no rounding drift.
            due = int((now - self._since) * self.rate)
            for count in range(self._sent_since + 1, due + 1):
                self.times.append(self._since + count / self.rate)
            self._sent_since = max(self._sent_since, due)
        return len(self.times)


class Site:
    def __init__(self, feeds: int) -> None:
        self.feeds = feeds
        self.schedule = Schedule()
        self._items: dict[int, str] = {}

    def feed(self, feed: int, now: float) -> tuple[str, bytes]:
        published = self.schedule.advance(now)
        # The newest article of this feed, then every `feeds`-th one before it.
        latest = published - 1 - (published - 1 - feed) % self.feeds
        numbers = range(latest, max(latest - ITEMS_PER_FEED * self.feeds, -1), -self.feeds)
        items = [self._item(number, feed) for number in numbers]
        oldest_kept = published - 2 * ITEMS_PER_FEED * self.feeds
        for number in [n for n in self._items if n < oldest_kept]:
            del self._items[number]
        return f'"{feed}-{latest}"', feed_xml(feed, items)

    def _item(self, number: int, feed: int) -> str:
        found = self._items.get(number)
        if found is None:
            found = item_xml(story(number), feed, self.schedule.times[number])
            self._items[number] = found
        return found

    def control(self, path: str, now: float) -> bytes:
        url = urlparse(path)
        if url.path == "/rate":
            self.schedule.set_rate(float(parse_qs(url.query)["per_s"][0]), now)
        published = self.schedule.advance(now)
        return json.dumps({"published": published, "rate": self.schedule.rate}).encode()


async def _serve(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head)}
            if path.startswith("/feed/"):
                feed = int(path.removeprefix("/feed/").removesuffix(".xml"))
                etag, body = site.feed(feed, time.time())
                kind = "application/rss+xml; charset=utf-8"
            else:
                etag, body, kind = "", site.control(path, time.time()), "application/json"
            if etag and headers.get("if-none-match") == etag:
                writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
            else:
                tag = f"ETag: {etag}\r\n" if etag else ""
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n{tag}"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError, KeyError):
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    site = Site(args.feeds)
    _pool()  # the corpus is parsed before the port is announced, not on the first poll
    server = await asyncio.start_server(lambda r, w: _serve(site, r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    Path(args.port_file).write_text(str(port), encoding="ascii")
    async with server:
        await asyncio.sleep(args.lifetime_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--lifetime-s", type=float, default=3600)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
