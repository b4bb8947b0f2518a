"""Spike alerts end to end: a replay where a surge arrives sends one spike alert, with its
explanation, to a real SMTP server (aiosmtpd on 127.0.0.1); a second replay, or more of the
surge within the cool-down, sends nothing more. Plus the webhook body, the digest's trend,
`monitor status` and /metrics."""

from __future__ import annotations

import email
import json
import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest

from monitor.deliver.channels.webhook import _event_type
from monitor.deliver.render import Renderer, _sample_digest
from monitor.ingest import STORY_WINDOW, NearDuplicates
from monitor.model import Match, Priority
from monitor.store import Store
from tests.articles import body_article
from tests.conftest import ROOT, LoopbackSMTP, run_cli, use_store
from tests.web_harness import served

WORDS = (
    "réseau hôpital mairie université banque opérateur rançon données serveurs enquête "
    "gendarmerie parquet victimes clients messagerie paralysie facture courriel téléphonie "
    "région préfecture entreprise logiciel sauvegarde chiffrement revendication groupe "
    "pirates plainte audit agence ministère collectivité port aéroport transport énergie"
).split()

RULE = """\
id: cyber
name: Cyberattaques
match:
  any: [cyberattaque]
spike:
  window: 1h
  min_count: 5
  min_outlets: 3
"""


class Recorder:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=policy.default)
        )
        return "250 OK queued"


@pytest.fixture
def smtp():
    handler = Recorder()
    controller = LoopbackSMTP(handler)
    controller.start()
    yield handler, controller.port
    controller.stop()


def story(seed: int, at: datetime) -> tuple[str, str, datetime]:
    """A distinct article about a cyberattack: each on its own victim and place (words of
    its own), so neither the near-duplicate index nor event stories take two for one."""
    rng = random.Random(seed)

    def own_word() -> str:
        return "".join(rng.choice("bcdfglmnprstv") + rng.choice("aeiou") for _ in range(4))

    place = own_word().capitalize()
    words = [own_word() for _ in range(40)] + [rng.choice(WORDS) for _ in range(20)]
    rng.shuffle(words)
    body = " ".join(words)
    return f"Cyberattaque à {place} : {rng.choice(WORDS)} touché", f"Une cyberattaque. {body}", at


def write_feed(path: Path, items: list[tuple[str, str, datetime]]) -> Path:
    entries = "".join(
        f"<item><title>{escape(title)}</title><link>https://news{path.stem}.example/{abs(hash(title))}"
        f"</link><guid>{escape(title)}-{path.stem}</guid><description>{escape(body)}</description>"
        f"<pubDate>{at.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
        for title, body, at in items
    )
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{path.stem}'
        f"</title><link>https://{path.stem}.example/</link><language>fr</language>{entries}"
        "</channel></rss>",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def spike_project(project, smtp, request):
    """The project with the cyber rule and desk; on PostgreSQL when the test asks for it."""
    _, port = smtp
    if getattr(request, "param", "sqlite") == "postgresql":
        databases = request.getfixturevalue("pg_databases")
        use_store(project, databases.server.socket_url(databases.create()))
    (project / "rules" / "cyber.yaml").write_text(RULE, encoding="utf-8")
    config = project / "config.yaml"
    text = config.read_text("utf-8").replace(
        "subscriptions:\n",
        "subscriptions:\n  - id: cyber-desk\n    rules: [cyber]\n    schedule: '0 8 * * *'\n"
        "    language: en\n    to: {email: [desk@example.org]}\n",
        1,
    )
    config.write_text(text + f"\nsmtp: {{host: 127.0.0.1, port: {port}}}\n", "utf-8")
    return project


def replay(project: Path, *paths: Path) -> None:
    result = run_cli(project, "replay", "--deliver", *map(str, paths))
    assert result.returncode == 0, result.stderr


# One end-to-end case on PostgreSQL: the spike tables' SQL runs there too.
@pytest.mark.parametrize("spike_project", ["sqlite", "postgresql"], indirect=True)
def test_a_surge_sends_one_spike_alert_with_its_explanation_and_no_more(spike_project, smtp):
    handler, _ = smtp
    now = datetime.now(UTC)
    feeds = spike_project / "replayed"
    feeds.mkdir()
    # Ten days of one story a day at this hour: the usual count is 1 ± 0.
    usual = [story(day, now - timedelta(days=day, minutes=20)) for day in range(1, 11)]
    replay(spike_project, write_feed(feeds / "archive.xml", usual))
    # The surge arrives outlet by outlet: two stories each in the last 40 minutes, and one
    # wire story every outlet carries (near-identical copies: one story).
    title, body, at = story(999, now - timedelta(minutes=3))
    paths = [
        write_feed(
            feeds / f"outlet{n}.xml",
            [
                *(story(100 + 2 * n + i, now - timedelta(minutes=5 + 9 * n + i)) for i in (0, 1)),
                (title, f"{body} (outlet {n})", at),
            ],
        )
        for n in range(4)
    ]
    replay(spike_project, *paths)
    spikes = [m for m in handler.messages if m["Subject"].startswith("Spike")]
    assert len(spikes) == 1, [m["Subject"] for m in handler.messages]
    [alert] = spikes
    # It fired when the third outlet's stories came in (min_outlets 3): 6 + the wire story.
    explanation = "7 stories in the last hour against 1 ± 0 usually"
    assert alert["Subject"] == f"Spike: Cyberattaques — {explanation}"
    text = alert.get_body(("plain",)).get_content()
    assert explanation in text
    assert "7 distinct stories from 3 outlets" in text
    first = text.split("The stories behind it:")[1].strip().splitlines()
    assert first[0].startswith(f"1. {title}")  # the wire story leads: most outlets
    assert "3 outlets" in first[1]

    # The same files again, then more of the surge within the cool-down: nothing more.
    replay(spike_project, *paths)
    more = [story(200 + i, now - timedelta(minutes=1)) for i in range(8)]
    extra = [write_feed(feeds / f"late{n}.xml", more[n::4]) for n in range(4)]
    replay(spike_project, *extra)
    assert len([m for m in handler.messages if m["Subject"].startswith("Spike")]) == 1

    status = run_cli(spike_project, "status", "--json")
    [state] = json.loads(status.stdout)["spikes"]
    assert (state["rule"], state["state"]) == ("cyber", "cooling")
    assert state["count"] == 17 and state["last_fired_at"] is not None
    plain = run_cli(spike_project, "status").stdout
    assert "cyber" in plain.split("SPIKES")[1].split("ANALYSIS")[0]


def test_without_a_spike_key_the_surge_sends_no_spike_alert(spike_project, smtp):
    handler, _ = smtp
    rule = spike_project / "rules" / "cyber.yaml"
    rule.write_text(RULE.split("spike:")[0], encoding="utf-8")
    now = datetime.now(UTC)
    usual = [story(day, now - timedelta(days=day, minutes=20)) for day in range(1, 11)]
    surge = [story(100 + i, now - timedelta(minutes=5 + 4 * i)) for i in range(8)]
    feeds = spike_project / "replayed"
    feeds.mkdir()
    paths = [write_feed(feeds / f"o{n}.xml", [*usual[n::4], *surge[n::4]]) for n in range(4)]
    replay(spike_project, *paths)
    assert not [m for m in handler.messages if m["Subject"].startswith("Spike")]


def test_the_webhook_body_is_a_spike_event():
    renderer = Renderer(ROOT / "templates")
    message = renderer.render(_sample_digest("spike"))
    body = json.loads(message.payload)
    assert (body["schema"], body["type"]) == ("monitor.digest/1", "spike")
    assert body["spike"]["rule"] == {"id": "sample-rule", "name": "Sample rule"}
    assert (body["spike"]["count"], body["spike"]["expected"]) == (34, 3)
    assert _event_type(message.payload) == "spike"
    slack = renderer.render(_sample_digest("spike"), payload_format="slack")
    assert _event_type(slack.payload) == "spike"
    assert "34 stories from 9 outlets" in json.loads(slack.payload)["text"]


def test_the_digest_shows_the_rule_s_stories_per_day_marked_where_a_spike_fired(
    spike_project, smtp
):
    now = datetime.now(UTC)
    feeds = spike_project / "replayed"
    feeds.mkdir()
    usual = [story(day, now - timedelta(days=day, minutes=20)) for day in range(1, 11)]
    replay(spike_project, write_feed(feeds / "archive.xml", usual))
    surge = [story(100 + i, now - timedelta(minutes=5 + 4 * i)) for i in range(8)]
    replay(spike_project, *(write_feed(feeds / f"o{n}.xml", surge[n::4]) for n in range(4)))
    out = spike_project / "digest.html"
    result = run_cli(
        spike_project, "digest", "preview", "cyber-desk", "--since", "30d", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    html = out.read_text("utf-8")
    assert "The last 7 days" in html
    trend = html.split("The last 7 days")[1]
    labels = re.findall(r'title="(\d{4}-\d\d-\d\d): (\d+)"', trend)
    # Seven days ending today (in the subscription's zone, UTC here): one story a day, then
    # today's eight (computed, so that a run just after midnight agrees too).
    days = [(now.date() - timedelta(days=back)).isoformat() for back in range(6, -1, -1)]
    dates = [at.date().isoformat() for _, _, at in (*usual, *surge)]
    assert labels == [(day, str(dates.count(day))) for day in days]
    assert trend.count("#b42318") == 1  # one day marked: the spike's
    assert "a spike alert went out that day" in trend

    # The workspace's rule page shows the same seven days, newest first, the spike's marked.
    with served(spike_project, now=now) as workspace:
        page = httpx.get(workspace.base + "/rules/cyber", timeout=10)
    assert page.status_code == 200
    # The workspace speaks the configuration's language, French here.
    shown = page.text.split("Sujets par jour sur les 7 derniers jours")[1].split("</table>")[0]
    rows = re.findall(
        r'<tr( class="spike")?><td><time datetime="(\d{4}-\d\d-\d\d)">[^<]*</time></td>'
        r'<td class="count">(\d+)(\*?)</td><td><meter min="0" max="(\d+)" value="(\d+)"',
        shown,
    )
    assert [(day, count) for _, day, count, *_ in rows] == labels[::-1]
    assert [day for marked, day, _, star, *_ in rows if marked and star] == [days[-1]]
    assert {int(most) for *_, most, _ in rows} == {max(int(count) for _, count in labels)}
    total = sum(int(count) for _, count in labels)
    assert shown.split("</h2>")[0] == f"\u202f: {total}"
    assert "* une alerte de pic est partie ce jour-là" in page.text
    assert "style=" not in shown  # the CSP allows no inline style (monitor/web/security.py)


def test_metrics_show_a_rule_in_a_spike_until_its_cool_down_runs_out():
    from monitor.app.status import effective_spike_state
    from monitor.metrics import Metrics

    metrics = Metrics()
    now = datetime(2026, 3, 9, 12, tzinfo=UTC)
    later = now + timedelta(hours=1)
    metrics.set_spike_state("cyber", effective_spike_state("cooling", later, now))
    metrics.set_spike_state("quiet-rule", effective_spike_state("quiet", None, now))
    text = metrics.exposition().decode()
    assert 'monitor_rule_spike{rule_id="cyber"} 1.0' in text
    assert 'monitor_rule_spike{rule_id="quiet-rule"} 0.0' in text
    metrics.set_spike_state("cyber", effective_spike_state("cooling", later, later))
    assert 'monitor_rule_spike{rule_id="cyber"} 0.0' in metrics.exposition().decode()


def test_a_surge_counts_the_stories_its_matches_are_in_now(store_url):
    """Event stories can merge after a match was recorded: the count follows the articles
    into the story they are in now, so one merged event counts once."""
    now = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
    store = Store(store_url)
    try:
        made = [
            replace(body_article(text, key=key), content_hash=key, published_at=now)
            for key, text in (("a", "Une cyberattaque à Lyon."), ("b", "Cyberattaque, Lyon."))
        ]
        stored = store.add_articles(
            made, now, linker=NearDuplicates(), story_since=now - STORY_WINDOW
        )
        matches = [
            Match("cyber", "Cyberattaques", article.key, Priority.NORMAL, 1.0, ())
            for article in stored
        ]
        store.record_rule_stories(stored, matches)
        before = {row.story_id for row in store.rule_stories_since(["cyber"], now)}
        assert before == {"a", "b"}
        with store._transaction() as db:  # a later article bridged the two: one event now
            db.execute("UPDATE articles SET story_id = 'a' WHERE key = 'b'")
        after = {row.story_id for row in store.rule_stories_since(["cyber"], now)}
        assert after == {"a"}
    finally:
        store.close()
