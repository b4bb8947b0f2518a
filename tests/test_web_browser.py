"""The workspace in a real browser: Playwright drives Debian's Chromium against `monitor web`
(a real process on a loopback port) over a store filled by a real `monitor run --once`.

It finds the seed alert with its highlighted sentence, opens the story and the rule, follows
the rule's Atom link and parses the feed, searches the archive for a name, marks a match
"not relevant" and sees it on the page, and previews a draft rule and sees a near miss; no
page logs an error (a CSP refusal would).
Skipped, saying why, where Chromium is not installed (`apt-get install chromium`).
`MONITOR_UPDATE_SCREENSHOT=1` rewrites the pictures docs/img/web-*.png.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess

import feedparser
import pytest

from tests.conftest import CHROMIUM, MONITOR, ROOT, needs_chromium
from tests.web_harness import seed_project

PICTURES = ROOT / "docs" / "img"
VIEWS = (("desktop", 1100, 900), ("phone", 390, 844))

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """`monitor web --listen 127.0.0.1:0` on the seeded project, and the address it printed."""
    project = seed_project(tmp_path_factory.mktemp("browser"), hostile=False)
    process = subprocess.Popen(
        [*MONITOR, "web", "--listen", "127.0.0.1:0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with selectors.DefaultSelector() as waiting:
            assert process.stdout is not None
            waiting.register(process.stdout, selectors.EVENT_READ)
            assert waiting.select(timeout=120), "monitor web printed no address"
            line = process.stdout.readline()
        found = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        assert found, line + (process.stderr.read() if process.poll() is not None else "")
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # Root in containers; the pages are our own, on loopback.
            args=["--no-sandbox", "--disable-gpu"],
        )
        yield chromium
        chromium.close()


def test_an_analyst_finds_the_alert_opens_its_story_and_rule_and_follows_the_feed(
    workspace, browser
):
    page = browser.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(workspace)
    assert page.title() == "Articles retenus récemment · monitor"

    alert = page.locator(
        "article.entry", has_text="France and Morocco step up intelligence sharing"
    )
    assert alert.count() == 1
    marked = alert.locator(".match").first.locator("mark").all_inner_texts()
    assert marked[:3] == ["security", "Paris 2024", "Olympic Games"]
    assert "Pourquoi cet article" in alert.inner_text()

    alert.get_by_role("link", name="le sujet").click()
    page.wait_for_load_state()
    assert page.url.startswith(workspace + "stories/")
    assert page.locator("h1").inner_text() == (
        "France and Morocco step up intelligence sharing ahead of Paris 2024 Olympics"
    )
    assert "1 exemplaire de ce sujet\u202f: Wire (English service)" in page.inner_text("main")
    assert page.locator("article.entry mark").count() >= 3

    page.get_by_role("link", name="JO 2024 security").first.click()
    page.wait_for_load_state()
    assert page.url == workspace + "rules/jo2024-security"
    assert page.locator("table.days tr").count() >= 2

    feed_url = page.locator('link[rel="alternate"][type="application/atom+xml"]').get_attribute(
        "href"
    )
    assert feed_url == "/feeds/rules/jo2024-security.atom"
    response = page.request.get(workspace.rstrip("/") + feed_url)
    assert response.ok
    feed = feedparser.parse(response.body())
    assert not feed.bozo and feed.feed.title == "JO 2024 security" and len(feed.entries) >= 3
    assert errors == []


def test_an_analyst_searches_the_archive_for_a_name_and_sees_it_highlighted(workspace, browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(workspace)
    page.get_by_role("link", name="Rechercher", exact=True).click()
    page.wait_for_load_state()
    assert page.url == workspace + "search"
    page.get_by_label("Mots").fill("hammouchi")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    assert page.url.startswith(workspace + "search?q=hammouchi")
    assert "4 articles trouvés" in page.inner_text("main")
    first = page.locator("article.result").first
    assert first.locator("mark").first.inner_text() == "Hammouchi"
    assert first.locator("mark").first.is_visible()
    assert "Retenu par" in first.inner_text()
    assert errors == []
    # A malformed query is answered on the page (status 400), with the form to fix it.
    page.get_by_label("Mots").fill('"JO 2024')
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    assert "ne sont pas fermés" in page.locator("p.problem").inner_text()
    assert page.get_by_label("Mots").input_value() == '"JO 2024'


def test_an_analyst_marks_a_match_not_relevant_and_sees_it_on_the_page(workspace, browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(workspace + "rules/jo2024-security")
    alert = page.locator(
        "article.entry", has_text="France and Morocco step up intelligence sharing"
    )
    alert.get_by_role("button", name="Non pertinent", exact=True).click()
    page.wait_for_load_state()
    # Back on the same page (a plain form, a 303 back), the verdict shown and changeable.
    assert page.url.startswith(workspace + "rules/jo2024-security")
    alert = page.locator(
        "article.entry", has_text="France and Morocco step up intelligence sharing"
    )
    assert "Jugé non pertinent" in alert.inner_text()
    assert alert.get_by_role("button", name="Pertinent", exact=True).is_visible()
    assert "0\u202f% pertinents\u202f: 0 sur 1 avis" in page.inner_text("main")
    alert.get_by_role("button", name="Retirer mon avis").click()
    page.wait_for_load_state()
    assert "Jugé" not in page.inner_text("main")
    assert errors == []


def test_the_search_results_fit_a_phone(workspace, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(workspace + "search?q=Hammouchi")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert page.locator("article.result mark").first.is_visible()


DRAFT = """\
id: energy-draft
name: Énergie hors Maroc
match:
  all:
    - any: [hydrogène, énergie]
    - any: [Allemagne, Espagne]
"""


def test_an_analyst_previews_a_draft_rule_and_sees_a_near_miss(workspace, browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(workspace)
    page.get_by_role("link", name="Essai de règle").click()
    page.wait_for_load_state()
    assert page.url == workspace + "preview"
    page.locator("textarea[name=rule]").fill(DRAFT)
    # The seed's articles are from 2023: reach back far enough for them.
    page.locator("input[name=days]").fill("3660")
    page.get_by_role("button", name="Essayer").click()
    page.wait_for_load_state()
    near = page.locator("article.near-miss", has_text="feuille de route")
    assert near.count() == 1
    assert "demande l’un de\u202f: Allemagne, Espagne — aucun trouvé" in near.inner_text()
    assert near.locator("mark").count() >= 1  # what the clause that held found, marked
    assert "Presque retenus\u202f: " in page.inner_text("main")
    assert errors == []
    if os.environ.get("MONITOR_UPDATE_SCREENSHOT"):
        page.set_viewport_size({"width": 1100, "height": 900})
        near.scroll_into_view_if_needed()
        page.screenshot(path=str(PICTURES / "web-preview.png"), full_page=False)


@pytest.mark.parametrize(("view", "width", "height"), VIEWS)
def test_the_front_page_is_readable_on_a_desktop_and_a_phone(
    workspace, browser, tmp_path, view, width, height
):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(workspace)
    # Nothing wider than the screen: no sideways scrolling on a phone.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert page.locator("mark").first.is_visible()
    picture = tmp_path / f"web-{view}.png"
    page.screenshot(path=str(picture), full_page=False)
    assert picture.stat().st_size > 10_000
    if os.environ.get("MONITOR_UPDATE_SCREENSHOT"):
        shutil.copy(picture, PICTURES / f"web-{view}.png")


@pytest.mark.parametrize(
    ("name", "path"), [("search", "search?q=Hammouchi"), ("rule", "rules/jo2024-security")]
)
def test_the_search_and_rule_pages_fit_a_phone_and_are_pictured(
    workspace, browser, tmp_path, name, path
):
    for view, width, height in VIEWS:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(workspace + path)
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        assert page.locator("main").inner_text().strip()
        if view == "desktop":
            picture = tmp_path / f"web-{name}.png"
            page.screenshot(path=str(picture), full_page=False)
            assert picture.stat().st_size > 10_000
            if os.environ.get("MONITOR_UPDATE_SCREENSHOT"):
                shutil.copy(picture, PICTURES / f"web-{name}.png")
        page.close()
