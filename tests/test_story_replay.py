"""The issue's replay: five outlets tell one event in their own words over three polls, and
the desk gets one alert for it, then one "story developing" update, while an unrelated
story the same rule matches gets an alert of its own.

Real parts only: `monitor run --once` polls the feeds over loopback HTTP (`FeedServer`),
annotates with the real spaCy model, places articles in event stories in the real SQLite
store and mails through a real SMTP server (`LoopbackSMTP`). Unlike `tests/test_stories.py`
(one agency text under five headlines: near-duplicates), no two reports here share their
sentences, so only the event stories (`monitor/stories/`) can join them.

The surge replay the issue also names (one spike alert with its explanation, never twice) is
`tests/test_spikes.py::test_a_surge_sends_one_spike_alert_with_its_explanation_and_no_more`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from monitor.ingest import NearDuplicates
from monitor.model import Article
from monitor.store import StoredStory, open_store
from tests.conftest import FeedServer, LoopbackSMTP, run_cli
from tests.mail_reader import parse_received, plain_text

RULE = """\
id: maroc-terrorisme
name: Antiterrorisme au Maroc
priority: high
languages: [fr]
match:
  any: [DGST, BCIJ, cellule terroriste, Daech]
"""

DATA = Path(__file__).parent / "data"
OUTLETS = {
    "fil-general": "Fil général",
    "courrier-rabat": "Le Courrier de Rabat",
    "matin-tanger": "Le Matin de Tanger",
    "hebdo-maghreb": "L'Hebdo du Maghreb",
    "depeche-nord": "La Dépêche du Nord",
    "info-casablanca": "Info Casablanca",
}


@dataclass(frozen=True)
class Report:
    """One outlet's own article: its headline, its lead and how long after the event."""

    slug: str
    title: str
    summary: str
    hours_after: float


def background_news(count: int = 60) -> list[Report]:
    """Real French items of the days before (other events, none the rule matches): a desk's
    store holds the other news, which is what tells a rare word (Tétouan) from a common one
    (quatre, arrêter). On an empty store every word weighs the same (docs/stories.md)."""
    reports = []
    for line in (DATA / "story_items.jsonl").read_text("utf-8").splitlines():
        item = json.loads(line)
        text = f"{item['title']} {item['summary']} {item['body']}"
        if re.search(r"dgst|daech|bcij|terroris", text.lower()):
            continue
        hours = -48 + len(reports) * 0.75
        reports.append(Report(f"item-{len(reports)}", item["title"], text[:1500], hours))
    return reports[:count]


# The seed's DGST story, as five newsrooms wrote it: the facts and the names recur (Tétouan,
# Tanger, DGST, BCIJ, Hammouchi, Daech), the sentences never do.
EVENT = {
    "courrier-rabat": Report(
        "tetouan-dgst-demantele-cellule",
        "Tétouan : la DGST démantèle une cellule terroriste liée à Daech",
        "Quatre suspects ont été interpellés entre Tétouan et Tanger lors d'une opération "
        "menée par la DGST sous la supervision d'Abdellatif Hammouchi. Selon le BCIJ, ils "
        "avaient prêté allégeance à l'organisation État islamique et projetaient des attentats "
        "contre des sites sensibles du Royaume.",
        0,
    ),
    "matin-tanger": Report(
        "quatre-partisans-daech-arretes",
        "Quatre partisans de Daech arrêtés dans le nord du Maroc",
        "Le Bureau central d'investigations judiciaires (BCIJ) a annoncé l'arrestation de "
        "quatre hommes âgés de 22 à 35 ans à Tanger et à Tétouan. Les enquêteurs de la DGST "
        "ont saisi des produits chimiques, des armes blanches et des documents de propagande "
        "de Daech lors des perquisitions.",
        2,
    ),
    "hebdo-maghreb": Report(
        "hammouchi-salue-vigilance-equipes",
        "Terrorisme : Hammouchi salue la vigilance des équipes après le coup de filet de Tétouan",
        "Abdellatif Hammouchi, patron de la DGSN et de la DGST, a félicité les agents qui ont "
        "neutralisé la cellule de Tétouan. Les quatre suspects préparaient des attaques contre "
        "des installations sensibles, d'après le communiqué du BCIJ publié jeudi.",
        7,
    ),
    "depeche-nord": Report(
        "cellule-tetouan-tanger-projets-attentats",
        "Cellule de Tétouan et Tanger : ce que l'on sait des projets d'attentats",
        "Allégeance à Daech, produits chimiques et repérages de cibles : les premiers éléments "
        "de l'enquête du BCIJ éclairent le projet des quatre suspects arrêtés par la DGST "
        "entre Tanger et Tétouan, placés en garde à vue à la disposition du parquet.",
        20,
    ),
    "info-casablanca": Report(
        "garde-a-vue-suspects-tetouan",
        "Les suspects de la cellule de Tétouan en garde à vue",
        "Les quatre membres présumés de la cellule terroriste démantelée par la DGST à Tétouan "
        "et à Tanger ont été placés en garde à vue. Le BCIJ poursuit ses investigations pour "
        "établir leurs liens avec Daech et d'éventuels complices.",
        26,
    ),
}

# Another event the same rule matches, told by an outlet that later covers the first one.
UNRELATED = (
    "info-casablanca",
    Report(
        "casablanca-dgst-saisit-cannabis",
        "Casablanca : la DGST saisit trois tonnes de cannabis au port",
        "Un renseignement de la DGST a permis la saisie de trois tonnes de résine de cannabis "
        "dissimulées dans un camion frigorifique au port de Casablanca. Le chauffeur, un "
        "ressortissant espagnol, a été interpellé et l'enquête confiée à la police judiciaire.",
        10,
    ),
)


def feed_xml(outlet: str, reports: list[Report], event_at: datetime) -> str:
    items = "".join(
        f"<item><title>{escape(report.title)}</title>"
        f"<link>https://{outlet}.example.org/{report.slug}</link>"
        f"<guid>https://{outlet}.example.org/{report.slug}</guid>"
        f"<description>{escape(report.summary)}</description>"
        f"<pubDate>{format_datetime(event_at + timedelta(hours=report.hours_after))}</pubDate>"
        "</item>"
        for report in reports
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(OUTLETS[outlet])}</title><link>https://{outlet}.example.org/</link>"
        f"<description>Actualités</description><language>fr</language>{items}</channel></rss>"
    )


@dataclass
class Inbox:
    """An aiosmtpd handler that accepts every message and keeps it."""

    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.received.append(parse_received(envelope.content))
        return "250 OK"


@dataclass
class Desk:
    """The project: five outlets' feeds served over HTTP, one subscription mailing a real
    server at once for priority-high rules, with `follow_up: {outlets: 3}`."""

    project: Path
    inbox: Inbox
    event_at: datetime
    published: dict[str, list[Report]] = field(default_factory=dict)
    polls: int = 0

    def publish(self, outlet: str, report: Report) -> None:
        """From the next poll on, `outlet`'s feed carries `report` too."""
        self.published.setdefault(outlet, []).append(report)

    def poll(self) -> list[EmailMessage]:
        """One `monitor run --once`; the messages it sent."""
        self.polls += 1
        for outlet in OUTLETS:
            path = self.project / "feeds" / f"{outlet}.xml"
            text = feed_xml(outlet, self.published.get(outlet, []), self.event_at)
            path.write_text(text, "utf-8")
            # Each poll's files are newer than the last poll's Last-Modified, however fast.
            stamp = time.time() + 60 * self.polls
            os.utime(path, (stamp, stamp))
        before = len(self.inbox.received)
        result = run_cli(self.project, "run", "--once")
        assert result.returncode == 0, result.stderr
        return self.inbox.received[before:]


@pytest.fixture
def desk(project: Path) -> Iterator[Desk]:
    (project / "feeds").mkdir()
    for shipped in (project / "rules").glob("*.yaml"):
        if shipped.name != "actors.yaml":
            shipped.unlink()
    (project / "rules" / "maroc-terrorisme.yaml").write_text(RULE, "utf-8")
    inbox = Inbox()
    smtp = LoopbackSMTP(inbox)
    smtp.start()
    server = FeedServer(project)
    feeds = "".join(
        f"  - id: {outlet}\n    title: {title}\n    url: {server.base}/feeds/{outlet}.xml\n"
        "    allow_private: true\n    language: fr\n"
        for outlet, title in OUTLETS.items()
    )
    (project / "config.yaml").write_text(
        "store: var/monitor.db\nrules: rules\ntemplates: templates\nlanguage: fr\n"
        f"feeds:\n{feeds}"
        "subscriptions:\n"
        "  - id: desk\n    title: Desk\n    rules: ['*']\n    immediate: high\n"
        "    follow_up: {outlets: 3}\n    to: {email: [desk@example.org]}\n"
        f"smtp: {{host: 127.0.0.1, port: {smtp.port}, from: monitor@example.org}}\n",
        encoding="utf-8",
    )
    try:
        event_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
        yield Desk(project, inbox, event_at)
    finally:
        server.close()
        smtp.stop()


def test_five_outlets_telling_one_event_give_one_alert_then_one_follow_up(desk: Desk) -> None:
    first, *later = EVENT
    for report in background_news():
        desk.publish("fil-general", report)
    desk.publish(first, EVENT[first])
    (alert,) = desk.poll()

    desk.publish(later[0], EVENT[later[0]])
    desk.publish(later[1], EVENT[later[1]])
    desk.publish(*UNRELATED)
    (other,) = desk.poll()  # two new outlets: not yet news; the unrelated story: news

    desk.publish(later[2], EVENT[later[2]])
    desk.publish(later[3], EVENT[later[3]])
    (update,) = desk.poll()  # four new outlets in all: one update, not one per outlet
    assert desk.poll() == []  # nothing new: nothing sent

    alert_text = plain_text(alert)
    assert EVENT[first].title in alert_text
    assert UNRELATED[1].title not in alert_text

    other_text = plain_text(other)
    assert UNRELATED[1].title in other_text
    assert all(report.title not in other_text for report in EVENT.values())
    assert "Sujet en développement" not in other["Subject"]

    assert "Sujet en développement" in update["Subject"]
    assert EVENT[first].title in update["Subject"]  # the lead: the first report
    update_text = plain_text(update)
    assert "5 médias" in update_text
    for outlet in later:
        link = f"https://{outlet}.example.org/{EVENT[outlet].slug}"
        assert f"- {OUTLETS[outlet]}: {link}" in update_text
    assert UNRELATED[1].slug not in update_text
    assert len({alert["Message-ID"], other["Message-ID"], update["Message-ID"]}) == 3


def test_status_shows_the_stories_begun_and_the_largest_still_open(desk: Desk) -> None:
    for report in background_news(20):
        desk.publish("fil-general", report)
    for outlet, report in EVENT.items():
        desk.publish(outlet, report)
    desk.publish(*UNRELATED)
    desk.poll()

    result = run_cli(desk.project, "status", "--json")
    assert result.returncode == 0, result.stderr
    stories = json.loads(result.stdout)["stories"]
    # Only the unrelated story began in the last 24 h (the event 30 h ago, the rest before).
    assert stories["last_24h"] == {"stories": 1, "articles": 1, "articles_per_story": 1.0}
    week = stories["last_7d"]
    assert week["articles"] == 20 + len(EVENT) + 1
    assert week["stories"] <= 20 + 2  # some of the background news are one event too
    largest = stories["largest_open"][0]
    assert (largest["title"], largest["articles"], largest["outlets"]) == (
        EVENT["courrier-rabat"].title,
        5,
        5,
    )
    assert stories["open_within_hours"] == 72
    # Background news older than the 72 h window is not open any more.
    old = {report.title for report in background_news(20) if report.hours_after < -42}
    assert old and not old & {story["title"] for story in stories["largest_open"]}

    text = run_cli(desk.project, "status").stdout
    section = text.split("STORIES")[1].split("FEEDBACK")[0]
    assert "begun in the last 24 h: 1 (articles per story: 1)" in section
    assert "largest open (an article in the last 72 h)" in section
    assert EVENT["courrier-rabat"].title in section.splitlines()[3]


def test_the_story_figures_read_the_same_on_both_backends(store_url: str) -> None:
    now = datetime(2026, 3, 9, 12, tzinfo=UTC)
    store = open_store(store_url)
    try:

        def article(key: str, feed: str, story: str, hours_ago: float) -> Article:
            at = now - timedelta(hours=hours_ago)
            return Article(
                key=key,
                feed_id=feed,
                url=f"https://{feed}.example/{key}",
                guid=key,
                title=f"Titre {key}",
                summary="",
                body="",
                published_at=at,
                fetched_at=at,
                language="fr",
                content_hash=key,
                story_id=story,
            )

        placed = [
            ("a1", "f1", "a1", 30),
            ("a2", "f2", "a1", 20),
            ("a3", "f3", "a1", 10),
            ("b1", "f1", "b1", 5),
            ("old", "f1", "old", 100),
        ]
        store.add_articles(
            [article(key, feed, key, hours) for key, feed, _, hours in placed],
            now,
            linker=NearDuplicates(),
            story_since=now - timedelta(days=7),
        )
        sizes: dict[str, int] = {}
        for key, feed, story, _ in placed:
            sizes[story] = sizes.get(story, 0) + 1
            first = min(h for _, _, s, h in placed if s == story)
            last = max(h for _, _, s, h in placed if s == story)
            profile = StoredStory(
                story,
                (("mot", 1.0),),
                frozenset(),
                sizes[story],
                now - timedelta(hours=last),
                now - timedelta(hours=first),
            )
            store.save_placement(key, feed, profile, ("mot",), ("mot",), now)
        day = store.story_figures(now - timedelta(hours=24))
        assert (day.stories, day.articles) == (1, 1)  # b1: a1 began 30 h ago
        week = store.story_figures(now - timedelta(days=7))
        assert (week.stories, week.articles, week.articles_per_story) == (3, 5, 5 / 3)
        largest = store.largest_open_stories(now - timedelta(hours=72))
        assert [(s.story_id, s.title, s.articles, s.outlets) for s in largest] == [
            ("a1", "Titre a1", 3, 3),
            ("b1", "Titre b1", 1, 1),
        ]
    finally:
        store.close()
