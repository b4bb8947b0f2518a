"""mojibake.py: double-encoded UTF-8 repaired per field, legitimate text left as it is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.ingest import normalize_entries, parse_feed, repair_mojibake
from monitor.ingest.normalize import html_to_text
from monitor.model import Feed, FetchResult, ParsedFeed, RawEntry
from tests.conftest import run_cli

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "fr-feeds"
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def garbled(text: str, times: int = 1) -> str:
    """`text` as a feed that decoded its UTF-8 as cp1252 `times` times serves it."""
    for _ in range(times):
        text = text.encode("utf-8").decode("cp1252", errors="replace")
    return text


@pytest.mark.parametrize(
    ("served", "meant"),
    [
        ("Le contrÃ´le des frontiÃ¨res renforcÃ©", "Le contrôle des frontières renforcé"),
        ("Ã©tÃ© 2024 : la sÃ©curitÃ© des JO", "été 2024 : la sécurité des JO"),
        ("Lâ€™attentat dÃ©jouÃ© Ã\xa0 Strasbourg", "L’attentat déjoué à Strasbourg"),
        ("Ã‰lysÃ©e : Â« pas de menace Â»", "Élysée : « pas de menace »"),
        (garbled("Sécurité : l’œuvre de la DGSN", times=2), "Sécurité : l’œuvre de la DGSN"),
        ("L\x92enquête continue", "L’enquête continue"),  # cp1252 read as Latin-1
    ],
)
def test_double_encoded_text_is_repaired(served: str, meant: str) -> None:
    assert repair_mojibake(served) == meant


@pytest.mark.parametrize(
    "text",
    [
        "« Sécurité » : le “plan” de l’Élysée — 2024",  # typographic quotes and dashes stay
        "Ligature ﬁnale et chiffres ２０２４",  # no NFKC, no width folding
        "Cafe\u0301 de\u0301composé",  # decomposed accents: no NFC either
        "Tom &amp; Jerry",  # entities are html_to_text's to decode
        "Ça coûte 5 € à Besançon, ÀÉÎÕÜ æ ß",
        "الأمن الوطني · Новости · 今日のニュース",
    ],
)
def test_legitimate_text_is_unchanged(text: str) -> None:
    assert repair_mojibake(text) == text


def test_each_field_is_repaired_on_its_own() -> None:
    entry = RawEntry(
        guid="1",
        link="https://news.example.org/a",
        title="Le contrÃ´le renforcÃ©",
        summary_html="<p>Un résumé déjà juste, « bien » écrit.</p>",
        content_html="<p>Lâ€™enquÃªte continue.</p>",
        published_at=None,
    )
    parsed = ParsedFeed(title="Q", link=None, language="fr", entries=(entry,))

    (article,) = normalize_entries(parsed, Feed(id="q", url="https://news.example.org"), NOW)

    assert article.title == "Le contrôle renforcé"
    assert article.summary == "Un résumé déjà juste, « bien » écrit."
    assert article.body == "L’enquête continue."


def test_mojibake_written_as_html_entities_is_repaired_too() -> None:
    # Some feeds escape every non-ASCII byte: the garbling only shows once entities are decoded.
    entry = RawEntry(
        guid="1",
        link="https://news.example.org/a",
        title="Le contr&Atilde;&acute;le renforc&Atilde;&copy;",
        summary_html="<p>&Atilde;&copy;t&Atilde;&copy; chaud</p>",
        content_html="",
        published_at=None,
    )
    parsed = ParsedFeed(title="Q", link=None, language="fr", entries=(entry,))

    (article,) = normalize_entries(parsed, Feed(id="q", url="https://news.example.org"), NOW)

    assert article.title == "Le contrôle renforcé"
    assert article.summary == "été chaud"


def test_a_fetched_feed_with_a_garbled_title_reads_right() -> None:
    title = garbled("Contrôle d’identité à l’aéroport")
    body = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Q</title>
    <item><title>{title}</title><link>https://news.example.org/c</link>
    <description>Le contrôle a duré deux heures.</description></item></channel></rss>"""
    result = FetchResult("q", "https://news.example.org/feed", 200, body.encode(), (), NOW)

    (article,) = normalize_entries(parse_feed(result), Feed(id="q", url=result.url), NOW)

    assert article.title == "Contrôle d’identité à l’aéroport"
    assert article.summary == "Le contrôle a duré deux heures."


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the checkout")
def test_no_real_corpus_item_is_changed() -> None:
    fields = 0
    for path in sorted(CORPUS.glob("*.xml")):
        result = FetchResult("c", path.as_uri(), 200, path.read_bytes(), (), NOW)
        for entry in parse_feed(result).entries:
            for text in (entry.title, entry.summary_html, entry.content_html, entry.author or ""):
                # Repair runs on the decoded text (normalize.py): nothing real may change there.
                decoded = html_to_text(text)
                assert repair_mojibake(decoded) == decoded, (path.name, decoded[:200])
                fields += 1
    assert fields == 1334 * 4


def test_test_rule_repairs_a_pasted_text(project: Path) -> None:
    article = garbled("Sécurité des JO 2024\nLe renseignement renforce la sécurité des JO 2024.")
    (project / "article.txt").write_text(article, encoding="utf-8")

    result = run_cli(project, "test-rule", "jo2024-security", "--text", "article.txt")

    assert result.returncode == 0, result.stderr
    assert "Sécurité des JO 2024" in result.stdout
    assert "1 of 1 articles match" in result.stdout
