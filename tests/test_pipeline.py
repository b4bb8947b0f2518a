"""The pipeline in-process over `seeds/`: golden articles, matches and deliveries, and the
wiring between stages that unit tests of each stage cannot see.

`pytest --update-golden` rewrites `tests/golden/pipeline_seed.json`; review its diff like code.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import collect_status, format_status
from monitor.errors import FetchError
from monitor.model import Feed
from monitor.rules import load_rules
from tests.conftest import ROOT
from tests.pipeline_harness import Harness, body_result, make_harness

GOLDEN = Path(__file__).parent / "golden" / "pipeline_seed.json"
NOW = datetime(2023, 6, 14, 6, 0, tzinfo=UTC)
SEED_TITLE = "Le réchauffement des relations franco-marocaines se confirme"


@pytest.fixture
def harness(tmp_path):
    made = make_harness(tmp_path)
    yield made
    made.close()


@pytest.fixture
def backend_harness(tmp_path, store_url):
    """The harness on each backend: the golden run must come out the same on both."""
    made = make_harness(tmp_path, store_url=store_url)
    yield made
    made.close()


def observed(harness: Harness) -> dict[str, object]:
    """What a reviewer checks after a run, without ids, keys or timestamps."""
    query = harness.store._query
    rows = query("SELECT key, feed_id, title, story_id FROM articles")
    titles = {row["key"]: row["title"] for row in rows}
    articles = sorted(
        (
            {
                "feed": row["feed_id"],
                "title": row["title"],
                # A story is named by the title of the article that opened it.
                "story": titles.get(row["story_id"], "?"),
            }
            for row in rows
        ),
        key=lambda article: (article["feed"], article["title"]),
    )
    matches = sorted(
        (
            {
                "title": titles[row["article_key"]],
                "rule": row["rule_id"],
                "score": row["score"],
                "wanted": sorted({hit["wanted"] for hit in json.loads(row["hits"])}),
            }
            for row in query("SELECT * FROM matches")
        ),
        key=lambda m: (m["rule"], m["title"]),
    )
    deliveries = [
        {
            "subscription": delivery.subscription_id,
            "subject": delivery.message.subject,
            "articles": sorted(titles[key] for key in delivery.article_keys),
        }
        for delivery in harness.channel.sent
    ]
    return {"articles": articles, "matches": matches, "deliveries": deliveries}


def test_seed_feeds_give_the_golden_articles_matches_and_deliveries(backend_harness, request):
    harness = backend_harness
    reports = harness.poll(NOW, force=True)
    assert {report.feed_id: report.status for report in reports} == {
        "seed-fr": "new",
        "wire-en": "new",
    }
    harness.deliver(NOW)
    got = observed(harness)
    if request.config.getoption("--update-golden"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert got == expected


def test_a_second_pass_adds_and_sends_nothing(backend_harness):
    harness = backend_harness
    harness.poll(NOW, force=True)
    harness.deliver(NOW)
    sent = len(harness.channel.sent)
    later = NOW + timedelta(hours=1)
    reports = harness.poll(later, force=True)
    harness.deliver(later)
    assert {report.status for report in reports} == {"unchanged"}
    assert len(harness.channel.sent) == sent == 1


def test_an_unchanged_body_is_not_parsed_again(harness):
    """A 200 with the same bytes (a server without validators) is recognised by its hash."""
    harness.poll(NOW, force=True)
    again = harness.poll(NOW + timedelta(minutes=10), force=True)
    assert {report.status for report in again} == {"unchanged"}
    assert all(report.entries == 0 for report in again)


def test_feed_tags_reach_rules_that_name_them_in_sources(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "actors.yaml").write_text((ROOT / "rules" / "actors.yaml").read_text())
    (rules / "maghreb.yaml").write_text(
        "id: maghreb-watch\nname: Maghreb watch\nsources: [maghreb]\nmatch:\n  any: [Rabat]\n",
        encoding="utf-8",
    )

    def tag_seed_feed(feeds: tuple[Feed, ...]) -> tuple[Feed, ...]:
        return tuple(
            replace(feed, tags=("maghreb",)) if feed.id == "seed-fr" else feed for feed in feeds
        )

    made = make_harness(tmp_path, feeds=tag_seed_feed, rules=load_rules(rules))
    try:
        made.poll(NOW, force=True)
        seen = observed(made)
    finally:
        made.close()
    matched = seen["matches"]
    feeds_of = {m["title"]: m["rule"] for m in matched}
    assert SEED_TITLE in feeds_of, "a rule with sources: [<feed tag>] must match that feed"
    # The English wire carries "Rabat" too, but its feed has no such tag.
    assert {m["title"] for m in matched} <= {
        row["title"] for row in seen["articles"] if row["feed"] == "seed-fr"
    }


def test_a_reload_that_adds_an_entity_checked_actor_switches_entities_on(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    actors = "actors:\n  - id: lerner\n    name: Nicolas Lerner\n    type: person\n"
    (rules / "actors.yaml").write_text(actors, encoding="utf-8")
    (rules / "plain.yaml").write_text(
        "id: plain\nname: Plain\nmatch:\n  any: [Rabat]\n", encoding="utf-8"
    )
    made = make_harness(tmp_path, rules=load_rules(rules))
    try:
        made.poll(NOW, force=True)
        assert made.annotator.entity_flags and not any(made.annotator.entity_flags)
        (rules / "actors.yaml").write_text(
            actors + "    aliases: [Lerner]\n    require_entity: true\n", encoding="utf-8"
        )
        (rules / "who.yaml").write_text(
            "id: who\nname: Who\nmatch:\n  actors: {any: [lerner]}\n", encoding="utf-8"
        )
        made.pipeline.use_rules(load_rules(rules))
        made.annotator.entity_flags.clear()
        made.store.forget_matches_since(NOW - timedelta(days=1))
        made.match_pending(NOW)
        # NER runs for the articles naming Lerner (monitor.match.entity_gate), not for all
        assert True in made.annotator.entity_flags
        assert any(m["rule"] == "who" for m in observed(made)["matches"])
    finally:
        made.close()


def test_retry_after_reaches_the_feeds_next_poll(harness):
    feed = harness.config.feeds[0]
    harness.fetcher.script[feed.url] = [
        FetchError("server error (503 status code)", url=feed.url, status=503, retry_after_s=3600)
    ]
    harness.poll(NOW, force=True)
    state = harness.store.feed_state(feed.id)
    assert state is not None and state.next_poll_at is not None
    assert state.next_poll_at >= NOW + timedelta(seconds=3600)
    harness.fetcher.calls.clear()
    harness.poll(NOW + timedelta(minutes=30))
    assert feed.url not in harness.fetcher.calls


def test_a_permanent_redirect_is_followed_on_the_next_poll(harness):
    feed = harness.config.feeds[0]
    moved = "seeds/feeds/seed-fr-moved.xml"
    body = (ROOT / feed.url).read_bytes()
    harness.fetcher.script[feed.url] = [
        body_result(feed, body, NOW, redirected_permanently_to=moved)
    ]
    harness.fetcher.script[moved] = [body_result(feed, body, NOW)]
    harness.poll(NOW, force=True)
    harness.fetcher.calls.clear()
    harness.poll(NOW + timedelta(minutes=10), force=True)
    assert harness.fetcher.calls.count(moved) == 1
    assert feed.url not in harness.fetcher.calls
    report = collect_status(harness.config, harness.pipeline, harness.store, NOW)
    assert f"feed 'seed-fr' moved permanently to {moved}" in format_status(report)


def test_a_poison_article_is_quarantined_and_the_rest_still_alerts(harness):
    harness.annotator.poison = "Derby"
    harness.poll(NOW, force=True)
    harness.deliver(NOW)
    # The seed article still went out at once.
    assert [d.subscription_id for d in harness.channel.sent] == ["security-desk-alerts"]
    for minutes in (1, 2):
        harness.match_pending(NOW + timedelta(minutes=minutes))
    text = format_status(collect_status(harness.config, harness.pipeline, harness.store, NOW))
    assert "ANALYSIS  quarantined: 1" in text
    assert "the analysis cannot read 'Derby'" in text
    harness.annotator.poison = None
    harness.annotator.titles.clear()
    harness.match_pending(NOW + timedelta(minutes=3))
    assert not any("Derby" in title for title in harness.annotator.titles)  # never again
