"""Feedback in the workspace over real sockets: the buttons on every match (plain forms that
post to /feedback and come back with a 303), the verdict shown and changeable, a story muted
and unmuted, CSRF refused, only local redirects, hostile fields escaped, the JSON API with
its CSRF header or the bearer token, and a rule's measured precision on its page."""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import UTC, datetime

import httpx
import pytest

from monitor.web import FEEDBACK_COLUMNS
from tests.web_harness import seed_project, served

JO = "jo2024-security"
MOROCCO = "morocco-france-security"
TWICE_TOLD = "g:0781898ac9e3242f7082912d6c848ad7"  # a story in two copies, matched by both rules
WIRE = "g:63e8cc3fc64e3c4961878eba90d0fb1a"  # the English wire alert, matched by both rules
TOKEN = "a-long-random-token-for-tests-0123456789"
WHEN = datetime(2023, 6, 14, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return seed_project(tmp_path_factory.mktemp("webfeedback"))


@pytest.fixture
def project(seed, tmp_path):
    """A private copy of the seeded project: each test's votes stay its own."""
    copy = tmp_path / "project"
    shutil.copytree(seed, copy)
    return copy


@pytest.fixture
def site(project):
    with served(project) as workspace:
        yield workspace


@pytest.fixture
def browser(site):
    with httpx.Client(base_url=site.base, headers={"accept": "text/html"}, timeout=10) as client:
        yield client


def story_of(site: object, key: str) -> str:
    """The story an article joined: the seed run polls its feeds at once, so which copy
    arrives first, and so names the story, varies from run to run."""
    article = site.store.article(key)  # type: ignore[attr-defined]
    assert article is not None
    return str(article.story_id)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def visible(html: str) -> str:
    # Only ASCII blanks: French typography keeps its narrow no-break spaces.
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html))


def article_block(html: str, key: str) -> str:
    start = html.index(f'id="article-{key}"')
    return html[start : html.index("</article>", start)]


def match_block(html: str, key: str, rule_id: str) -> str:
    """The explanation and buttons of one rule's match on one article."""
    article = article_block(html, key)
    start = article.index(f'href="/rules/{rule_id}"')
    end = article.find('<div class="match">', start)
    return article[start : end if end != -1 else len(article)]


# --- the buttons and the redirect back ----------------------------------------------------


def test_a_click_on_a_match_stores_the_verdict_and_comes_back_showing_it(site, browser):
    page = browser.get("/?rule=jo2024-security")
    assert page.status_code == 200
    html = page.text
    csrf = csrf_of(html)
    assert browser.cookies["monitor_csrf"] == csrf
    buttons = match_block(html, TWICE_TOLD, JO)
    assert 'value="relevant"' in buttons and 'value="not_relevant"' in buttons
    assert "Pertinent" in visible(buttons) and "Non pertinent" in visible(buttons)
    assert 'value="on"' in article_block(html, TWICE_TOLD)  # mute this story

    answer = browser.post(
        "/feedback",
        data={
            "csrf": csrf,
            "back": "/?rule=jo2024-security",
            "article_key": TWICE_TOLD,
            "rule_id": JO,
            "verdict": "not_relevant",
        },
    )
    # Post/Redirect/Get: a reload of the page it lands on posts nothing again.
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/?rule=jo2024-security#article-{TWICE_TOLD}"
    assert site.store.verdicts_for([TWICE_TOLD]) == {(TWICE_TOLD, JO): "not_relevant"}

    shown = match_block(browser.get(answer.headers["location"]).text, TWICE_TOLD, JO)
    assert "Jugé non pertinent" in visible(shown)
    assert 'value="not_relevant"' not in shown and 'value="relevant"' in shown
    assert "Retirer mon avis" in visible(shown)
    # The verdict is the match's: the other rule's match on the same article has none.
    story = browser.get(f"/stories/{story_of(site, TWICE_TOLD)}").text
    assert "Jugé" not in visible(match_block(story, TWICE_TOLD, MOROCCO))

    for verdict, wanted in (("relevant", "Jugé pertinent"), ("clear", None)):
        form = {"csrf": csrf, "back": "/", "article_key": TWICE_TOLD, "rule_id": JO}
        assert browser.post("/feedback", data={**form, "verdict": verdict}).status_code == 303
        shown = visible(match_block(browser.get("/").text, TWICE_TOLD, JO))
        if wanted:
            assert wanted in shown and "Jugé non pertinent" not in shown
        else:
            assert "Jugé" not in shown
    assert site.store.verdicts_for([TWICE_TOLD]) == {}


def test_mute_this_story_then_undo_it(site, browser):
    html = browser.get("/").text
    story_id = story_of(site, TWICE_TOLD)
    form = {"csrf": csrf_of(html), "back": "/", "story_id": story_id, "article_key": TWICE_TOLD}
    muted = browser.post("/feedback", data={**form, "mute": "on", "rule_id": JO})
    assert muted.status_code == 303
    assert site.store.muted_story_ids([story_id]) == {story_id}
    story = browser.get(f"/stories/{story_id}").text
    # Every copy of the story says so, and offers the undo.
    assert visible(story).count("Sujet mis en sourdine\u202f: il n’est plus signalé") == 2
    assert "Réactiver ce sujet" in visible(story) and 'value="off"' in story
    assert 'class="entry muted"' in story

    assert browser.post("/feedback", data={**form, "mute": "off"}).status_code == 303
    assert site.store.muted_story_ids([story_id]) == set()
    assert "Mettre ce sujet en sourdine" in visible(browser.get(f"/stories/{story_id}").text)


# --- what is refused --------------------------------------------------------------------


def test_a_post_without_this_servers_csrf_token_is_refused_and_changes_nothing(site, browser):
    csrf = csrf_of(browser.get("/").text)
    form = {"back": "/", "article_key": TWICE_TOLD, "rule_id": JO, "verdict": "not_relevant"}
    missing = browser.post("/feedback", data=form)
    assert missing.status_code == 403 and "CSRF" in missing.text
    forged = browser.post("/feedback", data={**form, "csrf": "x.y"})
    assert forged.status_code == 403
    # Another site's form: the right field, but the browser holds no cookie for it.
    elsewhere = httpx.post(site.base + "/feedback", data={**form, "csrf": csrf}, timeout=10)
    assert elsewhere.status_code == 403
    assert site.store.verdicts_for([TWICE_TOLD]) == {}


def test_a_redirect_goes_back_only_to_a_page_of_this_site(browser):
    csrf = csrf_of(browser.get("/").text)
    form = {"csrf": csrf, "article_key": TWICE_TOLD, "rule_id": JO, "verdict": "relevant"}
    for back in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"):
        answer = browser.post("/feedback", data={**form, "back": back})
        assert answer.headers["location"] == f"/#article-{TWICE_TOLD}", back


def test_hostile_fields_come_back_escaped_and_unknown_matches_are_named(browser):
    csrf = csrf_of(browser.get("/").text)
    hostile = '<script>alert("x")</script>'
    answer = browser.post(
        "/feedback",
        data={
            "csrf": csrf,
            "back": "/",
            "article_key": hostile,
            "rule_id": JO,
            "verdict": "relevant",
        },
    )
    assert answer.status_code == 404
    assert "<script>alert" not in answer.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in answer.text
    wrong = browser.post(
        "/feedback",
        data={"csrf": csrf, "article_key": TWICE_TOLD, "rule_id": JO, "verdict": "<b>maybe</b>"},
    )
    assert wrong.status_code == 400 and "<b>maybe" not in wrong.text


# --- the JSON API ------------------------------------------------------------------------


def test_the_api_takes_a_verdict_with_the_csrf_header_and_lists_it(site):
    with httpx.Client(base_url=site.base, timeout=10) as script:
        body = {"article_key": WIRE, "rule_id": MOROCCO, "verdict": "not_relevant"}
        refused = script.post("/api/feedback", json=body)
        assert refused.status_code == 403 and "x-csrf-token" in refused.json()["error"]
        listing = script.get("/api/feedback")
        assert listing.status_code == 200 and listing.json()["feedback"] == []
        token = listing.headers["x-csrf-token"]
        plain = script.post(
            "/api/feedback", content=b"verdict=relevant", headers={"x-csrf-token": token}
        )
        assert plain.status_code == 415
        answer = script.post("/api/feedback", json=body, headers={"x-csrf-token": token})
        assert answer.status_code == 200
        assert answer.json() == {"article_key": WIRE, "rule_id": MOROCCO, "verdict": "not_relevant"}
        muted = script.post(
            "/api/feedback",
            json={"story_id": story_of(site, TWICE_TOLD), "mute": True, "by": "desk-bot"},
            headers={"x-csrf-token": token},
        )
        assert muted.json() == {"story_id": story_of(site, TWICE_TOLD), "muted": True}
        unknown = script.post(
            "/api/feedback",
            json={"article_key": "g:nope", "rule_id": JO, "verdict": "relevant"},
            headers={"x-csrf-token": token},
        )
        assert unknown.status_code == 404 and "g:nope" in unknown.json()["error"]
        bad = script.post(
            "/api/feedback",
            json={"article_key": WIRE, "rule_id": JO, "verdict": "maybe"},
            headers={"x-csrf-token": token},
        )
        assert bad.status_code == 400

        document = script.get("/api/feedback").json()
        assert document["schema"] == "monitor.feedback/1"
        actions = [
            (row["action"], row["rule_id"], row["decided_by"]) for row in document["feedback"]
        ]
        assert sorted(actions) == [("muted", "", "desk-bot"), ("not_relevant", MOROCCO, "")]
        assert document["rules"] == [
            {
                "rule_id": MOROCCO,
                "rule_name": "Morocco-France security cooperation",
                "relevant": 0,
                "not_relevant": 1,
                "votes": 1,
                "precision": 0.0,
            }
        ]
        exported = script.get("/api/feedback?format=csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert tuple(rows[0]) == FEEDBACK_COLUMNS and len(rows) == 3
        cleared = script.post(
            "/api/feedback",
            json={"article_key": WIRE, "rule_id": MOROCCO, "verdict": None},
            headers={"x-csrf-token": token},
        )
        assert cleared.json()["verdict"] is None
        assert site.store.verdicts_for([WIRE]) == {}


def test_with_a_token_a_script_sends_the_bearer_header_instead(project):
    with served(project, token=TOKEN) as site:
        body = {"article_key": WIRE, "rule_id": JO, "verdict": "relevant"}
        anonymous = httpx.post(site.base + "/api/feedback", json=body, timeout=10)
        assert anonymous.status_code == 401
        answer = httpx.post(
            site.base + "/api/feedback",
            json=body,
            headers={"authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 200
        assert site.store.verdicts_for([WIRE]) == {(WIRE, JO): "relevant"}


# --- a rule's measured precision ---------------------------------------------------------


def test_a_rule_page_shows_its_precision_with_the_counts_overall_and_per_week(site, browser):
    page = visible(browser.get("/rules/jo2024-security").text)
    assert "Précision mesurée (avis des analystes)" in page and "aucun avis pour l’instant" in page

    site.store.record_verdict(WIRE, JO, "relevant", WHEN)
    single = visible(browser.get("/rules/jo2024-security").text)
    # One vote is never a bare "100 %".
    assert "100\u202f% pertinents\u202f: 1 sur 1 avis" in single

    site.store.record_verdict(TWICE_TOLD, JO, "relevant", WHEN)
    site.store.record_verdict("g:95e93fe662deed07787cfbc49988eb02", JO, "not_relevant", WHEN)
    html = browser.get("/rules/jo2024-security").text
    assert "67\u202f% pertinents\u202f: 2 sur 3 avis" in visible(html)
    weeks = re.findall(
        r'<tr><td><time datetime="([\d-]+)">[^<]+</time></td><td class="count">(\d+)</td>'
        r'<td class="count">(\d+)</td><td class="count">([^<]+)</td></tr>',
        html,
    )
    # The wire story was published on 2 June (week of 29 May), the two copies on 27 May.
    assert weeks == [("2023-05-29", "1", "0", "100\u202f%"), ("2023-05-22", "1", "1", "50\u202f%")]
