"""One story, many outlets, end to end: `monitor run --once` polls real feeds over loopback
HTTP and mails through a real SMTP server, and the desk gets one alert per story, then one
"story developing" update when enough new outlets carry it, never one per copy.

Each poll serves one more outlet's copy of the same event (the same agency text under each
outlet's own headline, as regional sites run a wire story).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.deliver.channels.webhook import _event_type as event_type
from monitor.deliver.payload import build_body
from monitor.deliver.render import Renderer
from monitor.ingest.normalize import html_to_text
from monitor.model import Developing, Digest, StoryCopy
from tests.conftest import ROOT, FeedServer, LoopbackSMTP, run_cli
from tests.mail_reader import parse_received, plain_text
from tests.test_render import security_entry

OUTLETS = ("le-courrier", "ouest-matin", "sud-presse", "nord-eclair", "est-journal")
TITLES = {outlet: outlet.replace("-", " ").title() for outlet in OUTLETS}
SUMMARY = (
    "La sécurité des JO 2024 sera renforcée autour du village olympique, a annoncé mardi le "
    "ministère de l'Intérieur, qui mobilise les services de renseignement et plusieurs "
    "milliers de policiers et de gendarmes supplémentaires pendant toute la durée des "
    "épreuves. Les accès au site seront filtrés par des points de contrôle installés dès "
    "la semaine prochaine, et les riverains recevront un laissez-passer numérique."
)
HEADLINES = {
    "le-courrier": "Sécurité des JO 2024 : le village olympique sous haute surveillance",
    "ouest-matin": "JO 2024 : la sécurité renforcée autour du village olympique",
    "sud-presse": "Village olympique : un dispositif de sécurité renforcé pour les JO 2024",
    "nord-eclair": "JO 2024 : des milliers de policiers pour la sécurité du village",
    "est-journal": "Sécurité des JO 2024 : les accès au village filtrés",
}


def feed_xml(outlet: str, with_story: bool, published: datetime) -> str:
    item = (
        f"<item><title>{HEADLINES[outlet]}</title>"
        f"<link>https://{outlet}.example.org/jo-2024-village</link>"
        f"<guid>https://{outlet}.example.org/jo-2024-village</guid>"
        f"<description>{SUMMARY}</description>"
        f"<pubDate>{format_datetime(published)}</pubDate></item>"
        if with_story
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{TITLES[outlet]}</title><link>https://{outlet}.example.org/</link>"
        f"<description>Actualités</description>{item}</channel></rss>"
    )


@dataclass
class Inbox:
    """An aiosmtpd handler that accepts every message and keeps it."""

    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.received.append(parse_received(envelope.content))
        return "250 OK"


@dataclass
class Newsroom:
    """A project whose feeds are the outlets above, served over HTTP, mailing a real server."""

    project: Path
    inbox: Inbox
    published: datetime
    carrying: set[str] = field(default_factory=set)
    polls: int = 0

    def carry(self, *outlets: str) -> None:
        """From the next poll on, these outlets also carry the story."""
        self.carrying.update(outlets)

    def poll(self) -> list[EmailMessage]:
        """One `monitor run --once`; the messages it sent."""
        self.polls += 1
        for outlet in OUTLETS:
            path = self.project / "feeds" / f"{outlet}.xml"
            path.write_text(feed_xml(outlet, outlet in self.carrying, self.published), "utf-8")
            # Each poll's files are newer than the last poll's Last-Modified, however fast.
            stamp = time.time() + 60 * self.polls
            os.utime(path, (stamp, stamp))
        before = len(self.inbox.received)
        result = run_cli(self.project, "run", "--once")
        assert result.returncode == 0, result.stderr
        return self.inbox.received[before:]


def write_config(project: Path, feeds_base: str, smtp_port: int, follow_up: str | None) -> None:
    feeds = "".join(
        f"  - id: {outlet}\n    title: {TITLES[outlet]}\n"
        f"    url: {feeds_base}/feeds/{outlet}.xml\n    allow_private: true\n"
        "    language: fr\n"
        for outlet in OUTLETS
    )
    (project / "config.yaml").write_text(
        "store: var/monitor.db\nrules: rules\ntemplates: templates\nlanguage: fr\n"
        f"feeds:\n{feeds}"
        "subscriptions:\n"
        "  - id: desk\n    title: Desk\n    rules: ['*']\n    immediate: high\n"
        "    to: {email: [desk@example.org]}\n"
        + (f"    follow_up: {follow_up}\n" if follow_up else "")
        + f"smtp: {{host: 127.0.0.1, port: {smtp_port}, from: monitor@example.org}}\n",
        encoding="utf-8",
    )


@pytest.fixture
def newsroom(project: Path, request: pytest.FixtureRequest) -> Iterator[Newsroom]:
    (project / "feeds").mkdir()
    inbox = Inbox()
    smtp = LoopbackSMTP(inbox)
    smtp.start()
    server = FeedServer(project)
    try:
        write_config(project, server.base, smtp.port, getattr(request, "param", None))
        published = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        yield Newsroom(project, inbox, published)
    finally:
        server.close()
        smtp.stop()


def test_copies_arriving_in_later_polls_never_alert_again(newsroom: Newsroom) -> None:
    newsroom.carry("le-courrier")
    (alert,) = newsroom.poll()
    newsroom.carry("ouest-matin")
    assert newsroom.poll() == []  # one more outlet: the same story, already sent
    newsroom.carry("sud-presse", "nord-eclair")
    assert newsroom.poll() == []  # follow-ups are off: still nothing
    text = plain_text(alert)
    assert HEADLINES["le-courrier"] in text
    assert all(HEADLINES[outlet] not in text for outlet in OUTLETS[1:])


@pytest.mark.parametrize("newsroom", ["{outlets: 3}"], indirect=True)
def test_a_story_sent_is_followed_up_once_when_three_new_outlets_carry_it(
    newsroom: Newsroom,
) -> None:
    newsroom.carry("le-courrier")
    (alert,) = newsroom.poll()
    newsroom.carry("ouest-matin", "sud-presse")
    assert newsroom.poll() == []  # two new outlets: not yet news
    newsroom.carry("nord-eclair")
    (update,) = newsroom.poll()  # the third: one update for the three
    newsroom.carry("est-journal")
    assert newsroom.poll() == []  # one more since the update: it needs three again

    assert "Sujet en développement" in update["Subject"]
    assert HEADLINES["le-courrier"] in update["Subject"]
    assert update["Message-ID"] != alert["Message-ID"]
    text = plain_text(update)
    html = update.get_body(("html",)).get_content()
    assert "4 médias" in text
    new = ", ".join(sorted(TITLES[o] for o in ("ouest-matin", "sud-presse", "nord-eclair")))
    assert f"nouveaux\u202f: {new}" in text
    for outlet in ("ouest-matin", "sud-presse", "nord-eclair"):
        link = f"https://{outlet}.example.org/jo-2024-village"
        assert f"- {TITLES[outlet]}: {link}" in text
        assert f'<a href="{link}"' in html
    assert "est-journal" not in text


# --- how a follow-up reads, in a digest and on a webhook ----------------------------


def developing_digest(kind: str, language: str) -> Digest:
    entry = security_entry()
    copy = StoryCopy("Wire (French service)", "https://wire.example/jo", entry.article.published_at)
    grown = replace(
        entry,
        copies=(copy,),
        developing=Developing(4, ("Ouest Matin", "Sud Presse", "Wire (French service)"), ()),
    )
    return Digest(
        subscription_id="desk",
        kind=kind,
        created_at=datetime(2024, 7, 26, 6, 0, tzinfo=UTC),
        timezone="Europe/Paris",
        entries=(),
        title="Desk",
        language=language,
        developing=(grown,),
    )


@pytest.mark.parametrize(
    ("language", "heading", "outlets"),
    [
        ("fr", "Sujet en développement", "4 médias · nouveaux\u202f: Ouest Matin"),
        ("en", "Story developing", "4 outlets · new: Ouest Matin"),
    ],
)
def test_a_digest_carries_a_developing_section_in_both_parts(language, heading, outlets):
    message = Renderer(ROOT / "templates").render(developing_digest("digest", language))
    assert message.subject.startswith("Desk")
    for body in (message.text, html_to_text(message.html).replace("\u202f", " ")):
        assert heading in body
        count, new = outlets.replace("\u202f", " ").split(" · ")
        assert count in body and new in body.replace("\u202f", " ")
        assert "Sécurité des Jeux : la coopération franco-marocaine salue" in body
    assert outlets in message.text
    assert '<a href="https://wire.example/jo"' in message.html


def test_a_follow_up_alert_is_a_story_developing_event_on_the_webhook():
    digest = developing_digest("developing", "en")
    message = Renderer(ROOT / "templates").render(digest)
    body = json.loads(message.payload)
    assert body["type"] == "story.developing" and body["articles"] == []
    (story,) = body["developing"]
    assert story["key"] == "jo-securite" and story["outlets"] == 4
    assert story["new_outlets"] == ["Ouest Matin", "Sud Presse", "Wire (French service)"]
    assert story["also_covered"][0]["url"] == "https://wire.example/jo"
    assert message.subject == (
        "Story developing: Sécurité des Jeux : la coopération franco-marocaine salue"
    )
    assert event_type(message.payload) == "story.developing"
    slack = build_body(digest, "slack")
    assert event_type(slack) == "story.developing"
    assert "new: Ouest Matin" in json.loads(slack)["text"]
