"""Rendering digests and alerts with the shipped templates, and the limits on edited ones."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitor.deliver.render import WEBHOOK_SCHEMA, Renderer
from monitor.errors import ConfigError
from monitor.ingest.normalize import html_to_text
from monitor.model import Article, Digest, DigestEntry, Hit, Match, Priority
from monitor.rules.clause import describe_rule, rule_clauses
from monitor.rules.load import load_rules

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
HOSTILE_TITLE = "<script>alert(1)</script>{{ 7*7 }}"


def make_article(key: str, title: str, summary: str, *, hour: int = 7, **extra) -> Article:
    moment = datetime(2024, 7, 26, hour, 30, tzinfo=UTC)
    fields = {
        "key": key,
        "feed_id": "seed-fr",
        "url": f"https://news.example.fr/{key}",
        "guid": None,
        "title": title,
        "summary": summary,
        "body": "",
        "published_at": moment,
        "fetched_at": moment,
        "language": "fr",
        "content_hash": key,
    }
    fields.update(extra)
    return Article(**fields)


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
    return DigestEntry(
        article, (match,), feed_title="Le Monde Afrique", also_in=("Wire (French service)",)
    )


def hostile_entry() -> DigestEntry:
    article = make_article(
        "hostile",
        HOSTILE_TITLE,
        "Une note sur la sécurité <b>publique</b>.",
        hour=6,
        url="javascript:alert(document.cookie)",
    )
    hits = (hit_in(article, "summary", "sécurité", "sécurité"),)
    match = Match("energy", "Énergie et sécurité", article.key, Priority.NORMAL, 1.0, hits)
    return DigestEntry(article, (match,), feed_title='<img src=x onerror="alert(2)">')


def make_digest(kind: str = "digest", *entries: DigestEntry, **extra: object) -> Digest:
    return Digest(
        subscription_id="security-desk",
        kind=kind,
        created_at=datetime(2024, 7, 26, 6, 0, tzinfo=UTC),
        timezone="Europe/Paris",
        entries=entries or (security_entry(), hostile_entry()),
        **extra,  # type: ignore[arg-type]
    )


class ElementCollector(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.setdefault(name, []).append(value or "")


def elements(html: str) -> ElementCollector:
    collector = ElementCollector()
    collector.feed(html)
    collector.close()
    return collector


def copy_templates(target: Path) -> Path:
    for path in TEMPLATES.glob("*.j2"):
        shutil.copy(path, target / path.name)
    return target


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


# --- what a reader sees -----------------------------------------------------------


def test_shipped_templates_have_no_errors(renderer):
    assert renderer.template_errors() == []


@pytest.mark.parametrize("kind", ["digest", "immediate"])
def test_both_parts_explain_the_match(renderer, kind):
    message = renderer.render(make_digest(kind))
    for body in (message.text, message.html):
        assert "Sécurité des Jeux : la coopération franco-marocaine salue" in body
        assert "JO 2024 security" in body
        assert "https://news.example.fr/jo-securite" in body
        assert "Le Monde Afrique" in body
        assert "Also covered by 1 outlet:" in body and "Wire (French service)" in body
        # 07:30 UTC shown in the subscription's time zone
        assert "Friday 26 July 2024, 09:30 (Paris time)" in body
    assert (
        "Why: terms: sécurité, JO 2024; actors: Abdellatif Hammouchi (in summary)" in message.text
    )
    assert '<a href="https://news.example.fr/jo-securite"' in message.html
    assert ">sécurité</mark>" in message.html and ">Hammouchi</mark>" in message.html
    for chip in ("sécurité", "JO 2024", "Abdellatif Hammouchi"):
        assert f">{chip}</span>" in message.html
    assert "*sécurité*" in message.text and "*JO 2024*" in message.text


def test_the_rule_is_said_in_words_under_its_heading(renderer):
    rules = load_rules(ROOT / "rules")
    clauses = rule_clauses(rules, ["jo2024-security", "no-such-rule"])
    assert [rule_id for rule_id, _ in clauses] == ["jo2024-security"]
    message = renderer.render(make_digest(rule_clauses=clauses))
    clause = clauses[0][1]
    assert clause.startswith("(JO 2024 or Jeux olympiques or Paris 2024 or Olympic Games +1 more)")
    assert "in one sentence; none of billetterie, ticketing, tickets" in clause
    assert f"Rule: {clause}" in message.text
    assert "Rule: (JO 2024 or Jeux olympiques" in message.html


def test_actor_rules_name_the_actors():
    rules = load_rules(ROOT / "rules")
    rule = rules.rule("morocco-france-security")
    assert rule is not None
    names = {actor.id: actor.name for actor in rules.actors}
    assert describe_rule(rule, names).startswith(
        "(Abdellatif Hammouchi or DGSN-DGST or Nicolas Lerner or DGSI +1 more) and (France"
    )


def test_rules_are_ordered_by_priority_then_score_then_time(renderer):
    article = make_article("late", "Plus tard : sécurité renforcée", "La sécurité, encore.", hour=9)
    weaker = DigestEntry(
        article,
        (Match("jo2024-security", "JO 2024 security", "late", Priority.HIGH, 1.0, ()),),
    )
    message = renderer.render(make_digest("digest", hostile_entry(), weaker, security_entry()))
    text = message.text
    assert text.index("JO 2024 security") < text.index("Énergie et sécurité")
    assert text.index("Sécurité des Jeux") < text.index("Plus tard")


def test_an_article_under_two_rules_is_shown_once_with_both_reasons(renderer):
    entry = security_entry()
    other_hit = entry.matches[0].hits[2]  # Hammouchi, an actor
    other = Match(
        "morocco", "Morocco cooperation", entry.article.key, Priority.LOW, 1.0, (other_hit,)
    )
    both = DigestEntry(entry.article, (*entry.matches, other), feed_title="Le Monde Afrique")
    only_morocco = DigestEntry(
        make_article("tetouan", "Tétouan : la DGST démantèle une cellule", "Rien.", hour=3),
        (Match("morocco", "Morocco cooperation", "tetouan", Priority.LOW, 2.0, ()),),
    )
    message = renderer.render(make_digest("digest", both, only_morocco))
    title = "Sécurité des Jeux : la coopération franco-marocaine salue"
    assert message.text.count(title) == 2  # once in full, once in "listed above"
    assert message.html.count(f">{title}</a>") == 1
    for body in (message.text, message.html):
        assert "Also matched this rule, listed above:" in body
    assert "Also matched Morocco cooperation: actors: Abdellatif Hammouchi (in summary)" in (
        message.text
    )
    assert "== Morocco cooperation (low priority, 2 articles) ==" in message.text
    assert "2 articles · 1 listed above" in message.html
    assert message.text.index("Tétouan") > message.text.index("== Morocco cooperation")


def test_hostile_feed_text_is_escaped_and_never_evaluated(renderer):
    message = renderer.render(make_digest())
    found = elements(message.html)
    assert not {"script", "img"} & found.tags
    assert not any(name.startswith("on") for name in found.attributes)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}" in message.html
    assert "&lt;b&gt;publique&lt;/b&gt;" in message.html
    assert "49" not in message.html and "49" not in message.text
    assert HOSTILE_TITLE in message.text
    # a javascript: link is shown as nothing clickable, in either part
    assert not any(href.startswith("javascript:") for href in found.attributes["href"])
    assert "javascript:" not in message.text


def test_feed_html_reaches_templates_as_plain_text_and_leaves_escaped(renderer):
    # normalize turns feed HTML into text once; what looked like markup is now just text.
    title = html_to_text("<b>Alerte</b> &lt;script&gt;x()&lt;/script&gt;<script>evil()</script>")
    assert title == "Alerte <script>x()</script>"
    entry = DigestEntry(
        make_article("n", title, "Rien."), (Match("r", "R", "n", Priority.HIGH, 1.0, ()),)
    )
    message = renderer.render(make_digest("digest", entry))
    assert "Alerte &lt;script&gt;x()&lt;/script&gt;" in message.html
    assert "evil" not in message.html and "script" not in elements(message.html).tags


def test_html_is_mail_ready_css_inlined_and_allow_listed(renderer):
    html = renderer.render(make_digest()).html
    assert html.startswith("<!DOCTYPE html>")
    assert "<style" not in html and "class=" not in html
    assert "<mark style=" in html  # the <style> rules now sit on the elements
    assert '<meta charset="utf-8">' in html
    assert (
        "<title>security-desk — JO 2024 security, Énergie et sécurité: 2 articles</title>" in html
    )


def test_subjects_name_the_rules_as_the_banner_does(renderer):
    alert = renderer.render(make_digest("immediate"))
    # Every rule that fired, most urgent first, as in the alert's banner; no product tag.
    assert alert.subject == "JO 2024 security, Énergie et sécurité: 2 articles"
    assert "<h1>JO 2024 security, Énergie et sécurité</h1>" in _without_styles(alert.html)
    digest = renderer.render(make_digest("digest", title="Revue sécurité"))
    assert digest.subject == "Revue sécurité — JO 2024 security, Énergie et sécurité: 2 articles"
    single = renderer.render(make_digest("digest", security_entry()))
    assert single.subject == "security-desk — JO 2024 security: 1 article"


def _without_styles(html: str) -> str:
    return re.sub(r' style="[^"]*"', "", html)


def test_subject_never_carries_line_breaks(renderer):
    article = make_article("crlf", "Alerte\r\nBcc: victim@example.org\x00", "Rien.")
    name = "Rule\r\nBcc: victim@example.org\x00" + "x" * 300
    entry = DigestEntry(article, (Match("r", name, "crlf", Priority.HIGH, 1.0, ()),))
    message = renderer.render(make_digest("immediate", entry))
    assert "\r" not in message.subject and "\n" not in message.subject
    assert "\x00" not in message.subject
    assert message.subject.startswith("Rule Bcc: victim@example.org x")
    assert len(message.subject) <= 200 and message.subject.endswith("…")


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
    assert message.subject == "security-desk: no new articles"
    assert "No new articles" in message.text and "No new articles" in message.html


def test_unknown_time_zone_falls_back_to_utc(renderer, caplog):
    digest = make_digest()
    message = renderer.render(
        Digest(
            digest.subscription_id,
            digest.kind,
            digest.created_at,
            "Mars/Olympus_Mons",
            digest.entries,
        )
    )
    assert "Friday 26 July 2024, 07:30 (UTC)" in message.text
    assert "render.unknown_timezone" in caplog.text


def test_marks_stay_on_the_words_when_the_snippet_has_line_breaks(renderer):
    summary = "Premier  point.\n\nLa sécurité\tdes JO 2024 est assurée."
    article = make_article("lines", "Titre", summary)
    hits = (hit_in(article, "summary", "JO 2024", "JO 2024"),)
    entry = DigestEntry(article, (Match("r", "R", "lines", Priority.HIGH, 1.0, hits),))
    text = renderer.render(make_digest("digest", entry)).text
    assert '"Premier point. La sécurité des *JO 2024* est assurée."' in text


# --- webhook bodies -----------------------------------------------------------------


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
    assert first["also_in"] == ["Wire (French service)"]
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


def test_slack_body_escapes_mentions_and_links(renderer):
    article = make_article("ping", "<!channel> urgent & <https://evil.example|click>", "Rien.")
    entry = DigestEntry(article, (Match("r", "Rule", "ping", Priority.HIGH, 1.0, ()),))
    message = renderer.render(
        make_digest("immediate", security_entry(), entry), payload_format="slack"
    )
    document = json.loads(message.payload)
    assert set(document) == {"text", "blocks"}
    assert document["blocks"][0] == {
        "type": "header",
        "block_id": "monitor-alert",
        "text": {"type": "plain_text", "text": "Alert: security-desk (2 articles)"},
    }
    texts = [document["text"]] + [block["text"]["text"] for block in document["blocks"][1:]]
    for text in texts:
        assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; urgent &amp; &lt;https://evil.example|click&gt;" in document["text"]
    assert (
        "*<https://news.example.fr/jo-securite|Sécurité des Jeux : "
        "la coopération franco-marocaine salue>*" in document["text"]
    )
    assert "Le dispositif de *sécurité* des *JO 2024*" in document["text"]


def test_unknown_webhook_format_is_a_config_error(renderer):
    with pytest.raises(ConfigError, match="unknown webhook format 'teams'"):
        renderer.render(make_digest(), payload_format="teams")


# --- edited templates: errors, sandbox and limits -------------------------------------


def test_template_errors_name_file_and_line(tmp_path):
    copy_templates(tmp_path)
    (tmp_path / "digest.html.j2").write_text("<p>\n{% for x in %}\n</p>\n")
    (tmp_path / "alert.txt.j2").unlink()
    errors = Renderer(tmp_path).template_errors()
    assert any(error.startswith(f"{tmp_path}/digest.html.j2:2: ") for error in errors)
    assert f"{tmp_path}/alert.txt.j2: missing template" in errors


def test_undefined_variable_is_an_error(tmp_path):
    copy_templates(tmp_path)
    (tmp_path / "digest.txt.j2").write_text("hello\n{{ digest.no_such_thing }}\n")
    renderer = Renderer(tmp_path)
    assert renderer.template_errors() == [
        f"{tmp_path}/digest.txt.j2:2: cannot render: "
        "'monitor.deliver.view.DigestView object' has no attribute 'no_such_thing'"
    ]
    with pytest.raises(ConfigError):
        renderer.render(make_digest())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}", "took"),
        ("{% for a in range(99999) %}{{ digest.heading * 1000 }}{% endfor %}", "longer than"),
        ("{{ 'x' * 100000000 }}", "repeating"),
        ("{{ 'x' * 99999999 }}", "repeating would build more than 100000 characters"),
        ("{{ [1] * 9999999 }}", "repeating would build more than 100000 items"),
        ("{{ 9999999 * [1] }}", "repeating would build more than 100000 items"),
        ("{{ ([[1] * 1000] * 1000) | length }}", "repeating would build more than 100000 items"),
        ("{{ '{:>99999999}'.format(1) }}", "format width or precision over 1000"),
        ("{{ '{:{w}}'.format(1, w=99999999) }}", "format width or precision over 1000"),
        ("{{ '{}'.format(cycler('a')) }}", "'Cycler' object has no text form to print"),
        ("{{ '{x}'.format_map({'x': joiner()}) }}", "'Joiner' object has no text form"),
        ("{{ '{0!r}'.format(cycler('a')) }}", "'Cycler' object has no text form"),
        ("{{ '{}'.format(digest.heading.upper) }}", "'builtin_function_or_method' object"),
        ("{{ cycler('a') }}", "'Cycler' object has no text form"),
        ("{{ [joiner()] }}", "'Joiner' object has no text form"),
        ("{{ cycler('a') | string }}", "'Cycler' object has no text form"),
        ("{{ '' ~ joiner() }}", "'Joiner' object has no text form"),
        ("{{ '%s' % (cycler('a'),) }}", "'Cycler' object has no text form"),
        ("{{ '%s' | format(joiner()) }}", "'Joiner' object has no text form"),
        ("{{ 9 ** 999999 }}", "too large"),
        ("{{ '%999999999s' % 'x' }}", "format width"),
        ("{{ 'x' | center(100000000) }}", "center width"),
        ("{{ digest.__class__.__mro__ }}", "cannot render"),
        ("{{ lipsum(1000000) }}", "cannot render"),
        ("line one\n{{ 1 / 0 }}", "digest.txt.j2:2: cannot render: division by zero"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself"),
    ],
)
def test_edited_templates_run_in_a_bounded_sandbox(tmp_path, source, expected):
    copy_templates(tmp_path)
    (tmp_path / "digest.txt.j2").write_text(source)
    renderer = Renderer(tmp_path, timeout_s=0.3, max_output_chars=100_000)
    with pytest.raises(ConfigError) as caught:
        renderer.render(make_digest())
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path}/digest.txt.j2")
    assert " at 0x" not in str(caught.value)


def test_ordinary_formatting_and_joining_still_render(tmp_path):
    copy_templates(tmp_path)
    (tmp_path / "digest.txt.j2").write_text(
        "{{ '{:>4}|{:.1f}|{x}'.format('ab', 2.25, x=3) }} {{ '%-3s|' % 'a' }}"
        "{{ [1, 2] * 2 }} {{ ['a', 'b'] | join(',') ~ '!' }} {{ '{0!r}'.format('q') }}\n"
    )
    text = Renderer(tmp_path).render(make_digest()).text
    assert text.startswith("  ab|2.2|3 a  |[1, 2, 1, 2] a,b! 'q'")


def test_nothing_a_template_writes_escapes_the_allow_list(tmp_path):
    copy_templates(tmp_path)
    (tmp_path / "digest.html.j2").write_text(
        '<html><head><meta http-equiv="refresh" content="0;url=https://evil.example">'
        '<base href="https://evil.example/"></head><body onload="steal()">'
        "<script>alert(1)</script><iframe src='https://evil.example'></iframe>"
        "<form action='https://evil.example'><input name=p></form>"
        '<a href="javascript:alert(1)" onclick="x()">js</a><a href="/relative">rel</a>'
        '<p style="position:fixed;background-image:url(https://evil.example/t.png);color:red">'
        "{{ digest.groups[0].entries[0].title | safe }}</p>"
        '<a href="mailto:desk@example.org">mail</a><a href="https://ok.example/">ok</a>'
        "</body></html>"
    )
    hostile = make_article("h", '<img src=x onerror="alert(3)"><b>bold</b>', "Rien.")
    entry = DigestEntry(hostile, (Match("r", "R", "h", Priority.HIGH, 1.0, ()),))
    html = Renderer(tmp_path).render(make_digest("digest", entry)).html
    found = elements(html)
    assert found.tags <= {"html", "head", "meta", "title", "body", "div", "p", "a", "b"}
    assert not found.tags & {"script", "iframe", "form", "input", "base", "img"}
    assert [attrs for attrs in found.attributes.get("http-equiv", [])] == []
    assert set(found.attributes) <= {"lang", "charset", "name", "content", "style", "href", "rel"}
    assert found.attributes["href"] == ["mailto:desk@example.org", "https://ok.example/"]
    assert "position" not in html and "url(" not in html
    assert '<p style="color:red"><b>bold</b></p>' in html
    assert '<a href="mailto:desk@example.org" rel="noopener noreferrer">mail</a>' in html
    assert '<a href="https://ok.example/" rel="noopener noreferrer">ok</a>' in html


def test_text_templates_are_never_html_escaped(tmp_path):
    copy_templates(tmp_path)
    (tmp_path / "digest.txt.j2").write_text("{{ digest.groups[0].entries[0].title }}\n")
    text = Renderer(tmp_path).render(make_digest("digest", hostile_entry())).text
    assert text == HOSTILE_TITLE + "\n"
