"""The rule preview in the workspace, through real sockets: `/preview` (the form, prefilled
from an existing rule), `POST /preview` and `POST /api/preview`, on a store filled by
`monitor replay` with real French feed items. CSRF on every POST, check's messages, the size
cap, the matches the daemon stored, the near misses, and nothing written."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from monitor.rules import MAX_FILE_BYTES
from tests.test_preview import CORPUS, NOW, STORM, archive, row_counts  # noqa: F401
from tests.web_harness import ServedWorkspace

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")
TOKEN = "preview-token-0123456789abcdef"


@pytest.fixture(scope="module")
def site(archive):  # noqa: F811
    # In English, as the assertions read; the browser test reads the shipped French.
    workspace = ServedWorkspace(archive, now=NOW, language="en")
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def client(site):
    with httpx.Client(base_url=site.base, timeout=120) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_the_nav_links_the_preview_and_a_rule_can_be_opened_to_edit(client, archive):  # noqa: F811
    assert 'href="/preview"' in client.get("/").text
    page = client.get("/preview", params={"rule": "storm-alert"})
    assert page.status_code == 200
    assert html.escape(STORM, quote=False) in page.text
    assert client.cookies["monitor_preview_csrf"] == csrf_of(page)
    unknown = client.get("/preview", params={"rule": "nope"})
    assert "no rule &#39;nope&#39; is loaded" in unknown.text


def test_a_post_without_its_csrf_token_is_refused(client, site):
    client.get("/preview")
    assert client.post("/preview", data={"rule": STORM}).status_code == 403
    forged = httpx.post(
        site.base + "/preview",
        data={"rule": STORM, "csrf": "abc.def"},
        cookies={"monitor_preview_csrf": "abc.def"},
    )
    assert forged.status_code == 403 and "CSRF" in forged.text
    api = client.post("/api/preview", json={"rule": STORM, "days": 60})
    assert api.status_code == 403
    assert api.json()["errors"] == [
        "the request has no CSRF token: reload the page and send it again"
    ]


def test_the_preview_page_shows_matches_near_misses_and_days_and_writes_nothing(
    client,
    archive,  # noqa: F811
):
    before = row_counts(archive)
    csrf = csrf_of(client.get("/preview"))
    page = client.post("/preview", data={"rule": STORM, "days": "60", "csrf": csrf})
    assert page.status_code == 200, page.text
    assert re.search(r"Matches: \d\d", page.text)
    assert "<mark>" in page.text  # the matches' sentences, hits marked, as on the match pages
    near = page.text[page.text.index('id="near-misses"') :]
    assert "Crues: Rennes en partie inondée" in near
    assert "needs any of: vigilance, alerte — none found" in near
    assert '<time datetime="2025-01-26">' in page.text[page.text.index('id="days"') :]
    assert row_counts(archive) == before


def test_a_yaml_error_shows_check_s_message_with_the_line(client):
    csrf = csrf_of(client.get("/preview"))
    broken = STORM.replace("  all:\n", "  all:\n   - oops: [\n", 1)
    page = client.post("/preview", data={"rule": broken, "csrf": csrf})
    assert page.status_code == 422
    assert "draft.yaml:7: invalid yaml:" in html.unescape(page.text)
    assert "Matches:" not in page.text
    assert html.escape(broken, quote=False) in page.text  # kept in the form to fix


def test_a_rule_past_the_size_cap_is_refused_unrun(client):
    csrf = csrf_of(client.get("/preview"))
    huge = STORM + "#" * MAX_FILE_BYTES
    page = client.post("/preview", data={"rule": huge, "csrf": csrf})
    assert page.status_code == 422
    assert f"draft.yaml: file too large ({len(huge.encode())} bytes" in page.text


def test_the_api_answers_the_same_as_json(client, site):
    csrf = csrf_of(client.get("/preview"))
    headers = {"x-csrf-token": csrf}
    found = client.post("/api/preview", json={"rule": STORM, "days": 60}, headers=headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["schema"] == "monitor.preview/1" and body["valid"] is True
    stored = site.store._query("SELECT article_key FROM matches WHERE rule_id = 'storm-alert'")
    assert sorted(m["article_key"] for m in body["matches"]) == sorted(
        row["article_key"] for row in stored
    )
    flood = next(n for n in body["near_misses"] if n["title"] == "Crues: Rennes en partie inondée")
    assert flood["clause"] == "match.all[1].any"
    assert flood["failed"] == "needs any of: vigilance, alerte — none found"
    assert sum(day["matches"] for day in body["per_day"]) == body["match_count"]
    broken = client.post("/api/preview", json={"rule": "id: [", "days": 60}, headers=headers)
    assert broken.status_code == 422
    assert broken.json()["errors"][0].startswith("draft.yaml:1: invalid yaml")
    wrong = client.post("/api/preview", content=STORM, headers=headers)
    assert wrong.status_code == 415


def test_with_a_token_a_script_s_bearer_header_stands_for_the_csrf_token(archive):  # noqa: F811
    workspace = ServedWorkspace(archive, token=TOKEN, now=NOW, language="en")
    try:
        answer = httpx.post(
            workspace.base + "/api/preview",
            json={"rule": STORM, "days": 60},
            headers={"authorization": f"Bearer {TOKEN}"},
            timeout=120,
        )
    finally:
        workspace.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["match_count"] > 10
