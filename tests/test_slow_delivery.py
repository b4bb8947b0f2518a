"""A mail server or webhook receiver that accepts the connection and then says nothing stalls
neither polling, nor health, nor shutdown; the delivery it held stays owed and goes out on
the next start, once the server answers (docs/delivery.md, guarantee 15)."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import json
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from monitor.deliver.channels import EmailChannel, WebhookChannel
from monitor.deliver.outbox import FlushReport, Outbox
from monitor.metrics import Metrics
from monitor.model import Delivery, Message, RuleSet
from monitor.pipeline.deliver import Deliverer
from monitor.schedule import PollPolicy
from monitor.settings import DeliverySettings, SmtpSettings
from monitor.store.sqlite import Store
from monitor.targets import EmailTarget, WebhookTarget
from tests.conftest import FeedServer, run_monitor
from tests.test_service import Daemon, get, wait_for

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STOP_BUDGET_S = 3.0


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never finishes a reply until closed.

    Silent by default; with `trickle`, it sends those bytes one every 2 s once the client
    has spoken, so that no per-read timeout ever fires (only a deadline on the whole send).
    """

    def __init__(self, *, trickle: bytes = b"") -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.trickle = trickle
        self.connections: list[socket.socket] = []
        self.connected = threading.Event()
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)
            self.connected.set()
            if self.trickle:
                thread = threading.Thread(target=self._dribble, args=(connection,), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _dribble(self, connection: socket.socket) -> None:
        # The client may hang up at any time (its deadline, its shutdown): that ends the reply.
        with contextlib.suppress(OSError):
            connection.recv(65536)
            for byte in self.trickle:
                if self._closing.wait(2.0):
                    return
                connection.sendall(bytes([byte]))

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        for thread in self._threads:
            thread.join()
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


# An HTTP status line, one byte every 2 s: 34 s before the receiver has even said "200".
SLOW_STATUS_LINE = b"HTTP/1.1 200 OK\r\n"


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    opened = Store(tmp_path / "monitor.db")
    yield opened
    opened.close()


def enqueue(store: Store, target: EmailTarget | WebhookTarget, delivery_id: str = "d1") -> None:
    message = Message("subject", "text", "<p>html</p>", b'{"schema": "monitor.digest/1"}')
    store.enqueue([Delivery(delivery_id, "desk", target, message, ("a",), NOW)], ["a"])


def hanging_channel(kind: str, port: int) -> tuple[dict, EmailTarget | WebhookTarget]:
    """A channel whose own timeouts are far longer than the outbox's send deadline."""
    if kind == "email":
        settings = SmtpSettings(host="127.0.0.1", port=port, timeout_s=60)
        return {"email": EmailChannel(settings)}, EmailTarget(to=("desk@example.org",))
    channel = WebhookChannel(timeout_s=60)
    return {"webhook": channel}, WebhookTarget(
        url=f"http://127.0.0.1:{port}/hook", allow_private=True
    )


# --- in process: the event loop keeps running, the deadline holds -------------------


@pytest.mark.parametrize("kind", ["email", "webhook"])
def test_a_silent_server_neither_blocks_the_loop_nor_outlives_the_send_deadline(
    hanging, store, kind
):
    channels, target = hanging_channel(kind, hanging.port)
    enqueue(store, target)
    box = Outbox(
        store, channels, [], settings=DeliverySettings(send_timeout_s=1.0), rng=random.Random(0)
    )
    ticks: list[float] = []

    async def tick_while(flushing: asyncio.Task) -> None:
        while not flushing.done():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    async def run() -> FlushReport:
        flushing = asyncio.create_task(box.flush(NOW))
        await tick_while(flushing)
        return await flushing

    started = time.monotonic()
    report = asyncio.run(run())
    elapsed_s = time.monotonic() - started
    assert hanging.connected.is_set()
    assert report.retrying == 1
    assert 1.0 <= elapsed_s < 2.0
    # Another coroutine ran all along: at least 15 of the 20 ticks a free loop makes in 1 s.
    assert len(ticks) >= 15
    assert max(later - earlier for earlier, later in itertools.pairwise(ticks)) < 0.5
    (pending,) = store.deliveries("pending")
    assert pending.attempts == 1
    assert "no confirmation within 1 s" in (pending.last_error or "")


class SlowChannel:
    """Confirms each send after a pause, and counts the sends."""

    kind = "email"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, delivery: Delivery) -> None:
        await asyncio.sleep(0.3)
        self.sent.append(delivery.id)


def test_two_deliver_calls_at_once_send_a_row_once(store):
    channel = SlowChannel()
    enqueue(store, EmailTarget(to=("desk@example.org",)))
    deliverer = Deliverer(
        store=store,
        renderer=None,  # type: ignore[arg-type]  # nothing is rendered: no subscription
        outbox=Outbox(store, {"email": channel}, []),
        feeds=(),
        subscriptions=(),
        rules=RuleSet(rules=()),
        metrics=Metrics(),
        poll_policy=PollPolicy(),
    )

    async def both() -> list:
        return await asyncio.gather(deliverer.deliver_due(NOW), deliverer.deliver_due(NOW))

    first, second = asyncio.run(both())
    assert channel.sent == ["d1"]
    assert (first.flushed.sent, second.flushed) == (1, FlushReport())
    assert [d.status for d in store.deliveries()] == ["sent"]


# --- the daemon, as an operator runs it ------------------------------------------------

PULSE_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Pulse</title><link>https://pulse.example/</link>
<description>a feed with nothing to match, polled to show polling goes on</description>
</channel></rss>
"""


def configure(project: Path, feeds: FeedServer, kind: str, port: int) -> None:
    """Feeds over HTTP every 10 s, immediate alerts to the `kind` receiver on `port`."""
    (project / "seeds" / "feeds" / "pulse.xml").write_text(PULSE_FEED, "utf-8")
    seed = project / "seeds" / "feeds" / "seed-fr.xml"
    # The fixture asks to be cached for 15 minutes (<ttl>); the daemon would honour it.
    seed.write_text(re.sub(r"<ttl>\d+</ttl>", "", seed.read_text("utf-8")), "utf-8")
    config = project / "config.yaml"
    text = config.read_text("utf-8")
    text = text.replace("url: seeds/", f"allow_private: true\n    url: {feeds.base}/seeds/")
    text = text.replace("every: 5m", "every: 10s")
    pulse = f"  - id: pulse\n    allow_private: true\n    url: {feeds.base}/seeds/feeds/pulse.xml\n"
    text = text.replace("\nsubscriptions:", f"{pulse}    every: 10s\n\nsubscriptions:", 1)
    if kind == "email":
        target = "{email: [desk@example.org]}"
        text += f"\nsmtp: {{host: 127.0.0.1, port: {port}, timeout_s: 120}}\n"
    else:
        target = f"{{webhook: {{url: 'http://127.0.0.1:{port}/hooks/desk', allow_private: true}}}}"
    text = text.replace("to: {folder: var/outbox}", f"to: {target}", 1)
    text += (
        "\nhealth: {listen: '127.0.0.1:0'}\n"
        f"stop_budget: {STOP_BUDGET_S:g}s\n"
        "delivery: {send_timeout: 120s}\n"
    )
    config.write_text(text, "utf-8")


def pulse_polls(feeds: FeedServer) -> int:
    return sum(path.endswith("/pulse.xml") for path in list(feeds.requested))


def outbox_status(project: Path) -> dict:
    result = run_monitor(project, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["outbox"]


class AnsweringReceiver:
    """The real receiver of `kind` on `port`: records the delivery id of what it accepts."""

    def __init__(self, kind: str, port: int) -> None:
        self.kind = kind
        self.ids: list[str] = []
        if kind == "email":
            self.smtp = Controller(self, hostname="127.0.0.1", port=port)
            self.smtp.start()
            return
        ids = self.ids

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                ids.append(self.headers["webhook-id"])
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,))
        self.thread.start()

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.ids.append(str(message["X-Monitor-Delivery"]))
        return "250 OK queued"

    def close(self) -> None:
        if self.kind == "email":
            self.smtp.stop()
        else:
            self.http.shutdown()
            self.http.server_close()
            self.thread.join()


@pytest.mark.parametrize("kind", ["email", "webhook"])
def test_a_silent_receiver_stalls_neither_polling_nor_health_nor_shutdown(project, kind):
    # The SMTP server never greets (the client waits smtp.timeout_s, 120 s here); the webhook
    # receiver dribbles its status line, which defeats the 10 s per-read timeout: in both
    # cases only a deadline or shutdown ends the send.
    hanging = HangingServer(trickle=SLOW_STATUS_LINE if kind == "webhook" else b"")
    try:
        check_a_silent_receiver(project, kind, hanging)
    finally:
        hanging.close()


def check_a_silent_receiver(project: Path, kind: str, hanging: HangingServer) -> None:
    feeds = FeedServer(project)
    configure(project, feeds, kind, hanging.port)
    daemon = Daemon(project)
    try:
        assert hanging.connected.wait(120), "the daemon never tried to deliver"
        hung_at = time.monotonic()
        health_url = daemon.health_url()
        polls_when_hung = pulse_polls(feeds)
        # While the receiver says nothing: health answers at once, and polling goes on (one
        # more poll of the pulse feed, due every 10 s, proves it).
        while pulse_polls(feeds) < polls_when_hung + 1:
            asked_at = time.monotonic()
            status, body = get(health_url)
            assert time.monotonic() - asked_at < 1.0
            assert status == 200, body
            assert time.monotonic() - hung_at < 60, "the pulse feed was not polled again"
            time.sleep(0.5)
        assert "delivery.sent" not in daemon.log() and "delivery.failed" not in daemon.log()

        stopping_at = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        # The daemon's run ends within the budget (what Service.stop() awaits in process)...
        wait_for(lambda: "service.stopped" in daemon.log(), STOP_BUDGET_S + 1, "the stop")
        stopped_s = time.monotonic() - stopping_at
        # ...and the process then exits cleanly, once the NLP workers and the store are closed.
        assert daemon.process.wait(timeout=30) == 0
        exited_s = time.monotonic() - stopping_at
        assert stopped_s < STOP_BUDGET_S + 1 and exited_s < STOP_BUDGET_S + 5, (stopped_s, exited_s)
    finally:
        daemon.kill()
        feeds.close()
    assert "service.stopped" in daemon.log()
    assert "Traceback" not in daemon.log()

    # Cut off mid-send: still owed, not counted as an attempt, not sent, not dead.
    outbox = outbox_status(project)
    owed = [row["id"] for row in outbox["pending"]]
    assert owed and outbox["sent"] == 0 and outbox["dead"] == []
    assert {row["attempts"] for row in outbox["pending"]} == {0}

    # The receiver answers now: the next start sends what was owed, each delivery once.
    hanging.close()
    receiver = AnsweringReceiver(kind, hanging.port)
    try:
        restarted = run_monitor(project, "run", "--once")
    finally:
        receiver.close()
    assert restarted.returncode == 0, restarted.stderr
    # Articles stored but not yet analysed when the stop came are matched now, and may bring
    # an alert of their own: what was owed must be among what arrives, and nothing twice.
    assert set(owed) <= set(receiver.ids)
    assert len(receiver.ids) == len(set(receiver.ids))
    outbox = outbox_status(project)
    assert outbox["pending"] == [] and outbox["sent"] == len(receiver.ids)
