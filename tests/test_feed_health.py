"""Feed health in digests: every feed's rhythm in one read, and only for what shows it.

The shipped project (two feeds, an immediate subscription and a daily digest) on a real
store in tmp_path; the store's rhythm read is wrapped to count its calls.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from monitor.app import build_parts
from monitor.config import load_config
from monitor.model import Article, Priority
from monitor.rules.load import load_rules
from tests.fixtures_nlp import shared_annotator

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TEXT = (
    "JO 2024 : la sécurité des Jeux olympiques mobilise le renseignement. "
    "À Paris, la préfecture renforce la sécurité autour des sites olympiques."
)


@pytest.fixture
def parts(project, monkeypatch):
    config = load_config(project / "config.yaml")
    built = build_parts(config, load_rules(config.rules_dir), annotator=shared_annotator())
    built.annotator = None  # shared across the session: not this test's to close
    reads: list[list[str]] = []
    real = built.store.recent_published_by_feed

    def counted(feed_ids):
        feed_ids = list(feed_ids)
        reads.append(feed_ids)
        return real(feed_ids)

    monkeypatch.setattr(built.store, "recent_published_by_feed", counted)
    yield built, config, reads
    built.store.close()


def seed_article(key: str, published_at: datetime) -> Article:
    return Article(
        key=key,
        feed_id="seed-fr",
        url=f"https://news.example/{key}",
        guid=key,
        title="Sécurité des JO 2024",
        summary=TEXT,
        body="",
        published_at=published_at,
        fetched_at=published_at,
        language="fr",
        content_hash=f"hash-{key}",
        fingerprint=0,
    )


def test_an_immediate_alert_does_not_read_feed_health(parts):
    built, _, reads = parts
    asyncio.run(built.pipeline.ingest([seed_article("a", NOW)], NOW))
    report = asyncio.run(built.pipeline.deliver_due(NOW))
    assert report.enqueued  # the high-priority match went out at once
    assert reads == []


def test_a_digest_reads_every_feeds_rhythm_once_and_shows_the_silent_one(parts):
    built, config, reads = parts
    # seed-fr published hourly, then stopped two days ago.
    quiet_since = NOW - timedelta(days=2)
    hourly = [seed_article(f"h{n}", quiet_since - timedelta(hours=n)) for n in range(12)]
    asyncio.run(built.pipeline.ingest(hourly, quiet_since))
    daily = next(s for s in config.subscriptions if s.schedule)
    digest = built.pipeline.deliverer.build_digest(daily, "digest", NOW, min_priority=Priority.LOW)
    assert reads == [[feed.id for feed in config.feeds]]
    assert any("feed 'seed-fr': no new article for" in line for line in digest.feed_problems)
