"""The end-to-end benchmark's news site (bench/newsroom.py): it publishes at the rate it is set
to, serves each feed its own newest articles over loopback HTTP, and every copy it publishes
is real corpus text of ~500 words that the near-duplicate check keeps as a story of its own."""

from __future__ import annotations

import asyncio
import json
import queue
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest

from bench import newsroom, workload
from monitor.ingest import NEAR_DUPLICATE_SIMILARITY, normalize_entries, parse_feed, similarity
from monitor.model import Feed, FetchResult

needs_corpus = pytest.mark.skipif(
    not workload.CORPUS_DIR.is_dir(),
    reason=f"the shared corpus is not beside the repository ({workload.CORPUS_DIR})",
)
FEEDS = 5


def test_the_schedule_publishes_at_the_rate_set_and_follows_each_change():
    schedule = newsroom.Schedule()
    assert schedule.advance(100.0) == 0  # nothing before a rate is set
    schedule.set_rate(4, now=100.0)
    assert schedule.advance(110.0) == 40
    schedule.set_rate(0, now=110.0)
    assert schedule.advance(500.0) == 40
    schedule.set_rate(10, now=500.0)
    assert schedule.advance(502.0) == 60
    assert schedule.times == sorted(schedule.times)
    assert schedule.times[40] == pytest.approx(500.1)


@needs_corpus
def test_every_copy_is_500_words_of_corpus_text_and_a_story_of_its_own():
    articles = newsroom.as_the_daemon_sees(list(range(300)))
    assert len({a.key for a in articles}) == len({a.url for a in articles}) == 300
    words = [len(f"{a.title} {a.summary} {a.body}".split()) for a in articles]
    assert 450 <= statistics.median(words) <= 700
    corpus = {item.title for item in workload.feed_items()}
    assert all(a.title in corpus for a in articles)
    # As the store would link them: a copy as similar as NEAR_DUPLICATE_SIMILARITY to an
    # earlier one joins its story, and its alert is folded into the earlier one's.
    folded = [
        a.key
        for index, a in enumerate(articles)
        if any(
            similarity(a.signature, b.signature) >= NEAR_DUPLICATE_SIMILARITY
            for b in articles[:index]
        )
    ]
    assert len(folded) <= 3, folded


@pytest.fixture
def site() -> Iterator[str]:
    newsroom.as_the_daemon_sees([0])  # the corpus is parsed before the clock starts
    ports: queue.Queue[int] = queue.Queue()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        news = newsroom.Site(FEEDS)
        server = await asyncio.start_server(
            lambda r, w: newsroom._serve(news, r, w), "127.0.0.1", 0
        )
        ports.put(server.sockets[0].getsockname()[1])
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{ports.get(timeout=30)}"
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    loop.close()


@needs_corpus
def test_a_feed_serves_its_own_newest_articles_and_a_304_when_nothing_is_new(site):
    started = time.time()
    assert _get(f"{site}/rate?per_s=200")["published"] == 0
    time.sleep(1.0)
    published = _get(f"{site}/rate?per_s=0")["published"]
    assert 160 <= published <= 260
    with urllib.request.urlopen(f"{site}/feed/2.xml", timeout=60) as reply:
        etag, body = reply.headers["ETag"], reply.read()
    now = datetime.now(UTC)
    result = FetchResult("n2", f"{site}/feed/2.xml", 200, body, (), now)
    items = normalize_entries(parse_feed(result), Feed(id="n2", url=result.url), now)
    numbers = [int((a.guid or "").removeprefix("newsroom-")) for a in items]
    newest = max(n for n in range(published) if n % FEEDS == 2)
    expected = list(range(newest, -1, -FEEDS))[: newsroom.ITEMS_PER_FEED]
    assert numbers == expected
    for article in items:
        sent_ms = int(parse_qs(urlparse(article.url or "").query)["pub"][0])
        assert started - 0.1 <= sent_ms / 1000 <= time.time()
    request = urllib.request.Request(f"{site}/feed/2.xml", headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as unchanged:
        urllib.request.urlopen(request, timeout=60)
    unchanged.value.close()
    assert unchanged.value.code == 304


def _get(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=60) as reply:
        return dict(json.loads(reply.read()))
