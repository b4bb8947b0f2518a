"""pipeline/ingest.py: a poll stores its articles off the event loop, in the order polls end.

Real parts: the real store (a SQLite file in tmp_path), the real fetcher reading the shipped
seed feed from disk, the real poller.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from monitor.ingest import Fetcher
from monitor.metrics import Metrics
from monitor.model import Feed, FeedState
from monitor.pipeline.ingest import FeedPoller
from monitor.store import Store

SEED = Path(__file__).parent.parent / "seeds" / "feeds" / "seed-fr.xml"
NOW = datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
HELD_S = 0.5


def test_a_poll_waiting_for_the_store_leaves_the_event_loop_free(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    feed = Feed(id="seed-fr", url=SEED.as_uri(), language="fr")
    held, release = threading.Event(), threading.Event()

    def another_writer() -> None:
        # Another writer of this process (the analysis saving a batch of matches, a slow
        # disk's commit) holds the store's one lock for a while.
        with store._lock:
            held.set()
            release.wait(10)

    async def scenario() -> tuple[float, int]:
        async with Fetcher(base_dir=tmp_path) as fetcher:
            poller = FeedPoller(fetcher=fetcher, store=store, metrics=Metrics())
            writer = threading.Thread(target=another_writer)
            writer.start()
            held.wait(5)
            loop = asyncio.get_running_loop()
            poll = asyncio.create_task(poller.poll(feed, NOW, state=FeedState(feed.id)))
            worst_s, until = 0.0, loop.time() + HELD_S
            while loop.time() < until:
                due = loop.time() + 0.01
                await asyncio.sleep(0.01)
                worst_s = max(worst_s, loop.time() - due)
            assert not poll.done()  # still waiting for the store, not for the loop
            release.set()
            report = await poll
            writer.join()
            return worst_s, report.new_articles

    try:
        worst_s, new_articles = asyncio.run(scenario())
    finally:
        release.set()
        store.close()
    assert new_articles > 0
    assert worst_s < 0.2, f"the loop ran {worst_s:.2f} s late"
