"""Analysts' feedback in the store and what it changes: verdicts per (article, rule) that a
later click replaces, a rule's precision counted from the stored votes, a muted story that
is never delivered again (a real `monitor run --once` and `monitor digest send` into the
folder outbox), `monitor status` naming the worst rules, and `monitor export feedback`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.store import MatchQuery, Store
from monitor.web import FEEDBACK_COLUMNS
from monitor.web.verdicts import rule_precision
from tests.conftest import run_cli
from tests.web_harness import project_store, seed_project

NOW = datetime(2023, 6, 14, 12, 0, tzinfo=UTC)
JO = "jo2024-security"
MOROCCO = "morocco-france-security"
# The seed story told twice (Le Courrier de Rabat, then a syndicated copy), matched by both
# rules, and the first of its copies.
TWICE_TOLD = "g:0781898ac9e3242f7082912d6c848ad7"
TWICE_TOLD_COPY = "g:95e93fe662deed07787cfbc49988eb02"


@pytest.fixture
def seeded(tmp_path: Path, store_url: str) -> Path:
    """The seed project after a real run, on each backend."""
    return seed_project(tmp_path, hostile=False, store=store_url)


def open_store(project: Path) -> Store:
    return project_store(project)


def story_of(store: Store, key: str) -> str:
    """The story an article joined: the seed run polls its feeds at once, so which copy
    arrives first, and so names the story, varies from run to run."""
    article = store.article(key)
    assert article is not None and article.story_id
    return article.story_id


def matches_of(store: Store, rule_id: str) -> list[str]:
    """The article keys this rule matched, oldest published first."""
    found = store.matched_page(MatchQuery(rule_ids=(rule_id,)), limit=100)
    return [item.article.key for item in sorted(found, key=lambda item: item.article.published_at)]


# --- verdicts and precision ----------------------------------------------------------------


def test_a_verdict_is_per_article_and_rule_and_a_later_click_replaces_it(seeded):
    store = open_store(seeded)
    try:
        assert store.record_verdict(TWICE_TOLD, JO, "not_relevant", NOW)
        assert store.record_verdict(TWICE_TOLD, MOROCCO, "relevant", NOW)
        assert store.verdicts_for([TWICE_TOLD]) == {
            (TWICE_TOLD, JO): "not_relevant",
            (TWICE_TOLD, MOROCCO): "relevant",
        }
        # Changed, not added: one vote per match.
        assert store.record_verdict(TWICE_TOLD, JO, "relevant", NOW + timedelta(minutes=1))
        assert store.feedback_tallies()[JO].votes == 1
        assert store.verdicts_for([TWICE_TOLD])[(TWICE_TOLD, JO)] == "relevant"
        assert store.clear_verdict(TWICE_TOLD, JO)
        assert (TWICE_TOLD, JO) not in store.verdicts_for([TWICE_TOLD])
        # Only stored matches can be judged: this rule never matched the copy's sibling.
        assert not store.record_verdict("g:nope", JO, "relevant", NOW)
        assert not store.record_verdict(TWICE_TOLD, "no-such-rule", "relevant", NOW)
        with pytest.raises(ValueError, match="verdict 'maybe'"):
            store.record_verdict(TWICE_TOLD, JO, "maybe", NOW)
    finally:
        store.close()


def test_precision_is_relevant_over_all_votes_per_week_and_overall(seeded):
    store = open_store(seeded)
    try:
        keys = matches_of(store, MOROCCO)
        assert len(keys) == 4  # 27 May (twice), 2 June, 7 June
        for key, verdict in zip(
            keys, ["relevant", "not_relevant", "relevant", "relevant"], strict=True
        ):
            assert store.record_verdict(key, MOROCCO, verdict, NOW)
        tally = store.feedback_tallies()[MOROCCO]
        assert (tally.relevant, tally.not_relevant, tally.votes) == (3, 1, 4)
        assert tally.precision == 0.75
        precision = rule_precision(store.rule_verdicts(MOROCCO), ZoneInfo("Europe/Paris"))
    finally:
        store.close()
    assert precision.overall.percent == 75 and precision.overall.votes == 4
    # Weeks start on Monday, newest first: 5 June (7 June), 29 May (2 June), 22 May (27 May).
    assert [(line.week, line.relevant, line.not_relevant) for line in precision.weeks] == [
        ("2023-06-05", 1, 0),
        ("2023-05-29", 1, 0),
        ("2023-05-22", 1, 1),
    ]
    assert precision.weeks[2].percent == 50


def test_percentages_round_half_up_and_need_a_vote():
    from monitor.web import PrecisionLine

    assert PrecisionLine("", 1, 7).percent == 13  # 12.5 %
    assert PrecisionLine("", 2, 1).percent == 67
    assert PrecisionLine("", 0, 0).percent is None


# --- a muted story is never delivered again ----------------------------------------------

LATE_DESK = """subscriptions:
  - id: late-desk
    title: Late desk
    rules: ["*"]
    immediate: high
    to: {folder: var/outbox-late}
"""

NEW_STORY = """
    <item>
      <title>Paris 2024 : la préfecture renforce la sécurité des Jeux olympiques</title>
      <link>https://lecourrier-rabat.example/securite/2023/06/13/seine-jo-2024</link>
      <guid isPermaLink="false">lcr-2023-0613-9001</guid>
      <pubDate>Tue, 13 Jun 2023 09:00:00 +0100</pubDate>
      <description><![CDATA[<p>La sécurité des Jeux olympiques de Paris 2024 sera renforcée
      autour de la Seine pour la cérémonie d'ouverture, a annoncé la préfecture de police.</p>]]>
      </description>
    </item>
"""


def _with_late_copy_and_new_story(project: Path) -> None:
    """A new subscription owed everything, a later copy of the twice-told story (its text
    under another address) and an unrelated new story matching the high-priority rule."""
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("subscriptions:\n", LATE_DESK, 1), "utf-8")
    feed = project / "seeds" / "feeds" / "seed-fr.xml"
    text = feed.read_text("utf-8")
    start = text.index("<item>\n      <title>Le réchauffement des relations")
    original = text[start : text.index("</item>", start) + len("</item>")]
    copy = (
        original.replace("lcr-2023-0527-4821", "lcr-2023-0613-copy")
        .replace("/2023/05/27/", "/2023/06/13/")
        .replace("Sat, 27 May 2023 10:15:00", "Tue, 13 Jun 2023 10:15:00")
        # A republished copy, lightly edited: the same text would be the same article.
        .replace("<p>La visite de travail", "<p>Mis à jour le 13 juin. La visite de travail")
    )
    feed.write_text(text.replace("<item>", NEW_STORY + copy + "\n    <item>", 1), "utf-8")


def _sent_html(folder: Path, subscription: str) -> str:
    return "\n".join(
        path.read_text("utf-8") for path in sorted(folder.glob(f"*{subscription}*.html"))
    )


def test_a_muted_story_is_never_alerted_or_put_in_a_digest_again(seeded):
    store = open_store(seeded)
    try:
        story = story_of(store, TWICE_TOLD)
        assert store.mute_story(story, NOW, article_key=TWICE_TOLD_COPY, rule_id=JO)
        assert store.muted_story_ids([story, "g:other"]) == {story}
    finally:
        store.close()
    _with_late_copy_and_new_story(seeded)

    run = run_cli(seeded, "run", "--once")
    assert run.returncode == 0, run.stderr
    store = open_store(seeded)
    try:
        copies = store.story_articles(story)
    finally:
        store.close()
    # The new copy joined the muted story and was matched like the others...
    assert len(copies) == 3 and all(item.matches for item in copies)
    # ...but the subscription that never received the story is not sent any of its copies,
    # while the other stories still go out.
    late = _sent_html(seeded / "var" / "outbox-late", "late-desk")
    assert "la préfecture renforce la sécurité des Jeux olympiques" in late
    assert "France and Morocco step up intelligence sharing" in late
    assert "réchauffement" not in late
    alerts = _sent_html(seeded / "var" / "outbox", "security-desk-alerts")
    assert alerts.count("la préfecture renforce la sécurité") >= 1

    digest = run_cli(seeded, "digest", "send", "security-desk-daily")
    assert digest.returncode == 0, digest.stderr
    daily = _sent_html(seeded / "var" / "outbox", "security-desk-daily")
    assert "Tétouan" in daily and "la préfecture renforce la sécurité" in daily
    assert "réchauffement" not in daily
    # The preview shows what was matched, sent or not, but not a muted story either.
    preview = run_cli(seeded, "digest", "preview", "security-desk-daily", "--out", "p.html")
    assert preview.returncode == 0, preview.stderr
    shown = (seeded / "p.html").read_text("utf-8")
    assert "Tétouan" in shown and "réchauffement" not in shown


def test_an_unmuted_story_is_owed_again_and_a_story_must_exist_to_be_muted(seeded):
    store = open_store(seeded)
    try:
        assert not store.mute_story("g:no-such-story", NOW)
        story = story_of(store, TWICE_TOLD)
        assert store.mute_story(story, NOW)
        assert store.mute_story(story, NOW + timedelta(hours=1))  # still muted, once
        owed = {article.story_id for article, _ in store.undelivered("fresh-desk", [JO, MOROCCO])}
        assert story not in owed and owed
        assert store.unmute_story(story)
        assert not store.unmute_story(story)
        owed = {article.story_id for article, _ in store.undelivered("fresh-desk", [JO, MOROCCO])}
        assert story in owed
    finally:
        store.close()


# --- monitor status and monitor export feedback ---------------------------------------


def _vote(project: Path) -> None:
    """Morocco rule: 2 relevant, 3 not (5 votes: ranked); JO rule: 1 relevant (unranked)."""
    store = open_store(project)
    try:
        keys = [
            item.article.key
            for item in store.matched_page(MatchQuery(rule_ids=(MOROCCO,)), limit=100)
        ]
        assert len(keys) == 5
        for key, verdict in zip(keys, ["relevant", "relevant"] + ["not_relevant"] * 3, strict=True):
            assert store.record_verdict(key, MOROCCO, verdict, NOW)
        assert store.record_verdict(TWICE_TOLD, JO, "relevant", NOW, by="analyst@desk")
        assert store.mute_story(story_of(store, TWICE_TOLD), NOW + timedelta(minutes=5), rule_id=JO)
    finally:
        store.close()


def test_status_lists_the_rules_with_the_worst_feedback_precision_with_their_counts(
    tmp_path, store_url
):
    project = seed_project(tmp_path, hostile=True, store=store_url)
    _vote(project)
    result = run_cli(project, "status")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert (
        "FEEDBACK  6 votes on 2 rules; worst precision among rules with at least 5 votes:" in text
    )
    row = next(line for line in text.splitlines() if line.lstrip().startswith(MOROCCO))
    assert row.split() == [MOROCCO, "40", "%", "2", "3", "5"]
    assert "1 rules with fewer votes are not ranked yet" in text
    report = json.loads(run_cli(project, "status", "--json").stdout)
    (worst,) = report["feedback"]["worst_rules"]
    assert worst["rule_id"] == MOROCCO and worst["precision"] == 0.4 and worst["votes"] == 5


def test_status_says_when_no_one_has_voted(seeded):
    result = run_cli(seeded, "status")
    assert "FEEDBACK  no vote yet" in result.stdout


def test_export_feedback_writes_every_verdict_and_mute_with_its_columns(tmp_path, store_url):
    project = seed_project(tmp_path, hostile=True, store=store_url)
    _vote(project)
    result = run_cli(project, "export", "feedback", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == FEEDBACK_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(records) == 7  # six verdicts and one mute
    store = open_store(project)
    try:
        muted_story = story_of(store, TWICE_TOLD)
    finally:
        store.close()
    mute = records[0]  # the newest decision comes first
    assert mute["action"] == "muted" and mute["story_id"] == muted_story
    assert mute["rule_id"] == JO and mute["rule_name"] == "JO 2024 security"
    jo = next(r for r in records if r["action"] == "relevant" and r["rule_id"] == JO)
    assert jo["article_key"] == TWICE_TOLD and jo["decided_by"] == "analyst@desk"
    assert jo["title"] == "Le réchauffement des relations franco-marocaines se confirme"
    assert jo["published_at"].startswith("2023-05-27T09:15")
    hostile = next(r for r in records if "script" in r["title"])
    assert hostile["title"] == 'La DGST et le Maroc <script>alert("title")</script>'

    lines = run_cli(project, "export", "feedback", "--format", "jsonl", "--rule", JO).stdout
    parsed = [json.loads(line) for line in lines.splitlines()]
    assert {row["rule_id"] for row in parsed} == {JO} and len(parsed) == 2
    document = json.loads(run_cli(project, "export", "feedback", "--format", "json").stdout)
    assert document["schema"] == "monitor.feedback/1"
    tallies = {rule["rule_id"]: rule for rule in document["rules"]}
    assert tallies[MOROCCO]["precision"] == 0.4 and tallies[JO]["votes"] == 1
    later = run_cli(project, "export", "feedback", "--since", "2023-06-14T12:01:00+00:00")
    assert [row[1] for row in csv.reader(io.StringIO(later.stdout))] == ["action", "muted"]
