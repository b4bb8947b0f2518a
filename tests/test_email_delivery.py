"""Email through the whole delivery path: rendered digest → durable outbox → SMTP on 127.0.0.1.

Every test drives a real `Outbox` over a real `Store` into a real aiosmtpd server, and reads
back what the server received, the way a mail client would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import ipaddress
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509

from monitor.app.wiring import build_parts
from monitor.config.load import load_config
from monitor.deliver.channels import EmailChannel
from monitor.deliver.outbox import FlushReport, Outbox
from monitor.deliver.render import Renderer
from monitor.errors import DeliveryError
from monitor.model import Delivery, Digest, DigestEntry, Match, Message, Priority
from monitor.rules.load import load_rules
from monitor.settings import SmtpSettings
from monitor.store.sqlite import Store
from monitor.targets import EmailTarget
from tests.conftest import LoopbackSMTP, write_self_signed_certificate
from tests.mail_reader import plain_text
from tests.test_render import make_article

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2023, 6, 14, 6, 0, tzinfo=UTC)  # 08:00 in Paris, the seed digest's hour
DESK = ("desk@example.org", "chief@example.org", "night@example.org")
SEED_TITLES = (
    "France and Morocco step up intelligence sharing ahead of Paris 2024 Olympics",
    "Le réchauffement des relations franco-marocaines se confirme",
    "Sécurité des Jeux olympiques : l’État détaille son dispositif pour la cérémonie d’ouverture",
    "Tétouan : la DGST démantèle une cellule terroriste liée à Daech",
)


# --- the seed digest, built by the real stages --------------------------------------


@functools.cache
def seed_digest(language: str = "fr") -> Digest:
    """The daily digest of the shipped config: seeds/ polled, annotated, matched, collapsed,
    worded in `language` (the shipped config says French)."""
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        shutil.copy(ROOT / "config.yaml", project / "config.yaml")
        for name in ("rules", "templates", "seeds"):
            shutil.copytree(ROOT / name, project / name)
        config = load_config(project / "config.yaml")
        rules = load_rules(config.rules_dir)
        parts = build_parts(config, rules)
        try:
            asyncio.run(parts.pipeline.poll_due(NOW, force=True))
            (daily,) = (s for s in config.subscriptions if s.id == "security-desk-daily")
            daily = replace(daily, language=language)
            return parts.pipeline.deliverer.build_digest(daily, "digest", NOW)
        finally:
            parts.store.close()
            asyncio.run(parts.fetcher.aclose())


@functools.cache
def seed_message(language: str = "fr") -> Message:
    return Renderer(ROOT / "templates").render(seed_digest(language))


# --- a scriptable SMTP server -------------------------------------------------------


@dataclass
class ScriptedSmtp:
    """An aiosmtpd handler that answers DATA as scripted and records what it accepted."""

    data_replies: list[str | None] = field(default_factory=list)  # None: accept; "drop": hang up
    refused: dict[str, str] = field(default_factory=dict)
    accepted: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    data_attempts: list[EmailMessage] = field(default_factory=list)
    sessions: list[tuple[bool, bytes | None]] = field(default_factory=list)  # (tls, login)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = parse(envelope.content)
        self.data_attempts.append(message)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        is_tls = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((is_tls, login))
        reply = self.data_replies.pop(0) if self.data_replies else None
        if reply == "drop":
            server.transport.abort()  # the connection is lost before the reply
            return "250 never seen"
        if reply is not None:
            return reply
        self.accepted.append((list(envelope.rcpt_tos), message))
        return "250 OK queued"


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture
def smtp() -> Iterator[tuple[ScriptedSmtp, SmtpSettings]]:
    handler = ScriptedSmtp()
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


@pytest.fixture
def store(store_url) -> Iterator[Store]:
    """A new store on each backend (the outbox's SQL runs on both)."""
    opened = Store(store_url)
    yield opened
    opened.close()


def enqueue(store: Store, message: Message, *, delivery_id: str = "digest-0001") -> Delivery:
    delivery = Delivery(
        id=delivery_id,
        subscription_id="security-desk-daily",
        channel=EmailTarget(to=DESK),
        message=message,
        article_keys=("a",),
        created_at=NOW,
    )
    store.enqueue([delivery], ["a"])
    return delivery


def email_outbox(store: Store, settings: SmtpSettings) -> Outbox:
    channel = EmailChannel(settings, clock=lambda: NOW)
    return Outbox(store, {"email": channel}, [])


# --- what lands in the inbox ----------------------------------------------------------


def test_the_seed_digest_arrives_as_a_readable_multipart_email(smtp, store):
    handler, settings = smtp
    enqueue(store, seed_message())
    assert asyncio.run(email_outbox(store, settings).flush(NOW)).sent == 1

    [(recipients, message)] = handler.accepted
    assert recipients == list(DESK)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert message["Message-ID"] == "<digest-0001@example.org>"
    assert message["X-Monitor-Delivery"] == "digest-0001"
    assert message["From"] == "monitor@example.org"
    assert message["To"] == ", ".join(DESK)
    assert message["Date"].datetime == NOW
    assert message["Subject"].startswith("Security desk daily digest — ")
    # French typography (the shipped config is French): the narrow no-break space survives.
    assert message["Subject"].endswith("\u202f: 4 articles")
    text = plain_text(message)
    html = message.get_body(("html",)).get_content()
    for title in SEED_TITLES:
        assert title in text and title in html
    assert "mercredi 14 juin 2023, 08:00 (heure de Paris)" in text  # the recipient's zone
    assert "Aussi couvert par 1 média\u202f:\n   - Wire (English service)" in text
    assert "<mark style=" in html and "<style" not in html and "<script" not in html
    assert [d.status for d in store.deliveries()] == ["sent"]


def test_451_then_250_delivers_exactly_one_message(smtp, store):
    handler, settings = smtp
    handler.data_replies = ["451 4.3.0 mailbox busy, try again", None]
    enqueue(store, seed_message())
    box = email_outbox(store, settings)
    assert asyncio.run(box.flush(NOW)).retrying == 1
    assert asyncio.run(box.flush(NOW + timedelta(seconds=3))).sent == 0  # 5 s ± 20 % not yet over
    assert asyncio.run(box.flush(NOW + timedelta(seconds=7))).sent == 1
    assert asyncio.run(box.flush(NOW + timedelta(days=2))).sent == 0
    assert len(handler.accepted) == 1
    assert [m["Message-ID"] for m in handler.data_attempts] == ["<digest-0001@example.org>"] * 2
    (delivery,) = store.deliveries("sent")
    assert delivery.attempts == 2


def test_a_lost_connection_is_retried(smtp, store):
    handler, settings = smtp
    handler.data_replies = ["drop", None]
    enqueue(store, seed_message())
    box = email_outbox(store, settings)
    assert asyncio.run(box.flush(NOW)).retrying == 1
    (pending,) = store.deliveries("pending")
    assert "cannot talk to '127.0.0.1:" in (pending.last_error or "")
    assert asyncio.run(box.flush(NOW + timedelta(seconds=7))).sent == 1
    assert len(handler.accepted) == 1


def test_550_for_one_of_three_recipients_the_others_get_it_once(smtp, store, caplog):
    handler, settings = smtp
    handler.refused = {"chief@example.org": "550 5.1.1 no such mailbox"}
    enqueue(store, seed_message())
    box = email_outbox(store, settings)
    assert asyncio.run(box.flush(NOW)).sent == 1
    assert asyncio.run(box.flush(NOW + timedelta(days=1))).sent == 0
    assert [recipients for recipients, _ in handler.accepted] == [
        ["desk@example.org", "night@example.org"]
    ]
    assert "'chief@example.org' (550 5.1.1 no such mailbox)" in caplog.text


@pytest.mark.parametrize("refusal", ["rcpt", "data"])
def test_554_for_all_is_dead_lettered_without_retry(smtp, store, refusal):
    handler, settings = smtp
    if refusal == "rcpt":
        handler.refused = dict.fromkeys(DESK, "554 5.7.1 relay denied")
    else:
        handler.data_replies = ["554 5.7.1 message refused"]
    enqueue(store, seed_message())
    box = email_outbox(store, settings)
    assert asyncio.run(box.flush(NOW)).dead == 1
    for later in (timedelta(minutes=10), timedelta(days=3)):
        assert asyncio.run(box.flush(NOW + later)) == FlushReport()
    assert handler.accepted == []
    assert len(handler.data_attempts) == (1 if refusal == "data" else 0)
    (dead,) = store.deliveries("dead")
    assert dead.attempts == 1 and "554" in (dead.last_error or "")


def test_hostile_titles_reach_the_inbox_inert(smtp, store):
    handler, settings = smtp
    titles = (
        "<script>alert('x')</script> Sécurité",
        "{{ 7*7 }} {% for x in range(9) %}JO 2024{% endfor %}",
        "Alerte\r\nBcc: victim@evil.example\r\nX-Injected: 1",
    )
    entries = tuple(
        DigestEntry(
            make_article(f"h{index}", title, f"Résumé {index}.", hour=index + 1),
            # The subject names the rules: hostile names must reach it inert too.
            (Match(f"r{index}", title, f"h{index}", Priority.HIGH, 3.0 - index, ()),),
            feed_title="Hostile feed",
        )
        for index, title in enumerate(titles)
    )
    digest = Digest("desk", "immediate", NOW, "Europe/Paris", entries, title="Desk")
    enqueue(store, Renderer(ROOT / "templates").render(digest))
    assert asyncio.run(email_outbox(store, settings).flush(NOW)).sent == 1

    [(recipients, message)] = handler.accepted
    assert recipients == list(DESK)  # nobody added by a title
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"].startswith("<script>alert('x')</script> Sécurité, {{ 7*7 }}")
    html = message.get_body(("html",)).get_content()
    text = plain_text(message)
    assert "<script" not in html
    assert "&lt;script&gt;alert('x')&lt;/script&gt; Sécurité" in html
    assert "{{ 7*7 }} {% for x in range(9) %}JO 2024{% endfor %}" in text
    assert "49" not in text and "JO 2024JO 2024" not in text
    assert "Alerte Bcc: victim@evil.example X-Injected: 1" in text


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, and nothing catches it."""


class CrashingStore(Store):
    """A store whose process dies right after the channel confirmed, before the row is marked."""

    def mark_sent(self, delivery_id: str, now: datetime) -> None:
        raise Crash(delivery_id)


def test_a_crash_between_sent_and_recorded_resends_once_with_the_same_message_id(smtp, tmp_path):
    handler, settings = smtp
    path = tmp_path / "monitor.db"
    doomed = CrashingStore(path)
    try:
        enqueue(doomed, seed_message())
        with pytest.raises(Crash):
            asyncio.run(email_outbox(doomed, settings).flush(NOW))
    finally:
        doomed.close()
    assert len(handler.accepted) == 1

    restarted = Store(path)
    try:
        box = email_outbox(restarted, settings)
        assert asyncio.run(box.flush(NOW + timedelta(seconds=1))).sent == 1
        assert asyncio.run(box.flush(NOW + timedelta(days=1))).sent == 0
        assert [d.status for d in restarted.deliveries()] == ["sent"]
    finally:
        restarted.close()
    first, second = (message for _, message in handler.accepted)
    assert first["Message-ID"] == second["Message-ID"] == "<digest-0001@example.org>"


# --- TLS and authentication -----------------------------------------------------------

USER, PASSWORD = b"alerts@example.org", b"correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made for this test run."""
    return write_self_signed_certificate(
        tmp_path_factory.mktemp("tls"),
        "monitor test SMTP",
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    )


def check_password(server, session, envelope, mechanism, auth_data) -> AuthResult:
    is_valid = isinstance(auth_data, LoginPassword) and (
        auth_data.login,
        auth_data.password,
    ) == (USER, PASSWORD)
    return AuthResult(success=is_valid, handled=False, auth_data=auth_data)


def tls_server(certificate, *, implicit: bool) -> tuple[ScriptedSmtp, LoopbackSMTP]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = ScriptedSmtp()
    options: dict[str, object] = {"authenticator": check_password}
    if implicit:
        # aiosmtpd cannot tell that an implicit-TLS connection is encrypted: it would hide
        # AUTH unless told TLS is not required for it (and then warns if AUTH is required).
        options |= {"ssl_context": context, "auth_require_tls": False}
    else:
        options |= {"tls_context": context, "require_starttls": True, "auth_required": True}
    controller = LoopbackSMTP(handler, **options)
    controller.start()
    return handler, controller


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_tls_and_login_deliver_the_digest(certificate, store, implicit):
    handler, controller = tls_server(certificate, implicit=implicit)
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=controller.port,
            starttls=not implicit,
            tls=implicit,
            username=USER.decode(),
            password=PASSWORD.decode(),
            from_addr="alerts@example.org",
            timeout_s=5,
            ca_file=certificate[0],
        )
        enqueue(store, seed_message())
        assert asyncio.run(email_outbox(store, settings).flush(NOW)).sent == 1
    finally:
        controller.stop()
    assert handler.sessions == [(True, USER)]
    assert len(handler.accepted) == 1


def test_a_wrong_password_is_permanent_and_never_logged(certificate, store):
    handler, controller = tls_server(certificate, implicit=False)
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=controller.port,
            starttls=True,
            username=USER.decode(),
            password="wrong password",
            timeout_s=5,
            ca_file=certificate[0],
        )
        with pytest.raises(DeliveryError) as caught:
            asyncio.run(EmailChannel(settings).send(enqueue(store, seed_message())))
    finally:
        controller.stop()
    assert caught.value.is_permanent
    assert "login refused for 'alerts@example.org'" in str(caught.value)
    assert "wrong password" not in str(caught.value) and "wrong password" not in repr(settings)
    assert handler.data_attempts == []


def test_an_untrusted_certificate_is_retried_with_a_hint(certificate, store):
    handler, controller = tls_server(certificate, implicit=False)
    try:
        settings = SmtpSettings(host="127.0.0.1", port=controller.port, starttls=True, timeout_s=5)
        with pytest.raises(DeliveryError) as caught:
            asyncio.run(EmailChannel(settings).send(enqueue(store, seed_message())))
    finally:
        controller.stop()
    assert not caught.value.is_permanent
    assert "smtp.ca_file" in str(caught.value)
    assert handler.data_attempts == []


def test_starttls_required_but_not_offered_sends_nothing_in_clear(smtp, store):
    handler, settings = smtp
    strict = replace(settings, starttls=True, username="alerts", password="secret")
    enqueue(store, seed_message())
    box = Outbox(store, {"email": EmailChannel(strict)}, [])
    assert asyncio.run(box.flush(NOW)).dead == 1
    assert handler.data_attempts == [] and handler.sessions == []
    (dead,) = store.deliveries("dead")
    assert "does not offer STARTTLS; refusing to send in clear text" in (dead.last_error or "")


def test_a_password_is_never_sent_in_clear_to_a_remote_server(store):
    # 192.0.2.1 is TEST-NET-1: the check happens before any connection is attempted.
    settings = SmtpSettings(host="192.0.2.1", username="alerts", password="secret", timeout_s=1)
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(EmailChannel(settings).send(enqueue(store, seed_message())))
    assert caught.value.is_permanent
    assert "refusing to send the password for 'alerts' in clear text" in str(caught.value)
