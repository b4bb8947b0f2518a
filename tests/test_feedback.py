"""Analysts' feedback in the store and what it changes: verdicts per (article, rule) that a
later click replaces, and a muted story that is never delivered again (a real
`monitor run --once` and `monitor digest send` into the folder outbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.store import MatchQuery, Store
from tests.conftest import run_cli
from tests.web_harness import seed_project

NOW = datetime(2023, 6, 14, 12, 0, tzinfo=UTC)
JO = "jo2024-security"
MOROCCO = "morocco-france-security"
# The seed story told twice (Le Courrier de Rabat, then a syndicated copy), matched by both
# rules, and the first of its copies.
TWICE_TOLD = "g:0781898ac9e3242f7082912d6c848ad7"
TWICE_TOLD_COPY = "g:95e93fe662deed07787cfbc49988eb02"


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    return seed_project(tmp_path, hostile=False)


def open_store(project: Path) -> Store:
    return Store(project / "var" / "monitor.db")


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
        assert store.mute_story(TWICE_TOLD, NOW, article_key=TWICE_TOLD_COPY, rule_id=JO)
        assert store.muted_story_ids([TWICE_TOLD, "g:other"]) == {TWICE_TOLD}
    finally:
        store.close()
    _with_late_copy_and_new_story(seeded)

    run = run_cli(seeded, "run", "--once")
    assert run.returncode == 0, run.stderr
    store = open_store(seeded)
    try:
        copies = store.story_articles(TWICE_TOLD)
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
        assert store.mute_story(TWICE_TOLD, NOW)
        assert store.mute_story(TWICE_TOLD, NOW + timedelta(hours=1))  # still muted, once
        owed = {article.story_id for article, _ in store.undelivered("fresh-desk", [JO, MOROCCO])}
        assert TWICE_TOLD not in owed and owed
        assert store.unmute_story(TWICE_TOLD)
        assert not store.unmute_story(TWICE_TOLD)
        owed = {article.story_id for article, _ in store.undelivered("fresh-desk", [JO, MOROCCO])}
        assert TWICE_TOLD in owed
    finally:
        store.close()
