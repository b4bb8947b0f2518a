"""Rendering digests and alerts with the shipped templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.model import Article, Digest, DigestEntry, Hit, Match, Priority
from monitor.render import WEBHOOK_SCHEMA, Renderer

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HOSTILE_TITLE = "<script>alert(1)</script>{{ 7*7 }}"


def make_article(key: str, title: str, summary: str, *, hour: int = 7) -> Article:
    moment = datetime(2024, 7, 26, hour, 30, tzinfo=UTC)
    return Article(
        key=key,
        feed_id="seed-fr",
        url=f"https://news.example.fr/{key}",
        guid=None,
        title=title,
        summary=summary,
        body="",
        published_at=moment,
        fetched_at=moment,
        language="fr",
        content_hash=key,
    )


def hit_in(article: Article, field: str, wanted: str, matched: str, **extra: str) -> Hit:
    text = article.field_text(field)
    start = text.index(matched)
    return Hit(wanted, matched, field, start, start + len(matched), text, **extra)


FRENCH_SUMMARY = (
    "Le dispositif de sécurité des JO 2024 mobilise le renseignement ; "
    "Abdellatif Hammouchi a rencontré ses homologues français."
)


def security_entry() -> DigestEntry:
    article = make_article(
        "jo-securite", "Sécurité des Jeux : la coopération franco-marocaine salue", FRENCH_SUMMARY
    )
    hits = (
        hit_in(article, "summary", "sécurité", "sécurité"),
        hit_in(article, "summary", "JO 2024", "JO 2024"),
        hit_in(article, "summary", "Abdellatif Hammouchi", "Hammouchi", actor_id="hammouchi"),
    )
    match = Match("jo2024-security", "JO 2024 security", article.key, Priority.HIGH, 2.5, hits)
    return DigestEntry(article, (match,), feed_title="Le Monde Afrique")


def hostile_entry() -> DigestEntry:
    article = make_article(
        "hostile", HOSTILE_TITLE, "Une note sur la sécurité <b>publique</b>.", hour=6
    )
    hits = (hit_in(article, "summary", "sécurité", "sécurité"),)
    match = Match("energy", "Énergie et sécurité", article.key, Priority.NORMAL, 1.0, hits)
    return DigestEntry(article, (match,))


def make_digest(kind: str = "digest", *entries: DigestEntry, **extra: object) -> Digest:
    return Digest(
        subscription_id="security-desk",
        kind=kind,
        created_at=datetime(2024, 7, 26, 6, 0, tzinfo=UTC),
        timezone="Europe/Paris",
        entries=entries or (security_entry(), hostile_entry()),
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


def test_shipped_templates_have_no_errors(renderer):
    assert renderer.template_errors() == []


@pytest.mark.parametrize("kind", ["digest", "immediate"])
def test_both_parts_explain_the_match(renderer, kind):
    message = renderer.render(make_digest(kind))
    for body in (message.text, message.html):
        assert "Sécurité des Jeux : la coopération franco-marocaine salue" in body
        assert "JO 2024 security" in body
        assert "terms: sécurité, JO 2024; actors: Abdellatif Hammouchi" in body
        assert "https://news.example.fr/jo-securite" in body
        assert "Le Monde Afrique" in body
        # 07:30 UTC shown in the subscription's time zone
        assert "2024-07-26 09:30 CEST" in body
    assert '<a href="https://news.example.fr/jo-securite"' in message.html
    assert "<mark" in message.html and ">sécurité</mark>" in message.html
    assert ">Hammouchi</mark>" in message.html
    assert "*sécurité*" in message.text and "*JO 2024*" in message.text


def test_rules_are_ordered_by_priority(renderer):
    message = renderer.render(make_digest("digest", hostile_entry(), security_entry()))
    assert message.text.index("JO 2024 security") < message.text.index("Énergie et sécurité")


def test_hostile_title_is_escaped_and_never_evaluated(renderer):
    message = renderer.render(make_digest())
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}" in message.html
    assert "&lt;b&gt;publique&lt;/b&gt;" in message.html
    assert "49" not in message.html and "49" not in message.text
    assert HOSTILE_TITLE in message.text


def test_subjects(renderer):
    alert = renderer.render(make_digest("immediate"))
    assert alert.subject == (
        "[monitor] JO 2024 security: "
        "Sécurité des Jeux : la coopération franco-marocaine salue and 1 more"
    )
    digest = renderer.render(make_digest("digest", title="Revue sécurité"))
    assert digest.subject == (
        "[monitor] Revue sécurité: 2 articles — "
        "Sécurité des Jeux : la coopération franco-marocaine salue"
    )
    single = renderer.render(make_digest("digest", security_entry()))
    assert single.subject.startswith("[monitor] security-desk: 1 article — ")


def test_subject_never_carries_line_breaks(renderer):
    article = make_article("crlf", "Alerte\r\nBcc: victim@example.org\x00", "Rien.")
    entry = DigestEntry(article, (Match("r", "Rule\nname", "crlf", Priority.HIGH, 1.0, ()),))
    message = renderer.render(make_digest("immediate", entry))
    assert "\r" not in message.subject and "\n" not in message.subject
    assert "\x00" not in message.subject
    assert message.subject == "[monitor] Rule name: Alerte Bcc: victim@example.org"


def test_feed_health_section_only_when_feeds_fail(renderer):
    healthy = renderer.render(make_digest())
    assert "Feed health" not in healthy.html and "Feed health" not in healthy.text
    problems = ("seed-fr: server error (503 status code)",)
    sick = renderer.render(make_digest(feed_problems=problems))
    for body in (sick.html, sick.text):
        assert "Feed health" in body
        assert "seed-fr: server error (503 status code)" in body


def test_empty_digest_says_so(renderer):
    digest = Digest("security-desk", "digest", datetime(2024, 7, 26, tzinfo=UTC), "UTC", ())
    message = renderer.render(digest)
    assert message.subject == "[monitor] security-desk: no new articles"
    assert "No new articles" in message.text


def test_payload_is_versioned_json(renderer):
    message = renderer.render(make_digest("immediate"))
    document = json.loads(message.payload.decode("utf-8"))
    assert document["schema"] == WEBHOOK_SCHEMA == "monitor.digest/1"
    assert document["type"] == "alert"
    assert document["subscription"] == "security-desk"
    assert document["created_at"] == "2024-07-26T06:00:00+00:00"
    first = document["articles"][0]
    assert first["key"] == "jo-securite"
    assert first["source"] == "Le Monde Afrique"
    assert first["published_at"] == "2024-07-26T07:30:00+00:00"
    rule = first["rules"][0]
    assert (rule["id"], rule["name"], rule["priority"], rule["score"]) == (
        "jo2024-security",
        "JO 2024 security",
        "high",
        2.5,
    )
    assert rule["hits"][0] == {
        "wanted": "sécurité",
        "matched": "sécurité",
        "field": "summary",
        "snippet": FRENCH_SUMMARY,
    }
    assert "sécurité".encode() in message.payload  # ensure_ascii=False
    assert renderer.render(make_digest("immediate")).payload == message.payload


def test_template_errors_name_file_and_line(tmp_path):
    for name in ("digest.txt.j2", "alert.html.j2", "alert.txt.j2"):
        (tmp_path / name).write_text((TEMPLATES / name).read_text())
    for name in ("_macros.html.j2", "_macros.txt.j2", "_base.html.j2"):
        (tmp_path / name).write_text((TEMPLATES / name).read_text())
    (tmp_path / "digest.html.j2").write_text("<p>\n{% for x in %}\n</p>\n")
    (tmp_path / "alert.txt.j2").unlink()
    errors = Renderer(tmp_path).template_errors()
    assert any(error.startswith(f"{tmp_path}/digest.html.j2:2: ") for error in errors)
    assert f"{tmp_path}/alert.txt.j2: missing template" in errors


def test_undefined_variable_is_an_error(tmp_path):
    for path in TEMPLATES.glob("*.j2"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "digest.txt.j2").write_text("hello\n{{ digest.no_such_thing }}\n")
    renderer = Renderer(tmp_path)
    assert renderer.template_errors() == [
        f"{tmp_path}/digest.txt.j2:2: cannot render: "
        "'monitor.render.DigestView object' has no attribute 'no_such_thing'"
    ]
    with pytest.raises(ConfigError):
        renderer.render(make_digest())
