"""The outbox retries with backoff, dead-letters permanent failures, never drops silently;
on both store backends (SQLite and a real PostgreSQL server)."""

import asyncio
import json
import random
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.deliver.channels import FolderChannel, redact_channel
from monitor.deliver.outbox import DEFAULT_RETRY_DELAYS_S, Outbox
from monitor.errors import DeliveryError
from monitor.model import Delivery, Message, Subscription
from monitor.settings import DeliverySettings
from monitor.store.sqlite import Store
from monitor.targets import AppriseTarget, FolderTarget, WebhookTarget

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOOK_SECRET = "whsec_b3V0Ym94LXRlc3Qtc2VjcmV0LW9mLTMyLWJ5dGVzISE="
HOOK = WebhookTarget(url="http://127.0.0.1:9/hook", secret=HOOK_SECRET)


class ScriptedChannel:
    """A channel whose answers are scripted: None sends, an exception fails."""

    kind = "webhook"

    def __init__(self, answers):
        self.answers = list(answers)
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> None:
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        self.sent.append(delivery)


@pytest.fixture
def store(store_url):
    opened = Store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path):
    opened = Store(tmp_path / "monitor.db")
    yield opened
    opened.close()


def enqueue(store: Store) -> None:
    delivery = Delivery(
        id="d1",
        subscription_id="desk",
        channel=HOOK,
        message=Message("s", "t", "<p>h</p>", b'{"schema": "monitor.digest/1"}'),
        article_keys=("a",),
        created_at=NOW,
    )
    store.enqueue([delivery], ["a"])


def outbox(store: Store, channel: ScriptedChannel, delays=(5.0, 300.0)) -> Outbox:
    subscription = Subscription(id="desk", rules=("*",), channels=(HOOK,), immediate=None)
    return Outbox(
        store,
        {"webhook": channel},
        [subscription],
        settings=DeliverySettings(retry_delays_s=tuple(delays)),
        rng=random.Random(0),
    )


def test_a_retryable_failure_is_retried_then_sent_once(store):
    enqueue(store)
    channel = ScriptedChannel([DeliveryError("500", channel="webhook"), None])
    box = outbox(store, channel)
    assert asyncio.run(box.flush(NOW)).retrying == 1
    assert asyncio.run(box.flush(NOW)).sent == 0  # not due yet: backoff holds it
    assert asyncio.run(box.flush(NOW + timedelta(seconds=10))).sent == 1
    assert [d.id for d in channel.sent] == ["d1"]
    assert asyncio.run(box.flush(NOW + timedelta(days=1))).sent == 0
    (sent,) = store.deliveries("sent")
    assert sent.attempts == 2


def test_the_secret_is_looked_up_in_the_live_config_at_send_time(store):
    enqueue(store)
    channel = ScriptedChannel([None])
    asyncio.run(outbox(store, channel).flush(NOW))
    assert channel.sent[0].channel.secret == HOOK_SECRET


def test_retry_after_from_the_server_is_honoured(store):
    enqueue(store)
    channel = ScriptedChannel([DeliveryError("429", channel="webhook", retry_after_s=600), None])
    box = outbox(store, channel)
    asyncio.run(box.flush(NOW))
    assert asyncio.run(box.flush(NOW + timedelta(seconds=300))).sent == 0
    assert asyncio.run(box.flush(NOW + timedelta(seconds=601))).sent == 1


def test_permanent_failures_go_straight_to_dead_letter(store):
    enqueue(store)
    channel = ScriptedChannel([DeliveryError("554", channel="email", is_permanent=True)])
    assert asyncio.run(outbox(store, channel).flush(NOW)).dead == 1
    (dead,) = store.deliveries("dead")
    assert dead.last_error == "email: 554"


def test_exhausted_retries_dead_letter_and_can_be_requeued(store):
    enqueue(store)
    failures = [DeliveryError("timeout", channel="webhook") for _ in range(3)]
    channel = ScriptedChannel([*failures, None])
    box = outbox(store, channel, delays=(1.0, 1.0))
    moment = NOW
    for _ in range(3):
        asyncio.run(box.flush(moment))
        moment += timedelta(seconds=5)
    assert [d.attempts for d in store.deliveries("dead")] == [3]
    assert store.requeue("d1", moment)
    assert asyncio.run(box.flush(moment)).sent == 1


def test_the_retry_schedule_runs_with_jitter_then_dead_letters(store):
    enqueue(store)
    channel = ScriptedChannel([DeliveryError("503", channel="webhook") for _ in range(8)])
    box = Outbox(store, {"webhook": channel}, [], rng=random.Random(7))
    moment = NOW
    waits_s = []
    for _ in range(7):
        assert asyncio.run(box.flush(moment)).retrying == 1
        (pending,) = store.deliveries("pending")
        assert pending.next_attempt_at is not None
        waits_s.append((pending.next_attempt_at - moment).total_seconds())
        moment = pending.next_attempt_at
    for wait_s, planned_s in zip(waits_s, DEFAULT_RETRY_DELAYS_S, strict=True):
        assert planned_s * 0.8 <= wait_s <= planned_s * 1.2
    ratios = {
        round(wait_s / planned_s, 3)
        for wait_s, planned_s in zip(waits_s, DEFAULT_RETRY_DELAYS_S, strict=True)
    }
    assert len(ratios) > 1  # jittered, not a fixed multiple
    assert asyncio.run(box.flush(moment)).dead == 1
    (dead,) = store.deliveries("dead")
    assert dead.attempts == 8


def test_secrets_stay_out_of_the_store_and_come_back_at_send_time(store):
    spec = AppriseTarget(urls=("tgram://123:token/456",))
    stored = redact_channel(spec)
    assert stored.urls[0].startswith("tgram://…#") and "token" not in str(stored)
    assert redact_channel(HOOK).secret is None
    delivery = Delivery("d2", "desk", stored, Message("s", "t", "h", b"{}"), ("b",), NOW)
    store.enqueue([delivery], ["b"])
    channel = ScriptedChannel([None])
    channel.kind = "apprise"
    subscription = Subscription(id="desk", rules=("*",), channels=(HOOK, spec))
    asyncio.run(Outbox(store, {"apprise": channel}, [subscription]).flush(NOW))
    assert channel.sent[0].channel.urls == ("tgram://123:token/456",)


def test_a_missing_channel_kind_is_retried_not_dropped(store):
    enqueue(store)
    assert asyncio.run(Outbox(store, {}, []).flush(NOW)).retrying == 1
    (pending,) = store.deliveries("pending")
    assert pending.last_error == "no 'webhook' channel configured"


def test_every_guarantee_in_docs_delivery_names_tests_that_exist():
    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "delivery.md").read_text(encoding="utf-8")
    guarantees = [line for line in doc.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(guarantees) >= 10
    for line in guarantees:
        named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", line)
        assert named, f"a guarantee without a test: {line[:80]}"
        for path, name in named:
            source = (root / path).read_text(encoding="utf-8")
            assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name} is gone"


class HangingChannel:
    """A channel whose send starts and never confirms."""

    kind = "webhook"

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(self, delivery: Delivery) -> None:
        self.started.set()
        await asyncio.Event().wait()


def test_a_send_cancelled_at_shutdown_is_left_pending_and_uncounted(store):
    enqueue(store)
    channel = HangingChannel()
    box = Outbox(store, {"webhook": channel}, [])

    async def shut_down_mid_send() -> None:
        flushing = asyncio.create_task(box.flush(NOW))
        await channel.started.wait()
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing

    asyncio.run(shut_down_mid_send())
    (pending,) = store.deliveries("pending")
    assert (pending.attempts, pending.last_error, pending.next_attempt_at) == (0, None, NOW)
    assert store.deliveries("sent") == store.deliveries("dead") == []
    # The next start sends it.
    assert asyncio.run(outbox(store, ScriptedChannel([None])).flush(NOW)).sent == 1


def test_a_send_past_the_deadline_is_a_retryable_failure(store):
    enqueue(store)
    box = Outbox(
        store, {"webhook": HangingChannel()}, [], settings=DeliverySettings(send_timeout_s=0.2)
    )
    # The test's own bound: without the outbox's deadline this would wait forever.
    assert asyncio.run(asyncio.wait_for(box.flush(NOW), 5)).retrying == 1
    (pending,) = store.deliveries("pending")
    assert pending.attempts == 1
    assert pending.last_error == "webhook: no confirmation within 0.2 s (delivery.send_timeout)"


OLD_ROWS = {
    # What the code before typed channel targets wrote: every kind's fields, flat.
    "folder": {
        "kind": "folder",
        "folder": "var/outbox",
        "email_to": [],
        "webhook_url": None,
        "webhook_format": "standard",
        "apprise_urls": [],
    },
    "webhook": {
        "kind": "webhook",
        "folder": None,
        "email_to": [],
        "webhook_url": "http://127.0.0.1:9/hook",
        "webhook_format": "standard",
        "apprise_urls": [],
    },
}


@pytest.mark.parametrize("kind", ["folder", "webhook"])
def test_a_row_written_by_the_old_code_still_loads_and_sends(sqlite_store, tmp_path, kind):
    # The old code only ever wrote SQLite files.
    store = sqlite_store
    enqueue(store)
    raw = sqlite3.connect(tmp_path / "monitor.db")
    try:
        with raw:
            raw.execute("UPDATE deliveries SET channel = ?", (json.dumps(OLD_ROWS[kind]),))
    finally:
        raw.close()
    (loaded,) = store.deliveries("pending")
    if kind == "folder":
        assert loaded.channel == FolderTarget(folder="var/outbox")
        channels = {"folder": FolderChannel(tmp_path)}
        assert asyncio.run(Outbox(store, channels, []).flush(NOW)).sent == 1
        assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 1
    else:
        assert loaded.channel == WebhookTarget(url="http://127.0.0.1:9/hook")
        channel = ScriptedChannel([None])
        assert asyncio.run(outbox(store, channel).flush(NOW)).sent == 1
        assert channel.sent[0].channel.secret == HOOK_SECRET  # found in the live config
