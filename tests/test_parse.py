"""parse.py on real feed files from tests/fixtures/feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.model import FetchResult, ParsedFeed
from monitor.parse import parse_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def result_for(
    body: bytes, content_type: str | None = None, url: str = "https://news.example.org/feed"
) -> FetchResult:
    headers = (("Content-Type", content_type),) if content_type else ()
    return FetchResult(feed_id="f", url=url, status=200, body=body, headers=headers, fetched_at=NOW)


def parse_fixture(name: str, content_type: str | None = None) -> ParsedFeed:
    return parse_feed(result_for((FEEDS / name).read_bytes(), content_type))


def test_rss2_feed_and_entries() -> None:
    parsed = parse_fixture("rss2.xml", "application/rss+xml; charset=utf-8")

    assert parsed.title == "Le Quotidien & Co"
    assert parsed.link == "https://news.example.org/"
    assert parsed.language == "fr-FR"
    assert parsed.ttl_s == 30 * 60
    assert not parsed.is_bozo
    assert parsed.bozo_reason is None
    assert len(parsed.entries) == 3
    first = parsed.entries[0]
    assert first.guid == "quotidien-4711"
    assert first.link == "https://news.example.org/2024/jo-securite?utm_source=rss"
    assert first.author == "Amina B."
    assert first.published_at == datetime(2024, 3, 8, 17, 30, tzinfo=UTC)
    assert first.summary_html == "<p>Les deux pays renforcent leur <b>coopération</b>.</p>"
    # content:encoded, sanitised (no script) and with relative links resolved
    assert "<script>" not in first.content_html
    assert 'href="https://news.example.org/dossiers/dgst"' in first.content_html
    assert "Deuxième paragraphe." in first.content_html


def test_entities_and_accents_in_titles_are_decoded() -> None:
    parsed = parse_fixture("rss2.xml", "application/rss+xml")

    assert parsed.entries[0].title == "Sécurité des JO 2024 : Rabat & Paris coopèrent – l’accord"


def test_item_without_guid_or_date() -> None:
    parsed = parse_fixture("rss2.xml")

    brief = parsed.entries[1]
    assert brief.guid is None
    assert brief.link == "https://news.example.org/2024/breve"
    assert brief.published_at is None
    assert brief.content_html == ""
    assert brief.summary_html == "Une brève."


def test_unparseable_date_is_none_and_item_language_is_kept() -> None:
    english = parse_fixture("rss2.xml").entries[2]

    assert english.published_at is None
    assert english.language == "en-GB"


def test_atom_feed() -> None:
    parsed = parse_fixture("atom.xml", "application/atom+xml")

    assert parsed.title == "Wire"
    assert parsed.language == "en"  # from xml:lang
    assert parsed.ttl_s is None
    first, second = parsed.entries
    assert first.guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert first.link == "https://wire.example.com/a/1"
    assert first.title == "Ministers meet in <em>Rabat</em>"  # type="html": normalize cleans it
    assert first.published_at == datetime(2024, 3, 9, 7, 15, tzinfo=UTC)  # published wins
    assert first.summary_html == "Security talks."
    assert first.content_html == "<p>Full <i>story</i>.</p>"
    assert first.language == "en"
    assert second.published_at == datetime(2024, 3, 9, 12, 0, tzinfo=UTC)  # from updated
    assert second.language == "fr"


def test_html_page_is_a_parse_error_not_an_empty_feed() -> None:
    with pytest.raises(ParseError) as caught:
        parse_fixture("not-a-feed.html", "text/html; charset=utf-8")

    assert "not an RSS or Atom feed" in str(caught.value)
    assert "text/html" in str(caught.value)
    assert caught.value.url == "https://news.example.org/feed"


def test_bozo_feed_keeps_its_good_entries() -> None:
    parsed = parse_fixture("bozo.xml", "application/rss+xml")

    assert parsed.is_bozo
    assert parsed.bozo_reason
    assert [entry.title for entry in parsed.entries] == ["First \xa0 item", "Second item"]


def test_bozo_feed_without_entries_is_a_parse_error() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x &nbsp;</title>'

    with pytest.raises(ParseError, match="malformed feed with no readable entries"):
        parse_feed(result_for(body, "application/rss+xml"))


def test_empty_valid_feed_has_no_entries() -> None:
    parsed = parse_fixture("empty.xml", "application/rss+xml")

    assert parsed.entries == ()
    assert parsed.title == "Nothing yet"
    assert not parsed.is_bozo


def test_empty_body_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="empty body"):
        parse_feed(result_for(b"  \n", "application/rss+xml"))


def test_304_has_nothing_to_parse() -> None:
    not_modified = FetchResult(
        feed_id="f", url="https://x.example/feed", status=304, body=b"", headers=(), fetched_at=NOW
    )

    with pytest.raises(ValueError, match="304"):
        parse_feed(not_modified)


def test_charset_label_utf8_on_windows_1252_bytes() -> None:
    parsed = parse_fixture("windows-1252.xml", "application/rss+xml; charset=utf-8")

    assert parsed.is_bozo  # the label lied, feedparser says so
    assert parsed.entries[0].title == "Réforme des retraites : l’été sera chaud"
    assert parsed.entries[0].summary_html == "Grève générale à Besançon."


def test_charset_label_latin1_on_utf8_bytes() -> None:
    parsed = parse_fixture("rss2.xml", "text/xml; charset=ISO-8859-1")

    assert parsed.entries[0].title.startswith("Sécurité des JO 2024")


@pytest.mark.parametrize("content_type", ["text/xml", None])
def test_no_charset_label_uses_the_document(content_type: str | None) -> None:
    assert parse_fixture("rss2.xml", content_type).entries[1].title == "Brève sans identifiant"
    latin = parse_fixture("windows-1252.xml", content_type)
    assert latin.entries[0].title == "Réforme des retraites : l’été sera chaud"


def test_body_naming_a_file_is_not_read_as_a_path(tmp_path: Path) -> None:
    feed_on_disk = tmp_path / "feed.xml"
    feed_on_disk.write_bytes((FEEDS / "rss2.xml").read_bytes())

    with pytest.raises(ParseError):
        parse_feed(result_for(str(feed_on_disk).encode(), "application/rss+xml"))
