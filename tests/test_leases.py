"""Row leases on a real PostgreSQL server: two stores (two daemons, two connections) on one
database never hold the same feed, analysis batch, outbox row, subscription or digest slot;
a lapsed lease is taken over by the other; SQLite grants every claim and writes nothing."""

import asyncio
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.app import collect_status, format_status
from monitor.app.dispatch import FeedDispatcher
from monitor.app.wiring import build_outbox, build_renderer
from monitor.config import load_config
from monitor.metrics import Metrics
from monitor.model import Delivery, Feed, FeedState, Message
from monitor.pipeline.deliver import Deliverer
from monitor.rules import load_rules
from monitor.schedule import PollPolicy, parse_schedule
from monitor.store import Store
from monitor.targets import FolderTarget
from tests.conftest import use_store
from tests.test_store import add, article, match

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LEASE_S = 60.0


class Clock:
    """A lease clock the test moves: `later(s)` is the moment a daemon looks again."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def daemons(pg_url, clock):
    """Two stores on one database, as two daemons have them."""
    first = Store(pg_url, lease_s=LEASE_S, lease_clock=clock)
    second = Store(pg_url, lease_s=LEASE_S, lease_clock=clock)
    yield first, second
    first.close()
    second.close()


def delivery(delivery_id: str) -> Delivery:
    return Delivery(
        id=delivery_id,
        subscription_id="desk",
        channel=FolderTarget(folder="var/outbox"),
        message=Message("subject", "text", "<p>html</p>", b"{}"),
        article_keys=("a",),
        created_at=NOW,
    )


def test_two_daemons_never_claim_the_same_feed(daemons):
    first, second = daemons
    feeds = [f"feed-{n}" for n in range(20)]
    won = first.claim_feeds(feeds[:12], NOW)
    assert won == set(feeds[:12])
    # The second daemon asks for all of them: it gets only those nobody holds.
    assert second.claim_feeds(feeds, NOW) == set(feeds[12:])
    assert first.claim_feeds(feeds, NOW) == set(feeds[:12])  # its own, renewed, no more


def test_a_polled_feed_is_not_claimed_again_before_it_is_due(daemons):
    first, second = daemons
    assert first.claim_feeds(["f"], NOW) == {"f"}
    first.save_feed_state(
        FeedState(feed_id="f", last_polled_at=NOW, next_poll_at=NOW + timedelta(minutes=5))
    )
    first.release_feed("f")
    # Free now, but not due: the other daemon, holding an older copy of the state, skips it.
    assert second.claim_feeds(["f"], NOW + timedelta(minutes=1)) == set()
    assert second.claim_feeds(["f"], NOW + timedelta(minutes=5)) == {"f"}


def test_a_daemon_with_little_room_claims_the_longest_overdue_feeds(daemons):
    first, second = daemons
    overdue_minutes = {"f-a": 3, "f-b": 30, "f-c": 1, "f-d": 12, "f-e": 7}
    for feed_id, minutes in overdue_minutes.items():
        first.save_feed_state(
            FeedState(feed_id=feed_id, next_poll_at=NOW - timedelta(minutes=minutes))
        )
    assert first.claim_feeds(overdue_minutes, NOW, limit=2) == {"f-b", "f-d"}
    # The next daemon, offered the same feeds, takes the longest overdue of those left.
    assert second.claim_feeds(overdue_minutes, NOW, limit=2) == {"f-e", "f-a"}


def test_the_dispatcher_polls_what_waited_longest_when_more_is_due_than_it_has_room_for(
    pg_url,
):
    store = Store(pg_url)
    feeds = [feed_of(f"feed-{n:02}") for n in range(12)]
    # Feed n is n minutes overdue in the store; this daemon's copy of the states is blank.
    for n, feed in enumerate(feeds):
        store.save_feed_state(
            FeedState(feed_id=feed.id, next_poll_at=NOW - timedelta(minutes=n + 1))
        )
    other_daemon = Store(pg_url)
    dispatcher = FeedDispatcher(other_daemon, clock=lambda: NOW, every_s=1, max_claims=3)

    async def dispatch_once() -> set[str]:
        async def poll(_feed: Feed) -> None:
            await asyncio.sleep(3600)

        tasks = dispatcher.dispatch(feeds, poll)
        names = {task.get_name() for task in tasks}
        for task in tasks:
            task.cancel()
        return names

    assert asyncio.run(dispatch_once()) == {"poll:feed-11", "poll:feed-10", "poll:feed-09"}
    other_daemon.close()
    store.close()


def feed_of(feed_id: str) -> Feed:
    return Feed(id=feed_id, url=f"http://127.0.0.1:9/{feed_id}.xml", poll_every_s=600)


def test_a_dead_daemons_feed_is_taken_over_when_its_lease_lapses(daemons, clock):
    first, second = daemons
    assert first.claim_feeds(["f"], NOW) == {"f"}
    clock.later(LEASE_S - 1)
    assert second.claim_feeds(["f"], NOW) == set()
    clock.later(2)  # the first never renewed: it died
    assert second.claim_feeds(["f"], NOW) == {"f"}
    assert first.claim_feeds(["f"], NOW) == set()


def test_two_daemons_never_analyse_the_same_article(daemons, clock):
    first, second = daemons
    add(first, [article(f"a{n:02}") for n in range(10)])
    batch = [a.key for a in first.unmatched_articles(limit=6)]
    assert len(batch) == 6
    rest = [a.key for a in second.unmatched_articles(limit=100)]
    assert sorted(batch + rest) == [f"a{n:02}" for n in range(10)]
    assert not set(batch) & set(rest)
    # The first matches its batch; the second's died unmatched and lapses to the first.
    first.save_matches(batch, [match(batch[0])], NOW)
    clock.later(LEASE_S + 1)
    assert sorted(a.key for a in first.unmatched_articles(limit=100)) == sorted(rest)
    assert second.unmatched_articles(limit=100) == []


def test_renewal_keeps_a_long_batch_from_lapsing(daemons, clock):
    first, second = daemons
    add(first, [article("a"), article("b")])
    assert len(first.unmatched_articles()) == 2
    for _ in range(3):
        clock.later(LEASE_S * 0.6)
        assert first.renew_leases() == 2
        assert second.unmatched_articles() == []


def test_an_outbox_row_is_sent_by_the_daemon_that_holds_it(daemons, clock):
    first, second = daemons
    first.enqueue([delivery("d1"), delivery("d2")], ["a"])
    assert [d.id for d in first.due_deliveries(NOW, limit=1)] == ["d1"]
    assert [d.id for d in second.due_deliveries(NOW)] == ["d2"]
    assert first.due_deliveries(NOW) == [first.delivery("d1")]
    # The second daemon's lease on d1 does not exist: its mark changes nothing.
    second.mark_sent("d1", NOW)
    assert first.delivery("d1").status == "pending"
    clock.later(LEASE_S + 1)  # the first died after sending d1, before marking it
    assert [d.id for d in second.due_deliveries(NOW)] == ["d1", "d2"]
    first.mark_failed("d1", "late failure of a dead daemon", next_attempt_at=NOW)
    second.mark_sent("d1", NOW)
    assert (first.delivery("d1").status, first.delivery("d1").last_error) == ("sent", None)


def test_a_digest_slot_is_composed_once_and_a_lapsed_one_by_another(daemons, clock):
    first, second = daemons
    slot = NOW.replace(hour=8)
    assert first.claim_digest_slot("desk", slot)
    assert not second.claim_digest_slot("desk", slot)
    clock.later(LEASE_S + 1)  # the first died composing: the slot is the second's
    assert second.claim_digest_slot("desk", slot)
    assert not first.claim_digest_slot("desk", slot)
    second.finish_digest_slot("desk", slot)
    clock.later(LEASE_S + 1)
    assert not first.claim_digest_slot("desk", slot)
    assert first.claim_digest_slot("desk", slot + timedelta(days=1))


def test_claims_at_the_same_moment_split_the_work(daemons):
    """Both daemons claim the same feeds at the same moment, round after round, then the
    same 200 articles: each row goes to one of them."""
    first = daemons[0]
    for store in daemons:  # the lease rows exist: each round is one claim statement each
        store.claim_feeds([f"feed-{n}" for n in range(600)], NOW - timedelta(days=1))
        store.release_leases()
    add(first, [article(f"a{n:03}") for n in range(200)])
    won: dict[int, list[set[str]]] = {0: [], 1: []}
    start = threading.Barrier(2)

    def claim(index: int, store: Store) -> None:
        for round_ in range(30):
            feeds = [f"feed-{n}" for n in range(round_ * 20, round_ * 20 + 20)]
            start.wait()
            won[index].append(store.claim_feeds(feeds, NOW))
        start.wait()
        won[index].append({a.key for a in store.unmatched_articles(limit=300)})

    threads = [threading.Thread(target=claim, args=pair) for pair in enumerate(daemons)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for mine, theirs in zip(won[0], won[1], strict=True):
        assert not mine & theirs
    assert all(
        len(mine | theirs) == 20 for mine, theirs in zip(won[0][:-1], won[1][:-1], strict=True)
    )
    assert len(won[0][-1] | won[1][-1]) == 200


def test_status_shows_each_daemons_leases_and_the_stale_ones(project, pg_url, daemons, clock):
    first, second = daemons
    use_store(project, pg_url)
    config = load_config(project / "config.yaml")
    first.claim_feeds(["seed-fr"], NOW)
    add(first, [article("a"), article("b")])
    second.unmatched_articles()
    clock.later(LEASE_S + 1)
    first.claim_feeds(["other"], NOW)
    report = collect_status(config, _deliverer_pipeline(config, first), first, clock())
    rows = {row["daemon_id"]: row for row in report["daemon"]["leases"]}
    assert rows[first.daemon_id]["feeds"] == 1 and rows[first.daemon_id]["stale"] == 1
    assert rows[second.daemon_id]["articles"] == 0 and rows[second.daemon_id]["stale"] == 2
    text = format_status(report)
    assert "LEASES" in text and first.daemon_id in text and second.daemon_id in text


def test_sqlite_grants_every_claim_and_writes_no_lease(tmp_path):
    store = Store(tmp_path / "monitor.db")
    assert not store.shares_work
    assert store.claim_feeds(["a", "b"], NOW) == {"a", "b"}
    assert store.claim_subscription("desk") and store.claim_subscription("desk")
    assert store.claim_digest_slot("desk", NOW) and store.claim_digest_slot("desk", NOW)
    assert store.renew_leases() == 0 and store.lease_holdings(NOW) == []
    store.close()


# --- composing, through the deliverer ---------------------------------------------


def _deliverer_pipeline(config, store: Store):
    """What `collect_status` reads of a pipeline: its rules and its deliverer."""

    class Shown:
        rules = load_rules(config.rules_dir)
        deliverer = _deliverer(config, store)

    return Shown()


def _deliverer(config, store: Store) -> Deliverer:
    return Deliverer(
        store=store,
        renderer=build_renderer(config),
        outbox=build_outbox(config, store),
        feeds=config.feeds,
        subscriptions=config.subscriptions,
        rules=load_rules(config.rules_dir),
        metrics=Metrics(),
        poll_policy=PollPolicy(),
    )


def test_a_subscription_being_composed_elsewhere_is_left_to_that_daemon(project, pg_url, daemons):
    first, second = daemons
    use_store(project, pg_url)
    config = load_config(project / "config.yaml")
    immediate = next(sub for sub in config.subscriptions if sub.immediate is not None)
    config = replace(config, subscriptions=(immediate,))
    add(first, [article("a", title="JO 2024 : la sécurité renforcée")])
    first.save_matches(["a"], [match("a")], NOW)
    deliverer = _deliverer(config, second)

    assert first.claim_subscription(immediate.id)  # the first daemon is composing it
    assert deliverer._enqueue_due(NOW).enqueued == []
    first.release_subscription(immediate.id)
    assert deliverer._enqueue_due(NOW).enqueued != []
    assert second.undelivered(immediate.id, ["jo2024-security"]) == []


def test_a_due_digest_goes_out_once_with_two_daemons(project, pg_url, daemons, clock):
    first, second = daemons
    use_store(project, pg_url)
    config = load_config(project / "config.yaml")
    digest = next(sub for sub in config.subscriptions if sub.schedule is not None)
    config = replace(config, subscriptions=(replace(digest, immediate=None),))
    add(first, [article("a", title="JO 2024 : la sécurité renforcée")])
    first.save_matches(["a"], [match("a")], NOW)
    first.set_last_digest_at(digest.id, NOW - timedelta(days=2))
    deliverers = [_deliverer(config, store) for store in daemons]

    # Both see the digest due; the first claims its slot, then dies before composing.
    slot = parse_schedule(digest.schedule, digest.timezone).next_after(NOW - timedelta(days=2))
    assert first.claim_digest_slot(digest.id, slot)
    assert deliverers[1]._enqueue_due(NOW).enqueued == []
    clock.later(LEASE_S + 1)
    enqueued = deliverers[1]._enqueue_due(NOW).enqueued
    assert len(enqueued) == len(digest.channels)
    assert deliverers[0]._enqueue_due(NOW).enqueued == []
    assert [d.id for d in second.deliveries()] == enqueued
