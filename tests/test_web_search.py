"""Archive search in the workspace over real sockets: `/search` and `/api/search` on the seed
project after a real `monitor run --once`, served by uvicorn on 127.0.0.1 and read with httpx.

Every stored article is searched, matched or not; words are highlighted from offsets and
escaped; a query that cannot run says why (400), never a 500; filters, order and pages.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.web_harness import module_store, seed_project, served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request, tmp_path_factory):
    """The seed project after a real run, on each backend (one database for the module)."""
    return seed_project(tmp_path_factory.mktemp("search"), store=module_store(request))


@pytest.fixture(scope="module")
def site(seeded):
    # The smallest page the config allows, so the seed's 16 articles make several pages.
    with served(seeded, page_size=5) as workspace:
        yield workspace


def page(site, **params: str) -> httpx.Response:
    return httpx.get(
        site.base + "/search", params=params, headers={"accept": "text/html"}, timeout=10
    )


def api(site, **params: str) -> httpx.Response:
    return httpx.get(site.base + "/api/search", params=params, timeout=10)


def visible(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def results(html: str) -> list[str]:
    return re.findall(r'<article class="entry result">(.*?)</article>', html, flags=re.S)


def test_a_name_finds_every_article_naming_it_newest_first_with_the_name_marked(site):
    response = page(site, q="Hammouchi")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="fr">' in html and "4 articles trouvés" in visible(html)
    found = results(html)
    assert len(found) == 4
    assert all("<mark>Hammouchi</mark>" in item for item in found)
    times = re.findall(r'<time datetime="([^"]+)"', html)
    assert times == sorted(times, reverse=True)
    # Where a rule matched, the page says which, with a link to the rule.
    assert 'Retenu par\u202f:</span> <a href="/rules/morocco-france-security">' in found[0]


def test_articles_no_rule_matched_are_found_too(site):
    everything = visible(page(site, q="Rabat").text)
    unmatched = page(site, q="Rabat", matched="no").text
    matched = page(site, q="Rabat", matched="yes").text
    assert "le Salon international de l’édition" in everything
    assert "le Salon international de l’édition" in visible(unmatched)
    assert "Aucune règle ne l’a retenu." in visible(unmatched)
    assert "Retenu par" not in visible(unmatched)
    assert "le Salon international" not in visible(matched)
    counts = [
        int(re.search(r"(\d+) articles? trouvés?", visible(html)).group(1))
        for html in (page(site, q="Rabat").text, unmatched, matched)
    ]
    assert counts[0] == counts[1] + counts[2] and counts[1] > 0 and counts[2] > 0


def test_accents_and_case_do_not_matter(site):
    html = page(site, q="SECURITE").text
    assert "<mark>sécurité</mark>" in html or "<mark>Sécurité</mark>" in html
    assert visible(html).count("trouvé") == 1


def test_phrases_exclusions_and_or(site):
    def count(query: str) -> int:
        return api(site, q=query).json()["total"]

    assert count('"Nicolas Lerner"') == count("Nicolas Lerner") > 0
    assert count('"Lerner Nicolas"') == 0
    assert 0 < count("Hammouchi -Olympics") < count("Hammouchi")
    assert count("Strasbourg OR Casablanca") == count("Strasbourg") + count("Casablanca")


def test_hostile_article_text_stays_text_and_only_the_words_are_marked(site):
    html = page(site, q="alert").text
    assert "&lt;script&gt;<mark>alert</mark>(&#34;title&#34;)&lt;/script&gt;" in html
    assert "<script" not in html
    # The query itself is hostile too, and echoed escaped in the form.
    html = page(site, q='<img src=x onerror=alert(1)> "x').text
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize(
    ("query", "says"),
    [
        # (visible() reads French typography's narrow spaces as plain ones)
        ('"JO 2024', "les guillemets ouverts avant « JO 2024 » ne sont pas fermés"),
        ("sécurité OR", "OR demande un mot à chercher de chaque côté"),
        ("-billetterie", "indiquez ce qu’il faut chercher"),
        ("*:^()", "« *:^() » ne contient rien à chercher"),
    ],
)
def test_a_query_that_cannot_run_gets_a_clear_message(site, query, says):
    response = page(site, q=query)
    assert response.status_code == 400
    assert says in visible(response.text)
    assert 'name="q" value="' in response.text  # the form is there to fix it
    answer = api(site, q=query)
    assert answer.status_code == 400 and answer.json()["error"]


@pytest.mark.parametrize(
    "query", ["NEAR(JO 2024)", "title:Hammouchi", "JO AND", "a*b*c", "Hammouchi'--"]
)
def test_fts5_syntax_in_a_query_is_searched_as_words(site, query):
    assert page(site, q=query).status_code == 200


def test_filters_by_feed_language_and_date(site):
    def keys(**params: str) -> set[str]:
        return {found["article_key"] for found in api(site, q="Rabat", **params).json()["results"]}

    every = api(site, q="Rabat OR Paris").json()
    assert every["total"] > 5
    wire = api(site, q="Rabat OR Paris", feed="wire-en").json()["results"]
    assert wire and {found["feed_id"] for found in wire} == {"wire-en"}
    english = api(site, q="Rabat OR Paris", language="en").json()["results"]
    assert english and {found["language"] for found in english} == {"en"}
    june = api(site, q="Rabat OR Paris", **{"from": "2023-06-01", "to": "2023-06-30"}).json()
    assert june["results"] and all(f["published_at"] >= "2023-06" for f in june["results"])
    assert june["total"] < every["total"]
    assert keys(feed="nowhere") == set()
    bad = api(site, q="Rabat", **{"from": "juin"})
    assert bad.status_code == 400 and "'from' date 'juin'" in bad.json()["error"]


def test_results_come_a_page_at_a_time_each_once(site):
    first = api(site, q="le OR la OR les OR the").json()
    assert first["total"] == 16 and len(first["results"]) == 5 and first["offset"] == 0
    seen, answer = [], first
    while True:
        seen += [found["article_key"] for found in answer["results"]]
        if answer["next"] is None:
            break
        answer = httpx.get(site.base + answer["next"], timeout=10).json()
    assert len(seen) == len(set(seen)) == 16
    html = page(site, q="le OR la OR les OR the", page="2").text
    assert "résultats 6 à 10" in visible(html)
    assert 'rel="prev"' in html and 'rel="next"' in html


def test_relevance_order_puts_a_title_hit_first(site):
    by_date = api(site, q="billetterie OR Vélodrome").json()["results"]
    by_rank = api(site, q="billetterie OR Vélodrome", sort="relevance").json()["results"]
    assert {f["article_key"] for f in by_date} == {f["article_key"] for f in by_rank}
    assert (
        "billetterie" in by_rank[0]["title"].lower() or "vélodrome" in by_rank[0]["title"].lower()
    )


def test_the_api_gives_the_text_and_the_offsets_of_each_highlight(site):
    answer = api(site, q="Hammouchi")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert (body["schema"], body["q"], body["sort"], body["total"]) == (
        "monitor.search/1",
        "Hammouchi",
        "date",
        4,
    )
    for found in body["results"]:
        assert set(found) == {
            "article_key",
            "story_id",
            "feed_id",
            "outlet",
            "language",
            "published_at",
            "url",
            "title",
            "title_highlights",
            "snippet",
            "rules",
        }
        text = found["snippet"]["text"]
        assert [text[start:end] for start, end in found["snippet"]["highlights"]] == [
            "Hammouchi"
        ] * len(found["snippet"]["highlights"])
        assert found["snippet"]["highlights"]
    assert {"id": "morocco-france-security", "name": "Morocco-France security cooperation"} in (
        body["results"][0]["rules"]
    )
    assert api(site).status_code == 400


def test_every_page_links_the_search_and_an_empty_search_shows_the_form(site):
    front = httpx.get(site.base + "/", headers={"accept": "text/html"}, timeout=10).text
    assert '<a href="/search">Rechercher</a>' in front
    empty = page(site)
    assert empty.status_code == 200
    assert '<form class="filters search" method="get" action="/search"' in empty.text
    assert "trouvé" not in visible(empty.text) and not results(empty.text)
