"""The folder, email and webhook channels, against real files and loopback servers."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.app import channel_errors
from monitor.config import load_config
from monitor.deliver.channels import (
    KINDS,
    ChannelContext,
    EmailChannel,
    EndpointGone,
    FolderChannel,
    WebhookChannel,
    build_channels,
    live_target,
    payload_format,
    redact_channel,
)
from monitor.deliver.channels.mime import build_email
from monitor.errors import DeliveryError
from monitor.model import Delivery, Message
from monitor.settings import SmtpSettings
from monitor.targets import (
    AppriseTarget,
    ChannelTarget,
    EmailTarget,
    FolderTarget,
    WebhookTarget,
    target_from_json,
    target_to_json,
)
from tests.conftest import LoopbackSMTP

DELIVERY_ID = "3f9a2c71e0b84d55a1c2"
PAYLOAD = '{"schema":"monitor.digest/1","type":"alert","articles":[{"title":"Sécurité"}]}'


def make_delivery(
    channel: ChannelTarget, *, subject: str = "[monitor] JO 2024: Sécurité"
) -> Delivery:
    message = Message(
        subject=subject,
        text="Sécurité des JO 2024\nhttps://news.example.fr/a\n",
        html="<p>Sécurité des <mark>JO 2024</mark></p>",
        payload=PAYLOAD.encode("utf-8"),
    )
    return Delivery(
        id=DELIVERY_ID,
        subscription_id="security-desk",
        channel=channel,
        message=message,
        article_keys=("a",),
        created_at=datetime(2024, 7, 26, 6, 0, 5, tzinfo=UTC),
    )


def parse_email(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def assert_text_and_html(message: EmailMessage) -> None:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert "Sécurité des JO 2024" in plain.get_content()
    assert "<mark>JO 2024</mark>" in html.get_content()


# --- mime ----------------------------------------------------------------------


def test_hostile_subject_cannot_inject_headers():
    delivery = make_delivery(
        EmailTarget(to=()), subject="Alerte\r\nBcc: x@y.example\x07" + "é" * 400
    )
    now = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
    message = build_email(delivery, from_addr="m@example.org", to_addrs=["d@example.org"], now=now)
    parsed = parse_email(message.as_bytes())
    assert parsed["Bcc"] is None
    assert parsed["Subject"].startswith("Alerte Bcc: x@y.example é")
    assert len(parsed["Subject"]) <= 250
    assert parsed["Message-ID"] == f"<{DELIVERY_ID}@example.org>"
    assert parsed["X-Monitor-Delivery"] == DELIVERY_ID


# --- folder --------------------------------------------------------------------


def test_folder_writes_eml_and_html_once(tmp_path):
    channel = FolderChannel(tmp_path)
    delivery = make_delivery(FolderTarget(folder="outbox/desk"))
    asyncio.run(channel.send(delivery))
    folder = tmp_path / "outbox" / "desk"
    stem = f"20240726T060005-security-desk-{DELIVERY_ID[:12]}"
    assert sorted(path.name for path in folder.iterdir()) == [f"{stem}.eml", f"{stem}.html"]

    parsed = parse_email((folder / f"{stem}.eml").read_bytes())
    assert_text_and_html(parsed)
    assert parsed["To"] == "folder@localhost"
    assert parsed["Subject"] == "[monitor] JO 2024: Sécurité"
    assert (folder / f"{stem}.html").read_text("utf-8") == delivery.message.html

    asyncio.run(channel.send(delivery))
    assert len(list(folder.iterdir())) == 2


def test_folder_absolute_path_and_missing_folder(tmp_path):
    target = tmp_path / "elsewhere"
    asyncio.run(
        FolderChannel(tmp_path / "base").send(make_delivery(FolderTarget(folder=str(target))))
    )
    assert len(list(target.glob("*.eml"))) == 1
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(FolderChannel(tmp_path).send(make_delivery(FolderTarget(folder=""))))
    assert caught.value.is_permanent


# --- email ---------------------------------------------------------------------


class RecordingHandler:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.data_reply: str | None = None
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply is not None:
            return self.data_reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, SmtpSettings]]:
    handler = RecordingHandler()
    controller = LoopbackSMTP(handler)
    controller.start()
    try:
        yield (
            handler,
            SmtpSettings(
                host="127.0.0.1", port=controller.port, from_addr="monitor@example.org", timeout_s=5
            ),
        )
    finally:
        controller.stop()


DESK = ("desk@example.org", "chief@example.org", "night@example.org")
NOW = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)


def email_delivery() -> Delivery:
    return make_delivery(EmailTarget(to=DESK))


def test_email_is_received_with_stable_ids(smtp_server):
    handler, settings = smtp_server
    asyncio.run(EmailChannel(settings, clock=lambda: NOW).send(email_delivery()))
    [(mail_from, rcpt_tos, content)] = handler.received
    assert mail_from == "monitor@example.org"
    assert rcpt_tos == list(DESK)
    parsed = parse_email(content)
    assert_text_and_html(parsed)
    assert parsed["Message-ID"] == f"<{DELIVERY_ID}@example.org>"
    assert parsed["X-Monitor-Delivery"] == DELIVERY_ID
    assert parsed["From"] == "monitor@example.org"
    assert parsed["To"] == ", ".join(DESK)
    assert parsed["Subject"] == "[monitor] JO 2024: Sécurité"
    assert parsed["Date"].datetime == NOW


def test_email_4xx_is_retryable(smtp_server):
    handler, settings = smtp_server
    handler.data_reply = "451 4.3.0 try again later"
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(EmailChannel(settings).send(email_delivery()))
    assert not caught.value.is_permanent
    assert "451" in str(caught.value)


def test_email_5xx_is_permanent(smtp_server):
    handler, settings = smtp_server
    handler.data_reply = "554 5.7.1 message rejected"
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(EmailChannel(settings).send(email_delivery()))
    assert caught.value.is_permanent
    assert "554" in str(caught.value)


def test_email_partial_refusal_still_delivers(smtp_server, caplog):
    handler, settings = smtp_server
    handler.refused = {"chief@example.org"}
    asyncio.run(EmailChannel(settings).send(email_delivery()))
    [(_, rcpt_tos, _)] = handler.received
    assert rcpt_tos == ["desk@example.org", "night@example.org"]
    assert "'chief@example.org' (550" in caplog.text


def test_email_all_refused_is_permanent(smtp_server):
    handler, settings = smtp_server
    handler.refused = set(DESK)
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(EmailChannel(settings).send(email_delivery()))
    assert caught.value.is_permanent
    assert handler.received == []


def test_email_refuses_clear_text_when_starttls_is_missing(smtp_server):
    handler, settings = smtp_server
    strict = SmtpSettings(host=settings.host, port=settings.port, starttls=True, timeout_s=5)
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(EmailChannel(strict).send(email_delivery()))
    assert caught.value.is_permanent
    assert "STARTTLS" in str(caught.value)
    assert handler.received == []


def test_email_connection_refused_is_retryable():
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as placeholder:
        port = placeholder.server_address[1]
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(
            EmailChannel(SmtpSettings(host="127.0.0.1", port=port, timeout_s=2)).send(
                email_delivery()
            )
        )
    assert not caught.value.is_permanent


# --- webhook -------------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"a shared secret of 32 bytes.....").decode()


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """What a receiver does (the same steps as docs/webhook.md)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [item.split(",", 1)[1] for item in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, signature) for signature in offered)


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.status = 200
        self.secret = SECRET
        self.extra_headers: dict[str, str] = {}
        self.received: list[tuple[dict[str, str], bytes, bool]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/secret-token"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {key.lower(): value for key, value in self.headers.items()}
        is_valid = verify_signature(self.server.secret, headers, body)
        self.server.received.append((headers, body, is_valid))
        self.send_response(self.server.status if is_valid else 401)
        for key, value in self.server.extra_headers.items():
            self.send_header(key, value)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def webhook_delivery(receiver: Receiver) -> Delivery:
    spec = WebhookTarget(url=receiver.url, secret=SECRET, allow_private=True)
    return make_delivery(spec)


def test_webhook_delivers_signed_json(receiver):
    asyncio.run(
        WebhookChannel(timeout_s=5, clock=lambda: 1721980800.0).send(webhook_delivery(receiver))
    )
    [(headers, body, is_valid)] = receiver.received
    assert is_valid
    assert body == PAYLOAD.encode("utf-8")
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == DELIVERY_ID
    assert headers["webhook-timestamp"] == "1721980800"
    assert headers["x-monitor-event"] == "alert"
    assert headers["user-agent"].startswith("monitor/")


@pytest.mark.parametrize("secret", ["plain secret", "whsec_not base64!", "whsec_"])
def test_a_secret_receivers_cannot_verify_is_refused_before_any_request(receiver, secret):
    # Standard Webhooks libraries base64-decode every secret: signing with a plain string's
    # UTF-8 bytes would send requests that no receiver using them could ever verify.
    delivery = make_delivery(WebhookTarget(url=receiver.url, secret=secret, allow_private=True))
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(WebhookChannel(timeout_s=5).send(delivery))
    assert caught.value.is_permanent
    assert "monitor webhook new-secret" in str(caught.value)
    written = secret.removeprefix("whsec_")
    assert not written or written not in str(caught.value)  # an error never quotes a secret
    assert receiver.received == []


@pytest.mark.parametrize(
    ("status", "is_permanent"), [(500, False), (503, False), (408, False), (410, True), (400, True)]
)
def test_webhook_status_decides_retry(receiver, status, is_permanent):
    receiver.status = status
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(WebhookChannel(timeout_s=5).send(webhook_delivery(receiver)))
    assert caught.value.is_permanent is is_permanent
    assert "secret-token" not in str(caught.value)
    assert isinstance(caught.value, EndpointGone) is (status == 410)
    if status == 410:
        assert "gone" in str(caught.value)
        assert caught.value.url == receiver.url


def test_webhook_429_honours_retry_after(receiver):
    receiver.status = 429
    receiver.extra_headers = {"Retry-After": "7"}
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(WebhookChannel(timeout_s=5).send(webhook_delivery(receiver)))
    assert not caught.value.is_permanent
    assert caught.value.retry_after_s == 7


def test_webhook_unreachable_is_retryable():
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as placeholder:
        url = f"http://127.0.0.1:{placeholder.server_address[1]}/hook"
    with pytest.raises(DeliveryError) as caught:
        target = WebhookTarget(url=url, allow_private=True)
        asyncio.run(WebhookChannel(timeout_s=2).send(make_delivery(target)))
    assert not caught.value.is_permanent


def test_build_channels_by_kind(tmp_path):
    without_smtp = build_channels(ChannelContext(base_dir=tmp_path, smtp=None))
    assert sorted(without_smtp) == ["apprise", "folder", "webhook"]
    with_smtp = build_channels(
        ChannelContext(base_dir=tmp_path, smtp=SmtpSettings(host="127.0.0.1"))
    )
    assert {kind: channel.kind for kind, channel in with_smtp.items()} == {
        "apprise": "apprise",
        "email": "email",
        "folder": "folder",
        "webhook": "webhook",
    }


def test_long_recipient_list_is_kept_whole():
    recipients = [f"analyst{number}@example.org" for number in range(30)]
    delivery = make_delivery(EmailTarget(to=tuple(recipients)))
    message = build_email(delivery, from_addr="m@example.org", to_addrs=recipients, now=NOW)
    parsed = parse_email(message.as_bytes())
    assert [address.addr_spec for address in parsed["To"].addresses] == recipients


# --- the registry ------------------------------------------------------------------

EVERY_KIND = [
    FolderTarget(folder="var/outbox"),
    EmailTarget(to=("desk@example.org",)),
    WebhookTarget(url="http://127.0.0.1:9/hook", secret="whsec_c2VjcmV0", format="slack"),
    AppriseTarget(urls=("tgram://123:t0ken/456",)),
]


def test_every_kind_is_registered_and_round_trips_through_the_store_without_secrets():
    assert sorted(KINDS) == sorted(target.kind for target in EVERY_KIND)
    for target in EVERY_KIND:
        stored = redact_channel(target)
        document = json.dumps(target_to_json(stored))
        assert "whsec_" not in document and "t0ken" not in document
        assert target_from_json(json.loads(document)) == stored
        # Even unredacted, the store's JSON never carries a secret field.
        assert "whsec_" not in json.dumps(target_to_json(target))
        assert live_target(stored, [FolderTarget(folder="elsewhere"), target]) == target
    assert payload_format(EVERY_KIND[2]) == "slack"
    assert {payload_format(target) for target in EVERY_KIND[:2] + EVERY_KIND[3:]} == {"standard"}


def test_config_checks_name_the_subscription_and_what_to_fix(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "subscriptions:\n"
        "  - id: desk\n    immediate: high\n    to: {email: [desk@example.org]}\n"
        "  - id: chat\n    immediate: high\n    to: {apprise: ['nosuchservice://t0ken']}\n",
        "utf-8",
    )
    problems = channel_errors(load_config(config))
    assert problems == [
        f"{config.resolve()}: subscription 'desk': sends email but there is no 'smtp' section",
        f"{config.resolve()}: subscription 'chat': apprise url #1 ('nosuchservice://…') is not "
        "a service Apprise knows (see https://github.com/caronc/apprise/wiki for the URL of "
        "each service)",
    ]
