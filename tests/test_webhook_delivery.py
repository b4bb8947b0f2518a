"""Webhooks (and Apprise services) through the whole delivery path: durable outbox → signed
POST → a real HTTP receiver on 127.0.0.1 that verifies each signature with the
`standardwebhooks` library, as a receiver would, and answers as scripted."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from monitor.deliver.channels import (
    AppriseChannel,
    EndpointGone,
    WebhookChannel,
    redact_channel,
    redact_url,
)
from monitor.deliver.outbox import Outbox
from monitor.deliver.render import Renderer
from monitor.errors import DeliveryError
from monitor.model import Delivery, Digest, Message, Subscription
from monitor.store.sqlite import Store
from monitor.targets import AppriseTarget, ChannelTarget, WebhookTarget
from tests.test_channels import SECRET
from tests.test_render import TEMPLATES, hostile_entry, security_entry

NOW = datetime(2024, 7, 26, 6, 0, tzinfo=UTC)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body_bytes: int = 2


def is_authentic(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, with the Standard Webhooks library's normal API."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


class ScriptedReceiver(ThreadingHTTPServer):
    """Checks each request's signature, answers from `script` (then 200), keeps one event per id."""

    daemon_threads = True

    def __init__(self, address: str = "127.0.0.1", *, secret: str = SECRET) -> None:
        super().__init__((address, 0), ReceiverHandler)
        self.secret = secret
        self.script: list[Reply] = []
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []
        self.processed: dict[str, bytes] = {}  # webhook-id → body, only for 2xx answers

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/hooks/t0ken-in-the-path"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: ScriptedReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {key.lower(): value for key, value in self.headers.items()}
        is_valid = is_authentic(self.server.secret, headers, body)
        self.server.requests.append((headers, body, is_valid))
        reply = self.server.script.pop(0) if self.server.script else Reply()
        time.sleep(reply.delay_s)
        status = reply.status if is_valid else 401
        if 200 <= status < 300:
            self.server.processed.setdefault(headers["webhook-id"], body)
        self.send_response(status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(reply.body_bytes))
        self.end_headers()
        # The sender stops reading past its cap, as it should.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(b"x" * reply.body_bytes)

    def log_message(self, format: str, *args: object) -> None:
        pass


class JsonSink(BaseHTTPRequestHandler):
    """What Apprise's json:// service posts to; answers with `server.status`."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.server.received.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[ScriptedReceiver]:
    yield from serve(ScriptedReceiver())  # type: ignore[misc]


@pytest.fixture
def store(store_url) -> Iterator[Store]:
    """A new store on each backend (the outbox's SQL runs on both)."""
    opened = Store(store_url)
    yield opened
    opened.close()


def hook(receiver: ScriptedReceiver, **extra: str) -> WebhookTarget:
    # A loopback receiver: the address guard lets it through only when told to.
    return WebhookTarget(url=receiver.url, secret=SECRET, allow_private=True, **extra)


def digest() -> Digest:
    return Digest("security-desk", "immediate", NOW, "Europe/Paris", (security_entry(),))


def enqueue(store: Store, spec: ChannelTarget, *, delivery_id: str, message: Message) -> None:
    delivery = Delivery(
        id=delivery_id,
        subscription_id="security-desk",
        channel=redact_channel(spec),  # what the store may keep: no secret
        message=message,
        article_keys=(delivery_id,),
        created_at=NOW,
    )
    store.enqueue([delivery], [delivery_id])


def outbox(store: Store, spec: ChannelTarget, **options) -> Outbox:
    subscription = Subscription(id="security-desk", rules=("*",), channels=(spec,))
    channels = {
        # Signed on the real clock: the library refuses timestamps five minutes off its own.
        "webhook": WebhookChannel(timeout_s=options.pop("timeout_s", 5.0)),
        "apprise": AppriseChannel(),
    }
    return Outbox(store, channels, [subscription], **options)


@pytest.fixture(scope="module")
def message() -> Message:
    return Renderer(TEMPLATES).render(digest())


def test_500_500_200_is_one_processed_event_under_one_id(receiver, store, message):
    receiver.script = [Reply(500), Reply(500), Reply(200)]
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    box = outbox(store, spec)
    assert asyncio.run(box.flush(NOW)).retrying == 1
    assert asyncio.run(box.flush(NOW + timedelta(seconds=7))).retrying == 1
    assert asyncio.run(box.flush(NOW + timedelta(minutes=7))).sent == 1
    assert asyncio.run(box.flush(NOW + timedelta(days=1))).sent == 0

    assert [is_valid for _, _, is_valid in receiver.requests] == [True, True, True]
    assert {headers["webhook-id"] for headers, _, _ in receiver.requests} == {"hook-1"}
    assert {body for _, body, _ in receiver.requests} == {message.payload}
    assert list(receiver.processed) == ["hook-1"]
    assert json.loads(receiver.processed["hook-1"])["schema"] == "monitor.digest/1"


def http_date_in(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "wait_s"),
    [
        (429, lambda: "120", 120),
        (503, lambda: http_date_in(3600), 3600),
        (503, lambda: "999999999", 86400),  # capped at a day
    ],
    ids=["seconds", "http-date", "capped"],
)
def test_retry_after_is_honoured_in_both_forms(
    receiver, store, message, status, retry_after, wait_s
):
    value = retry_after()
    receiver.script = [Reply(status, {"Retry-After": value})]
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    box = outbox(store, spec)
    assert asyncio.run(box.flush(NOW)).retrying == 1
    (pending,) = store.deliveries("pending")
    # An HTTP date has whole seconds and is read against the real clock: up to 2 s less.
    early_s = 0 if value.isdigit() else 2
    waited = pending.next_attempt_at - NOW
    assert timedelta(seconds=wait_s - early_s) <= waited <= timedelta(seconds=wait_s)
    assert asyncio.run(box.flush(NOW + timedelta(seconds=wait_s - early_s - 1))).sent == 0
    assert asyncio.run(box.flush(NOW + timedelta(seconds=wait_s))).sent == 1


def test_410_disables_the_endpoint_and_tells_the_operator(receiver, store, message):
    receiver.script = [Reply(410)]
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    enqueue(store, spec, delivery_id="hook-2", message=message)
    told: list[tuple[str, EndpointGone]] = []
    box = outbox(
        store, spec, on_endpoint_gone=lambda delivery, exc: told.append((delivery.id, exc))
    )
    assert asyncio.run(box.flush(NOW)).dead == 2
    assert len(receiver.requests) == 1  # nothing more goes to a gone endpoint
    [(delivery_id, gone)] = told
    assert delivery_id == "hook-1"
    assert gone.url == receiver.url and gone.is_permanent
    errors = [delivery.last_error or "" for delivery in store.deliveries("dead")]
    assert any("is gone (410 status code)" in error for error in errors)
    assert any("was disabled after a 410 Gone" in error for error in errors)
    assert not any("t0ken" in error for error in errors)


def test_a_restarted_outbox_keeps_a_disabled_endpoint_disabled(receiver, store, message):
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    box = outbox(store, spec, disabled_webhook_urls=[receiver.url])
    assert asyncio.run(box.flush(NOW)).dead == 1
    assert receiver.requests == []


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_permanent(receiver, store, message, status):
    receiver.script = [Reply(status)]
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    box = outbox(store, spec)
    assert asyncio.run(box.flush(NOW)).dead == 1
    assert asyncio.run(box.flush(NOW + timedelta(days=1))).dead == 0
    assert len(receiver.requests) == 1


def test_a_receiver_that_does_not_answer_in_time_is_retried(receiver, store, message):
    receiver.script = [Reply(200, delay_s=1.0)]
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    box = outbox(store, spec, timeout_s=0.3)
    assert asyncio.run(box.flush(NOW)).retrying == 1
    (pending,) = store.deliveries("pending")
    assert "did not answer within 0.3 s" in (pending.last_error or "")
    assert asyncio.run(box.flush(NOW + timedelta(seconds=7))).sent == 1
    assert len(receiver.processed) == 1  # the receiver dedupes the late first copy by id


def test_a_huge_response_body_is_not_read(receiver, store, message):
    receiver.script = [Reply(200, body_bytes=5 * 1024 * 1024)]
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    started = time.monotonic()
    assert asyncio.run(outbox(store, spec).flush(NOW)).sent == 1
    assert time.monotonic() - started < 5


def test_a_crash_after_the_receiver_accepted_resends_with_the_same_id(receiver, tmp_path, message):
    class Crash(BaseException):
        pass

    class CrashingStore(Store):
        def mark_sent(self, delivery_id: str, now: datetime) -> None:
            raise Crash(delivery_id)

    spec = hook(receiver)
    doomed = CrashingStore(tmp_path / "monitor.db")
    try:
        enqueue(doomed, spec, delivery_id="hook-1", message=message)
        with pytest.raises(Crash):
            asyncio.run(outbox(doomed, spec).flush(NOW))
    finally:
        doomed.close()
    restarted = Store(tmp_path / "monitor.db")
    try:
        assert asyncio.run(outbox(restarted, spec).flush(NOW)).sent == 1
        assert asyncio.run(outbox(restarted, spec).flush(NOW + timedelta(days=1))).sent == 0
    finally:
        restarted.close()
    assert [headers["webhook-id"] for headers, _, _ in receiver.requests] == ["hook-1", "hook-1"]
    assert list(receiver.processed) == ["hook-1"]


def test_a_slack_compatible_body_is_signed_and_escaped(receiver, store):
    spec = hook(receiver, format="slack")
    hostile = Digest("desk", "immediate", NOW, "UTC", (security_entry(), hostile_entry()))
    slack = Renderer(TEMPLATES).render(hostile, payload_format="slack")
    enqueue(store, spec, delivery_id="hook-1", message=slack)
    assert asyncio.run(outbox(store, spec).flush(NOW)).sent == 1
    [(_, body, is_valid)] = receiver.requests
    assert is_valid
    document = json.loads(body)
    assert document["blocks"][0]["type"] == "header"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}" in document["text"]
    assert "<script>" not in body.decode()


def test_a_received_delivery_verifies_with_the_library_and_any_tampering_fails(
    receiver, store, message
):
    spec = hook(receiver)
    enqueue(store, spec, delivery_id="hook-1", message=message)
    assert asyncio.run(outbox(store, spec).flush(NOW)).sent == 1
    [(headers, body, is_valid)] = receiver.requests
    assert is_valid
    assert Webhook(SECRET).verify(body, headers)["subscription"] == "security-desk"

    timestamp = int(headers["webhook-timestamp"])
    forgeries = {
        "body": (body.replace(b"security-desk", b"security-dusk"), headers),
        "timestamp": (body, {**headers, "webhook-timestamp": str(timestamp - 60)}),
        "id": (body, {**headers, "webhook-id": "hook-2"}),
    }
    for what, (forged_body, forged_headers) in forgeries.items():
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(SECRET).verify(forged_body, forged_headers)
        assert not is_authentic(SECRET, forged_headers, forged_body), what
    other_secret = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    assert not is_authentic(other_secret, headers, body)


@pytest.mark.parametrize("payload_format", ["standard", "slack"])
@pytest.mark.parametrize(("kind", "event"), [("immediate", "alert"), ("digest", "digest")])
def test_the_event_header_says_alert_or_digest_in_every_body_format(
    receiver, store, payload_format, kind, event
):
    spec = hook(receiver, format=payload_format)
    made = Digest("security-desk", kind, NOW, "Europe/Paris", (security_entry(),))
    rendered = Renderer(TEMPLATES).render(made, payload_format=payload_format)
    enqueue(store, spec, delivery_id="hook-1", message=rendered)
    assert asyncio.run(outbox(store, spec).flush(NOW)).sent == 1
    [(headers, body, is_valid)] = receiver.requests
    assert is_valid
    assert headers["x-monitor-event"] == event
    if payload_format == "standard":
        assert json.loads(body)["type"] == event


# --- apprise -------------------------------------------------------------------------------


@pytest.fixture
def json_sink() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), JsonSink)
    server.received = []  # type: ignore[attr-defined]
    server.status = 200  # type: ignore[attr-defined]
    yield from serve(server)


def test_apprise_services_get_the_subject_and_text(json_sink, store, message):
    port = json_sink.server_address[1]
    url = f"json://127.0.0.1:{port}/notify/s3cret-token"
    spec = AppriseTarget(urls=(url,), allow_private=True)
    enqueue(store, spec, delivery_id="apprise-1", message=message)
    (stored,) = store.deliveries()
    assert "s3cret-token" not in json.dumps(stored.channel.urls)
    assert asyncio.run(outbox(store, spec).flush(NOW)).sent == 1
    [(path, document)] = json_sink.received  # type: ignore[attr-defined]
    assert path == "/notify/s3cret-token"
    assert document["title"] == message.subject
    assert document["message"] == message.text.rstrip()  # Apprise trims trailing blank lines


def test_apprise_failures_are_retried_without_leaking_the_url(json_sink, store, message):
    json_sink.status = 500  # type: ignore[attr-defined]
    url = f"json://127.0.0.1:{json_sink.server_address[1]}/notify/s3cret-token"
    spec = AppriseTarget(urls=(url,), allow_private=True)
    enqueue(store, spec, delivery_id="apprise-1", message=message)
    assert asyncio.run(outbox(store, spec).flush(NOW)).retrying == 1
    (pending,) = store.deliveries("pending")
    assert pending.last_error == f"apprise: 1 of 1 services failed: '{redact_url(url)}'"
    assert "s3cret" not in pending.last_error


def test_an_unknown_apprise_url_is_permanent():
    spec = AppriseTarget(urls=("nosuchservice://token",))
    delivery = Delivery("d", "s", spec, Message("s", "t", "h", b"{}"), ("a",), NOW)
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(AppriseChannel().send(delivery))
    assert caught.value.is_permanent
    assert "('nosuchservice://…') is not a service Apprise knows" in str(caught.value)
    assert "token" not in str(caught.value)


# --- the address guard ---------------------------------------------------------------------
# 127.0.0.3 stands in for a cloud metadata or intranet address: a real receiver listens there.


@pytest.fixture
def metadata_receiver() -> Iterator[ScriptedReceiver]:
    yield from serve(ScriptedReceiver("127.0.0.3"))  # type: ignore[misc]


def send(channel: WebhookChannel | AppriseChannel, target: ChannelTarget) -> None:
    delivery = Delivery("d", "security-desk", target, Message("s", "t", "h", b"{}"), ("a",), NOW)
    asyncio.run(channel.send(delivery))


def test_a_webhook_on_a_private_address_is_refused_and_never_reached(metadata_receiver):
    target = WebhookTarget(url=metadata_receiver.url, secret=SECRET)
    with pytest.raises(DeliveryError) as caught:
        send(WebhookChannel(timeout_s=5), target)
    assert caught.value.is_permanent
    assert "resolves to non-public address '127.0.0.3'" in str(caught.value)
    assert "set allow_private on the webhook" in str(caught.value)
    assert "t0ken" not in str(caught.value)
    assert metadata_receiver.requests == []


@pytest.mark.parametrize("spelling", ["2130706435", "0x7f.0.0.3", "127.3", "[::ffff:127.0.0.3]"])
def test_a_webhook_host_in_another_spelling_of_a_private_address_is_refused(
    metadata_receiver, spelling
):
    port = metadata_receiver.server_address[1]
    with pytest.raises(DeliveryError, match="non-public address") as caught:
        send(WebhookChannel(timeout_s=5), WebhookTarget(url=f"http://{spelling}:{port}/hook"))
    assert caught.value.is_permanent
    assert metadata_receiver.requests == []


def test_a_webhook_name_that_resolves_to_a_private_address_is_refused(metadata_receiver):
    port = metadata_receiver.server_address[1]

    async def rebinding_dns(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "127.0.0.3"]  # one public answer does not make it safe

    channel = WebhookChannel(timeout_s=5, resolver=rebinding_dns)
    with pytest.raises(DeliveryError, match=r"host 'hooks\.example\.org' resolves to non-public"):
        send(channel, WebhookTarget(url=f"http://hooks.example.org:{port}/hook"))
    assert metadata_receiver.requests == []


def test_allow_private_lets_an_operator_reach_their_own_receiver(metadata_receiver):
    target = WebhookTarget(url=metadata_receiver.url, secret=SECRET, allow_private=True)
    send(WebhookChannel(timeout_s=5), target)
    [(_, _, is_valid)] = metadata_receiver.requests
    assert is_valid


@pytest.fixture
def metadata_sink() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.3", 0), JsonSink)
    server.received = []  # type: ignore[attr-defined]
    server.status = 200  # type: ignore[attr-defined]
    yield from serve(server)


@pytest.mark.parametrize("host", ["127.0.0.3", "2130706435", "localhost"])
def test_an_apprise_url_on_a_private_host_is_refused_and_never_reached(metadata_sink, host):
    url = f"json://{host}:{metadata_sink.server_address[1]}/notify/s3cret-token"
    with pytest.raises(DeliveryError) as caught:
        send(AppriseChannel(timeout_s=5), AppriseTarget(urls=(url,)))
    assert caught.value.is_permanent
    assert "non-public address" in str(caught.value)
    assert "set allow_private on the apprise target" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert metadata_sink.received == []  # type: ignore[attr-defined]


def test_an_apprise_name_that_resolves_to_a_private_address_is_refused(metadata_sink):
    async def private_dns(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    url = f"json://notify.example.org:{metadata_sink.server_address[1]}/notify"
    with pytest.raises(DeliveryError, match=r"host 'notify\.example\.org' resolves to non-public"):
        send(AppriseChannel(timeout_s=5, resolver=private_dns), AppriseTarget(urls=(url,)))


def test_allow_private_lets_apprise_reach_a_private_service(metadata_sink):
    url = f"json://127.0.0.3:{metadata_sink.server_address[1]}/notify"
    send(AppriseChannel(timeout_s=5), AppriseTarget(urls=(url,), allow_private=True))
    [(path, _)] = metadata_sink.received  # type: ignore[attr-defined]
    assert path == "/notify"
