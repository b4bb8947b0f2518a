"""The workspace over real sockets: the seed project after a real `monitor run --once`, the
real app served by uvicorn on 127.0.0.1, read with httpx the way a browser or a script would.

Pages (matches by story with their explanation, a rule, a story, filters, paging), hostile
text escaped, Atom feeds parsed by feedparser, the export from the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
import re

import feedparser
import httpx
import pytest

from monitor.store import MatchQuery
from monitor.web import EXPORT_COLUMNS
from monitor.web.site import every_match, page_of
from tests.conftest import run_cli
from tests.web_harness import NOW, module_store, project_store, seed_project, served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request, tmp_path_factory):
    """The seed project after a real run, on each backend (one database for the module)."""
    return seed_project(tmp_path_factory.mktemp("web"), store=module_store(request))


@pytest.fixture(scope="module")
def site(seeded):
    with served(seeded) as workspace:
        yield workspace


def get(site, path: str, **headers: str) -> httpx.Response:
    return httpx.get(site.base + path, headers={"accept": "text/html", **headers}, timeout=10)


def visible(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


# --- pages ----------------------------------------------------------------------------


def test_the_front_page_lists_matches_newest_first_with_their_explanation_in_french(site):
    page = get(site, "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="fr">' in html and "Articles retenus récemment" in html
    # The seed alert, with the sentence and its hits marked, why, the alias and the clause.
    assert "France and Morocco step up intelligence sharing" in html
    assert "<mark>Paris 2024</mark> <mark>Olympic Games</mark>" in html
    assert "Pourquoi cet article" in visible(html)
    assert "DGST (DGSN-DGST)" in html  # the alias found, for the actor the rule names
    assert "Règle : (JO 2024 ou Jeux olympiques" in visible(html)
    times = re.findall(r'<time datetime="([^"]+)"', html)
    assert times == sorted(times, reverse=True) and len(times) >= 3
    # One story's copies sit together, and the page links every subscription's feed.
    assert "2 exemplaires de ce sujet" in visible(html)
    assert 'rel="alternate" type="application/atom+xml"' in html
    assert 'href="/feeds/subscriptions/security-desk-alerts.atom"' in html


def test_stored_article_text_is_escaped_everywhere(site):
    html = get(site, "/").text
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in html
    assert "<script" not in html and "<img" not in html
    atom = httpx.get(site.base + "/feeds/rules/morocco-france-security.atom", timeout=10)
    assert "<script" not in atom.text and "&lt;script" in atom.text


def test_a_rule_page_counts_its_matches_per_day_and_links_its_feed(site):
    page = get(site, "/rules/jo2024-security")
    assert page.status_code == 200
    html = page.text
    assert "<h1>JO 2024 security</h1>" in html
    assert re.search(
        r'<time datetime="2023-06-02">2023-06-02</time></td><td class="count">1<', html
    )
    assert '<link rel="alternate" type="application/atom+xml" title="JO 2024 security" ' in html
    assert 'href="/feeds/rules/jo2024-security.atom"' in html
    assert re.search(
        r'<time datetime="2023-05-27">2023-05-27</time></td><td class="count">2<', html
    )
    assert "Articles retenus par jour (les 30 derniers jours qui en ont) : 4" in visible(html)
    # Only this rule's explanations: the page is about it.
    assert "Morocco-France security cooperation</a></p>" not in html
    assert get(site, "/rules/no-such-rule").status_code == 404


def test_a_story_page_shows_every_copy_and_outlet(site):
    front = get(site, "/").text
    section = front.split("2 exemplaires de ce sujet", 1)[1]
    story_path = re.search(r'href="(/stories/[^"]+)"', section).group(1)
    page = get(site, story_path)
    assert page.status_code == 200
    text = visible(page.text)
    assert "2 exemplaires de ce sujet : Wire (English service), Le Courrier de Rabat" in text
    assert text.count("Pourquoi cet article") >= 2
    assert get(site, "/stories/nope").status_code == 404


def test_filters_narrow_the_matches(site):
    def titles(query: str) -> list[str]:
        html = get(site, "/?" + query).text
        return re.findall(r'class="entry-title"><a [^>]*>([^<]+)</a>', html)

    every = titles("")
    english = titles("feed=wire-en")
    assert english and set(english) < set(every)
    # The wire feed carries French copies too: the language is the article's.
    assert titles("language=en") == [
        "France and Morocco step up intelligence sharing ahead of Paris 2024 Olympics"
    ]
    assert titles("feed=wire-en&language=fr") == [
        t for t in english if t not in titles("language=en")
    ]
    high = titles("priority=high")
    assert high and set(high) < set(every)
    assert titles("rule=jo2024-security") == high
    assert titles("from=2030-01-01") == []
    assert titles("tag=no-such-tag") == []
    assert titles("to=2023-06-02") == [t for t in every if t in titles("to=2023-06-02")]
    wrong = get(site, "/?from=yesterday").text
    assert "&#39;from&#39; date &#39;yesterday&#39; is not a date like 2026-06-01" in wrong


def test_pages_are_read_a_page_at_a_time_without_gaps_or_repeats(seeded):
    store = project_store(seeded)
    try:
        whole, after = page_of(store, MatchQuery(), 1000, None)
        assert after is None and len(whole) >= 4
        walked, after = [], None
        while True:
            page, after = page_of(store, MatchQuery(), 2, after)
            walked += page
            if after is None:
                break
        assert [item.article.key for item in walked] == [item.article.key for item in whole]
        assert len(list(every_match(store, MatchQuery(), page_size=1))) == len(whole)
    finally:
        store.close()
    with served(seeded, page_size=2) as site:
        first = get(site, "/").text
        older = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
        second = get(site, older).text
        shown = re.findall(r'<time datetime="([^"]+)"', first + second)
        assert shown == sorted(shown, reverse=True) and len(shown) == 4


# --- Atom -----------------------------------------------------------------------------


def test_a_rule_s_atom_feed_is_valid_and_its_entry_ids_are_stable(site):
    url = site.base + "/feeds/rules/jo2024-security.atom"
    response = httpx.get(url, timeout=10)
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id == "tag:monitor.invalid,2026:rule/jo2024-security"
    assert feed.feed.title == "JO 2024 security"
    assert feed.feed.updated_parsed is not None and feed.feed.author == "monitor"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {"self": url, "alternate": site.base + "/rules/jo2024-security"}
    assert len(feed.entries) == 4
    entry = feed.entries[0]
    assert entry.id.startswith("tag:monitor.invalid,2026:match/jo2024-security/")
    assert (
        entry.title
        == "France and Morocco step up intelligence sharing ahead of Paris 2024 Olympics"
    )
    assert entry.link.startswith("https://wire.example/en/2023/06/02/")
    assert entry.author == "Wire (English service)" and entry.updated_parsed is not None
    assert "<strong>Paris 2024</strong> <strong>Olympic Games</strong>" in entry.content[0].value
    assert "Pourquoi cet article" in entry.content[0].value
    again = feedparser.parse(httpx.get(url, timeout=10).content)
    assert [e.id for e in again.entries] == [e.id for e in feed.entries]
    assert len({e.id for e in feed.entries}) == 4


def test_a_subscription_s_atom_feed_carries_its_rules_matches(site):
    feed = feedparser.parse(
        httpx.get(site.base + "/feeds/subscriptions/security-desk-daily.atom", timeout=10).content
    )
    assert not feed.bozo and feed.feed.title == "Security desk daily digest"
    assert len(feed.entries) >= 3
    assert len({entry.id for entry in feed.entries}) == len(feed.entries)
    assert all(entry.content[0].value and entry.updated_parsed for entry in feed.entries)
    missing = httpx.get(site.base + "/feeds/subscriptions/nobody.atom", timeout=10)
    assert missing.status_code == 404


# --- export ---------------------------------------------------------------------------


def test_the_api_and_the_cli_export_the_same_rows_and_columns(site, seeded):
    since = "2023-06-01"
    api_csv = httpx.get(site.base + f"/api/matches?since={since}&format=csv", timeout=10)
    assert api_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(api_csv.text)))
    assert tuple(rows[0]) == EXPORT_COLUMNS and len(rows) >= 4
    alert = next(row for row in rows if row["rule_id"] == "jo2024-security")
    assert alert["priority"] == "high" and alert["outlet"] == "Wire (English service)"
    assert "security" in alert["terms"].split(" | ")
    assert alert["sentence"].startswith("Morocco will send police officers to France")
    # A cell a spreadsheet would run as a formula is quoted (none here), lists are joined.
    cli = run_cli(seeded, "export", "matches", "--since", since, "--format", "csv")
    assert cli.returncode == 0, cli.stderr
    assert list(csv.DictReader(io.StringIO(cli.stdout))) == rows
    jsonl = run_cli(seeded, "export", "matches", "--since", since, "--format", "jsonl")
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [tuple(line) for line in lines] == [EXPORT_COLUMNS] * len(rows)
    assert [line["article_key"] for line in lines] == [row["article_key"] for row in rows]
    api_json = httpx.get(site.base + f"/api/matches?since={since}", timeout=10).json()
    assert api_json["schema"] == "monitor.matches/1" and api_json["matches"] == lines


def test_the_export_refuses_what_it_cannot_read(site, seeded, tmp_path):
    bad = httpx.get(site.base + "/api/matches?since=last+week", timeout=10)
    assert bad.status_code == 400 and "is neither a duration" in bad.text
    assert httpx.get(site.base + "/api/matches?format=xls", timeout=10).status_code == 400
    out = tmp_path / "m.csv"
    written = run_cli(seeded, "export", "matches", "--since", "2023-06-01", "--out", str(out))
    assert written.returncode == 0 and out.read_text("utf-8").startswith("matched_at,")
    recent = run_cli(seeded, "export", "matches", "--since", "1h", "--format", "jsonl")
    assert recent.returncode == 0 and recent.stdout == ""  # the seed is from 2023
    wrong = run_cli(seeded, "export", "matches", "--since", "soon")
    assert wrong.returncode == 1 and "is neither a duration" in wrong.stderr
    assert NOW.year == 2023
