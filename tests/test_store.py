"""The SQLite store: dedupe, story linking, crash-safe matching, the outbox rows."""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import StoreError
from monitor.model import (
    Article,
    Delivery,
    FeedState,
    Hit,
    Match,
    Message,
    Priority,
    WebhookTarget,
)
from monitor.store.sqlite import Store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def article(key: str, **changes) -> Article:
    values = dict(
        key=key,
        feed_id="seed-fr",
        url=f"https://news.example/{key}",
        guid=key,
        title=f"title {key}",
        summary="summary",
        body="body",
        published_at=NOW,
        fetched_at=NOW,
        language="fr",
        content_hash=f"hash-{key}",
        fingerprint=0,
    )
    values.update(changes)
    return Article(**values)


def match(key: str, rule_id: str = "jo2024-security", priority=Priority.HIGH) -> Match:
    hit = Hit("JO 2024", "JO 2024", "body", 3, 10, "Sécurité des JO 2024")
    return Match(rule_id, "JO 2024 security", key, priority, 2.0, (hit,))


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "monitor.db")
    yield opened
    opened.close()


def test_articles_seen_by_key_url_or_content_are_not_new(store):
    assert [a.key for a in store.add_articles([article("a")], NOW)] == ["a"]
    again = store.add_articles(
        [
            article("a"),
            article("b", url="https://news.example/a"),
            article("c", content_hash="hash-a"),
            article("d"),
        ],
        NOW,
    )
    assert [a.key for a in again] == ["d"]


def test_near_duplicates_share_a_story_id(store):
    original = article("a", fingerprint=0b1011 << 40)
    copy = article("b", fingerprint=(0b1011 << 40) | 0b111)  # 3 bits apart
    other = article("c", fingerprint=(1 << 64) - 1)
    stored = store.add_articles([original, copy, other], NOW)
    assert [a.story_id for a in stored] == ["a", "a", "c"]
    assert [a.key for a in store.story_sources("a")] == ["a", "b"]


def test_articles_stay_unmatched_until_their_matches_are_saved(store):
    store.add_articles([article("a"), article("b")], NOW)
    assert {a.key for a in store.unmatched_articles()} == {"a", "b"}
    store.save_matches(["a", "b"], [match("a")], NOW)
    assert store.unmatched_articles() == []
    found = store.undelivered("sub", ["jo2024-security"])
    assert [(a.key, [m.hits[0].snippet for m in ms]) for a, ms in found] == [
        ("a", ["Sécurité des JO 2024"])
    ]


def delivery(delivery_id: str, keys: tuple[str, ...]) -> Delivery:
    return Delivery(
        id=delivery_id,
        subscription_id="sub",
        channel=WebhookTarget(url="http://127.0.0.1/h", secret="s"),
        message=Message("subject", "text", "<p>html</p>", b"{}"),
        article_keys=keys,
        created_at=NOW,
    )


def test_an_enqueued_story_is_never_offered_to_the_subscription_again(store):
    store.add_articles([article("a", fingerprint=1 << 20), article("b", fingerprint=1 << 20)], NOW)
    store.save_matches(["a", "b"], [match("a"), match("b")], NOW)
    store.enqueue([delivery("d1", ("a",))], ["a"])
    # b is a copy of a's story: delivering a covers it.
    assert store.undelivered("sub", ["jo2024-security"]) == []
    assert [a.key for a, _ in store.undelivered("other-sub", ["jo2024-security"])] == ["a", "b"]


def test_outbox_rows_move_from_pending_to_sent_or_dead(store):
    store.enqueue([delivery("d1", ("a",)), delivery("d2", ("b",))], [])
    assert [d.id for d in store.due_deliveries(NOW)] == ["d1", "d2"]
    store.mark_sent("d1", NOW)
    store.mark_failed("d2", "smtp: 451 try later", next_attempt_at=NOW + timedelta(minutes=5))
    assert store.due_deliveries(NOW) == []
    assert [d.id for d in store.due_deliveries(NOW + timedelta(minutes=6))] == ["d2"]
    store.mark_failed("d2", "smtp: 554 rejected", next_attempt_at=None)
    dead = store.deliveries("dead")
    assert [(d.id, d.attempts, d.last_error) for d in dead] == [("d2", 2, "smtp: 554 rejected")]
    assert store.requeue("d2", NOW)
    assert not store.requeue("d1", NOW)  # sent stays sent


def test_secrets_are_not_written_to_the_database(store, tmp_path):
    store.enqueue([delivery("d1", ("a",))], [])
    raw = sqlite3.connect(tmp_path / "monitor.db")
    try:
        (channel,) = raw.execute("SELECT channel FROM deliveries").fetchone()
    finally:
        raw.close()
    assert "secret" not in channel
    assert store.delivery("d1").channel.secret is None


def test_feed_state_round_trips(store):
    state = FeedState(
        feed_id="seed-fr",
        etag='"abc"',
        last_success_at=NOW,
        error_streak=2,
        next_poll_at=NOW + timedelta(minutes=5),
    )
    store.save_feed_state(state)
    assert store.feed_state("seed-fr") == state


def test_state_survives_reopening(tmp_path):
    first = Store(tmp_path / "monitor.db")
    first.add_articles([article("a")], NOW)
    first.close()
    second = Store(tmp_path / "monitor.db")
    try:
        assert second.add_articles([article("a")], NOW) == []
    finally:
        second.close()


def test_a_file_that_is_not_a_database_is_refused_not_replaced(tmp_path):
    path = tmp_path / "monitor.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable database"):
        Store(path)
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "monitor.db"
    Store(path).close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.close()
    with pytest.raises(StoreError, match="newer than this monitor understands"):
        Store(path)


def test_retention_forgets_old_articles_but_never_resends_their_story(store):
    store.add_articles([article("old")], NOW - timedelta(days=100))
    store.save_matches(["old"], [match("old")], NOW - timedelta(days=100))
    store.enqueue([delivery("d-old", ("old",))], ["old"])
    store.mark_sent("d-old", NOW - timedelta(days=100))
    store.add_articles([article("new")], NOW)
    assert store.purge_before(NOW - timedelta(days=90)) == 1
    assert store.article("old") is None and store.article("new") is not None
    # The feed still serves the old item: it is stored again but not offered again.
    store.add_articles([article("old")], NOW)
    store.save_matches(["old"], [match("old")], NOW)
    assert store.undelivered("sub", ["jo2024-security"]) == []


def test_retention_keeps_articles_of_a_pending_delivery(store):
    store.add_articles([article("a")], NOW - timedelta(days=100))
    store.save_matches(["a"], [match("a")], NOW - timedelta(days=100))
    store.enqueue([delivery("d1", ("a",))], ["a"])
    assert store.purge_before(NOW) == 0


def test_health_facts(store):
    assert store.quick_check() is None
    assert store.is_writable()
    store.enqueue([delivery("d1", ("a",)), delivery("d2", ("b",))], [])
    store.mark_sent("d1", NOW)
    assert store.delivery_counts() == {("webhook", "sent"): 1, ("webhook", "pending"): 1}
    store.set_note("rules_error", "rules/x.yaml:3: bad")
    assert store.notes() == {"rules_error": "rules/x.yaml:3: bad"}
    store.set_note("rules_error", None)
    assert store.notes() == {}
