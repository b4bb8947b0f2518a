"""What a subscription is owed is read from its cursor, not from the whole archive: the
cursor moves only past matches a pass has seen and sent, so nothing is skipped — not a story
over `max_items`, not a match another daemon was still committing — and nothing goes twice.
On SQLite and on a real PostgreSQL server."""

from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest

from monitor.config import load_config
from monitor.store import Store
from tests.conftest import use_store
from tests.test_leases import _deliverer
from tests.test_store import NOW, OTHER, WIRE, add, article, match


@pytest.fixture
def store(store_url):
    opened = Store(store_url)
    yield opened
    opened.close()


def owed_keys(store: Store, recorded_from: int) -> list[str]:
    found = store.undelivered("desk", ["jo2024-security"], recorded_from=recorded_from)
    return sorted(found_article.key for found_article, _ in found)


def test_a_pass_from_the_horizon_reads_only_the_matches_recorded_since(store):
    add(store, [article("old", body=WIRE), article("new", body=OTHER)])
    store.save_matches(["old"], [match("old")], NOW)
    horizon = store.match_horizon()
    assert owed_keys(store, horizon) == []
    store.save_matches(["new"], [match("new")], NOW)
    assert owed_keys(store, horizon) == ["new"]
    assert owed_keys(store, 0) == ["new", "old"]
    # A match recorded again (the rules changed) is read again.
    later = store.match_horizon()
    store.save_matches(["old"], [match("old")], NOW)
    assert owed_keys(store, later) == ["old"]
    # So is one matched again after `monitor rematch` dropped the newest matches.
    store.forget_matches_since(NOW - timedelta(days=1))
    after_rematch = store.match_horizon()
    assert after_rematch >= later
    store.save_matches(["new"], [match("new")], NOW)
    assert owed_keys(store, after_rematch) == ["new"]


def test_a_pass_reads_the_newest_articles_up_to_its_limit_each_with_all_its_matches(store):
    add(
        store,
        [
            article("monday", body=WIRE, published_at=NOW - timedelta(days=2)),
            article("tuesday", body=OTHER, published_at=NOW - timedelta(days=1)),
            article("today", title="Un autre sujet", body="Les JO 2024.", published_at=NOW),
        ],
    )
    found = [match(key, rule) for key in ("monday", "tuesday", "today") for rule in ("a", "b")]
    store.save_matches(["monday", "tuesday", "today"], found, NOW)
    owed = store.undelivered("desk", ["a", "b"], limit=2)
    assert [(got.key, sorted(m.rule_id for m in matches)) for got, matches in owed] == [
        ("today", ["a", "b"]),
        ("tuesday", ["a", "b"]),
    ]


def test_a_cursor_moves_forward_only_and_is_kept_per_kind_of_sending(store):
    assert store.owed_cursor("desk", "immediate") == 0
    store.set_owed_cursor("desk", "immediate", 40)
    store.set_owed_cursor("desk", "immediate", 12)  # a pass that read earlier comes in late
    assert store.owed_cursor("desk", "immediate") == 40
    assert store.owed_cursor("desk", "digest") == 0
    assert store.owed_cursor("other-desk", "immediate") == 0


def test_a_match_still_being_committed_when_the_horizon_is_read_is_read_at_the_next_pass(
    pg_url,
):
    store = Store(pg_url)
    add(store, [article("late", body=WIRE), article("quick", body=OTHER)])
    # Another daemon saves a match and has not committed when this one looks; a third
    # saved one after it began and committed at once.
    other_daemon = psycopg.connect(pg_url)
    other_daemon.execute(
        "INSERT INTO matches (article_key, rule_id, rule_name, priority, score, hits, "
        "matched_at, recorded_seq) VALUES ('late', 'jo2024-security', 'JO 2024 security', 2, "
        "2.0, '[]', %s, pg_current_xact_id()::text::bigint)",
        (NOW.isoformat(),),
    )
    store.save_matches(["quick"], [match("quick")], NOW)
    horizon = store.match_horizon()
    assert owed_keys(store, 0) == ["quick"]  # the first is not committed: invisible
    other_daemon.commit()
    other_daemon.close()
    assert owed_keys(store, horizon) == ["late", "quick"]
    store.close()


@pytest.fixture
def desk(project, store_url):
    """The shipped immediate subscription, one story per alert, on either store."""
    use_store(project, store_url)
    config = load_config(project / "config.yaml")
    immediate = next(sub for sub in config.subscriptions if sub.immediate is not None)
    config = replace(config, subscriptions=(replace(immediate, max_items=1),))
    store = Store(store_url)
    yield _deliverer(config, store), store
    store.close()


def sent_keys(store: Store) -> list[tuple[str, ...]]:
    return sorted(delivery.article_keys for delivery in store.due_deliveries(NOW, limit=50))


def test_stories_over_max_items_are_sent_by_the_next_passes_and_nothing_twice(desk):
    deliverer, store = desk
    add(store, [article("a", body=WIRE), article("b", body=OTHER)])
    store.save_matches(["a", "b"], [match("a"), match("b")], NOW)

    first = deliverer._enqueue_due(NOW).enqueued
    second = deliverer._enqueue_due(NOW).enqueued
    assert len(first) == len(second) == 1
    assert sent_keys(store) == [("a",), ("b",)]
    assert deliverer._enqueue_due(NOW).enqueued == []

    add(store, [article("c", title="Un autre sujet", body="Les JO 2024 et la sécurité.")])
    store.save_matches(["c"], [match("c")], NOW)
    assert len(deliverer._enqueue_due(NOW).enqueued) == 1
    assert sent_keys(store) == [("a",), ("b",), ("c",)]
