"""Mail that standard clients and relays take as it is: every header as a relay receives it.

Real aiosmtpd servers on 127.0.0.1 (with and without SMTPUTF8) receive alerts and digests
rendered by the shipped templates; the stdlib parser reads them back and must find no
defect. Display names travel as RFC 2047 encoded-words, the envelope carries bare addresses,
ids and list headers are on the sender's domain, and the text part is format=flowed.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.deliver import mailing_list
from monitor.deliver.channels import EmailChannel, MailingList
from monitor.deliver.channels.flowed import WIDTH, flow_text
from monitor.deliver.channels.mime import build_email
from monitor.deliver.render import Renderer
from monitor.errors import ConfigError
from monitor.model import Delivery, Digest, DigestEntry, Match, Message, Priority, Subscription
from monitor.settings import SmtpSettings
from monitor.targets import EmailTarget
from tests.conftest import LoopbackSMTP, run_cli
from tests.mail_reader import all_defects, parse_received, plain_text, unflow
from tests.test_email_delivery import seed_message
from tests.test_render import hit_in, make_article

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2023, 6, 14, 6, 0, tzinfo=UTC)
SENDER = "Veille sécurité <alerts@example.org>"
PRESS = "Chargée de presse <presse@example.org>"
LONG_URL = "https://www.example.org/" + "a-very-long-path-segment/" * 6 + "article.html"


@dataclass
class Recorder:
    """Records each message as it arrives: envelope, MAIL FROM options and the raw bytes."""

    received: list[tuple[str, list[str], list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            (
                envelope.mail_from,
                list(envelope.mail_options),
                list(envelope.rcpt_tos),
                envelope.original_content,
            )
        )
        return "250 OK queued"


@pytest.fixture(params=[False, True], ids=["no-smtputf8", "smtputf8"])
def relay(request) -> Iterator[tuple[Recorder, int, bool]]:
    handler = Recorder()
    controller = LoopbackSMTP(handler, enable_SMTPUTF8=request.param)
    controller.start()
    try:
        yield handler, controller.port, request.param
    finally:
        controller.stop()


def settings_for(port: int, **options: object) -> SmtpSettings:
    return replace(
        SmtpSettings(host="127.0.0.1", port=port, from_addr=SENDER, timeout_s=5), **options
    )


def alert_message(language: str = "fr") -> Message:
    """An immediate alert whose summary runs far past 72 columns and carries a long URL."""
    summary = (
        "Le préfet de police a détaillé dimanche le dispositif de sécurité prévu pour la "
        "cérémonie d’ouverture des Jeux olympiques, qui mobilisera 45 000 policiers et "
        "gendarmes le long de la Seine. Source : " + LONG_URL
    )
    title = (
        "Sécurité des JO 2024 : le préfet de police détaille le dispositif prévu le long de "
        "la Seine"
    )
    article = make_article("a1", title, summary, hour=5, url=LONG_URL)
    hit = hit_in(article, "summary", "sécurité", "sécurité")
    entry = DigestEntry(
        article,
        (Match("jo2024-security", "JO 2024 security", "a1", Priority.HIGH, 3.0, (hit,)),),
        feed_title="Le Monde",
    )
    digest = Digest(
        "presse", "immediate", NOW, "Europe/Paris", (entry,), title="Presse", language=language
    )
    return Renderer(ROOT / "templates").render(digest)


def delivery_of(message: Message, *, delivery_id: str = "d-0001") -> Delivery:
    return Delivery(
        id=delivery_id,
        subscription_id="presse",
        channel=EmailTarget(to=(PRESS, "desk@example.org")),
        message=message,
        article_keys=("a1",),
        created_at=NOW,
    )


def send(settings: SmtpSettings, delivery: Delivery, *lists: MailingList) -> None:
    channel = EmailChannel(settings, mailing_lists=lists, clock=lambda: NOW)
    asyncio.run(channel.send(delivery))


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("kind", ["alert", "digest"])
def test_accented_display_names_go_through_any_relay_as_encoded_words(relay, kind, language):
    handler, port, _ = relay
    message = alert_message(language) if kind == "alert" else seed_message(language)
    assert message.language == language
    send(settings_for(port), delivery_of(message))

    [(mail_from, options, rcpt_tos, raw)] = handler.received
    assert mail_from == "alerts@example.org"  # the envelope never carries the name
    assert rcpt_tos == ["presse@example.org", "desk@example.org"]
    assert "SMTPUTF8" not in options  # no address needs it: names are encoded-words
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # not one raw 8-bit byte in the headers
    assert b"From: Veille =?utf-8?" in head
    received = parse_received(raw)
    assert all_defects(received) == []
    assert received.defects == [] and all(part.defects == [] for part in received.walk())
    (sender,) = received["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Veille sécurité", "alerts@example.org")
    assert [(a.display_name, a.addr_spec) for a in received["To"].addresses] == [
        ("Chargée de presse", "presse@example.org"),
        ("", "desk@example.org"),
    ]
    assert received["Subject"] == message.subject
    assert received["Auto-Submitted"] == "auto-generated"


def test_an_internationalised_domain_travels_as_its_ascii_form_without_smtputf8(relay):
    handler, port, _ = relay
    settings = settings_for(port, from_addr="Veille <veille@sécurité.example>")
    delivery = replace(
        delivery_of(alert_message()), channel=EmailTarget(to=("desk@rédaction.example",))
    )
    send(settings, delivery)
    [(mail_from, options, rcpt_tos, raw)] = handler.received
    assert mail_from == "veille@xn--scurit-bvaf.example"
    assert rcpt_tos == ["desk@xn--rdaction-b1a.example"]
    assert "SMTPUTF8" not in options
    received = parse_received(raw)
    assert all_defects(received) == []
    assert received["To"].addresses[0].domain.encode().decode("idna") == "rédaction.example"
    assert received["Message-ID"] == "<d-0001@xn--scurit-bvaf.example>"


@pytest.fixture
def plain_relay() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    controller = LoopbackSMTP(handler)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def received_once(handler: Recorder):
    [(_, _, _, raw)] = handler.received
    return parse_received(raw)


def test_ids_and_list_headers_are_on_the_senders_domain(plain_relay):
    handler, port = plain_relay
    listed = MailingList("presse", title="Presse : veille «sécurité», Paris", language="fr")
    send(settings_for(port), delivery_of(alert_message()), listed)
    received = received_once(handler)
    assert received["Message-ID"] == "<d-0001@example.org>"
    assert received["X-Monitor-Delivery"] == "d-0001"
    assert received["List-Id"] == "Presse veille «sécurité» Paris <presse.example.org>"
    assert received["List-Unsubscribe"] == (
        "<mailto:alerts@example.org?subject=unsubscribe%20presse>"
    )
    assert received["List-Unsubscribe-Post"] is None  # RFC 8058 needs an https URI
    assert received["Content-Language"] == "fr"
    assert all_defects(received) == []


def test_without_a_language_there_is_no_content_language(plain_relay):
    handler, port = plain_relay
    send(settings_for(port), delivery_of(alert_message()), MailingList("presse"))
    received = received_once(handler)
    assert received["Content-Language"] is None
    assert received["List-Id"] == "presse <presse.example.org>"


def test_an_https_unsubscribe_page_adds_the_one_click_form(plain_relay):
    handler, port = plain_relay
    settings = settings_for(port, unsubscribe_url="https://veille.example.org/quit/{subscription}")
    send(settings, delivery_of(alert_message()))
    received = received_once(handler)
    assert received["List-Unsubscribe"] == (
        "<https://veille.example.org/quit/presse>, "
        "<mailto:alerts@example.org?subject=unsubscribe%20presse>"
    )
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_message_id_stays_the_same_on_every_retry(plain_relay):
    handler, port = plain_relay
    delivery = delivery_of(alert_message())
    send(settings_for(port), delivery)
    send(settings_for(port), delivery)
    ids = [parse_received(raw)["Message-ID"] for *_, raw in handler.received]
    assert ids == ["<d-0001@example.org>"] * 2


def test_a_subscription_names_its_list_after_its_title_and_says_its_language():
    subscription = Subscription(
        "presse", ("*",), (), title="Revue de presse", immediate=None, language="fr"
    )
    assert mailing_list(subscription) == MailingList(
        "presse", title="Revue de presse", language="fr"
    )


# --- the text part: format=flowed at 72 columns -----------------------------------------


def test_long_lines_are_wrapped_at_72_and_read_back_as_the_original_paragraphs(plain_relay):
    handler, port = plain_relay
    message = alert_message()
    send(settings_for(port), delivery_of(message))
    received = received_once(handler)
    part = received.get_body(("plain",))
    assert part.get_content_type() == "text/plain"
    assert part.get_param("format") == "flowed"
    wire_lines = part.get_content().splitlines()
    assert max(len(line) for line in message.text.splitlines()) > WIDTH  # the test means it
    # Only a word longer than a line (a URL) may pass 72 columns, and it stays whole.
    assert all(len(line) <= WIDTH or " " not in line.strip() for line in wire_lines)
    assert LONG_URL in [line.strip() for line in wire_lines]
    original = "\n".join(line.rstrip(" ") for line in message.text.splitlines()) + "\n"
    assert plain_text(received) == original
    html = received.get_body(("html",)).get_content()
    assert html.replace("\r\n", "\n") == message.html  # the HTML untouched


@pytest.mark.parametrize(
    "line",
    [
        "From the desk: " + "mot " * 30,
        ">quoted-looking " + "texte " * 20,
        "   indented " + "mot " * 25,
        "word " * 10 + "From here on " + "x " * 40,
        "-- ",
        "",
        # French typography: narrow no-break spaces are part of the word they bind.
        "Pourquoi cet article\u202f: " + "aussi dans\u202f: Wire " * 8 + "«\u202fcité\u202f»",
    ],
)
def test_flowing_and_unflowing_gives_back_every_line(line):
    flowed = flow_text(line + "\nsecond line\n")
    for wire in flowed.splitlines():
        assert not wire.startswith((">", "From ")), wire  # space-stuffed
        assert len(wire) <= WIDTH
    kept = line if line == "-- " else line.rstrip(" ")  # the signature separator stays
    assert unflow(flowed) == kept + "\nsecond line\n"


# --- what config.yaml accepts --------------------------------------------------------


def write_config(tmp_path: Path, smtp_from: str, to: str, extra: str = "") -> Path:
    (tmp_path / "rules").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(
        "subscriptions:\n"
        "  - id: presse\n    immediate: high\n"
        f"    to: {{email: [{to}]}}\n"
        f"smtp:\n  host: 127.0.0.1\n  from: {smtp_from}\n{extra}",
        encoding="utf-8",
    )
    return path


def test_display_names_are_accepted_and_the_envelope_stays_bare(tmp_path):
    config = load_config(write_config(tmp_path, f'"{SENDER}"', f'"{PRESS}"'))
    assert config.smtp is not None and config.smtp.from_addr == SENDER
    (subscription,) = config.subscriptions
    assert subscription.channels == (EmailTarget(to=(PRESS,)),)


@pytest.mark.parametrize(
    ("smtp_from", "why"),
    [
        ("not-an-address", "expected name@domain or Name <name@domain>"),
        ('"Veille <a@>"', "expected name@domain or Name <name@domain>"),
        ("rédaction@example.org", "expected name@domain or Name <name@domain>"),
        ('"Veille <alerts@>"', "expected name@domain or Name <name@domain>"),
        ('"Veille <a@example.org> <b@example.org>"', "expected name@domain or Name"),
        ('"a@example.org, b@example.org"', "expected name@domain or Name"),
        ('"Desk: a@example.org;"', "expected name@domain or Name"),
        ('"Veille <alerts@-bad.example.org>"', "'-bad.example.org' is not a domain name"),
        ('"Veille\\r\\nBcc: x@evil.example <a@example.org>"', "a line break"),
    ],
)
def test_what_is_not_one_mailbox_is_refused(tmp_path, smtp_from, why):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, smtp_from, "desk@example.org"))
    assert "smtp.from" in str(caught.value) and why in str(caught.value)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://veille.example.org/quit", "put '{subscription}' in it"),
        ("http://veille.example.org/quit/{subscription}", "needs https (RFC 8058)"),
        ("mailto:quit@example.org?subject={subscription}", "unsupported URL scheme"),
    ],
)
def test_an_unsubscribe_url_must_be_https_and_name_the_subscription(tmp_path, url, why):
    path = write_config(
        tmp_path, "alerts@example.org", "desk@example.org", f"  unsubscribe_url: '{url}'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "smtp.unsubscribe_url" in str(caught.value) and why in str(caught.value)


def test_an_unsubscribe_page_that_is_not_https_gets_no_one_click_header():
    # The config refuses such a URL; the message builder holds to RFC 8058 on its own too.
    message = build_email(
        delivery_of(alert_message()),
        from_addr=SENDER,
        to_addrs=[PRESS],
        now=NOW,
        unsubscribe_url="http://veille.example.org/quit/{subscription}",
    )
    assert message["List-Unsubscribe"].startswith("<http://veille.example.org/quit/presse>, ")
    assert message["List-Unsubscribe-Post"] is None


def test_the_shipped_french_digest_says_so_in_its_headers(project):
    # The whole path: config.yaml's language reaches the header through the daemon's wiring.
    class Sink:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope) -> str:
            self.messages.append(envelope.content)
            return "250 OK"

    sink = Sink()
    smtp = LoopbackSMTP(sink)
    smtp.start()
    try:
        config = project / "config.yaml"
        text = config.read_text(encoding="utf-8").replace(
            "to: {folder: var/outbox}", "to: {email: [desk@example.org]}"
        )
        text += f"\nsmtp: {{host: 127.0.0.1, port: {smtp.port}, starttls: false, "
        text += "from: 'Veille sécurité <alerts@example.org>'}\n"
        config.write_text(text, encoding="utf-8")
        assert run_cli(project, "run", "--once").returncode == 0
    finally:
        smtp.stop()
    assert sink.messages, "nothing was sent"
    for raw in sink.messages:
        received = email.message_from_bytes(raw, policy=email.policy.default)
        assert received["Content-Language"] == "fr"
        assert received["List-Id"].endswith(".example.org>")
        assert received["From"].addresses[0].display_name == "Veille sécurité"
        headers = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        assert headers.isascii()  # the accented name travels as an RFC 2047 word
