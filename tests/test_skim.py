"""skim.py: a poll parses whole only the entries the store does not know, and reads every
feed exactly as one whole parse does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.ingest import entry_keys, parse_feed, skim_feed
from monitor.ingest import parse as parse_module
from monitor.ingest import skim as skim_module
from monitor.model import Feed, FetchResult, ParsedFeed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "fr-feeds"
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
FEED = Feed(id="quotidien", url="https://news.example.org/feed", language="fr")
UTF8 = (("content-type", "application/rss+xml; charset=utf-8"),)


def fetched(body: bytes, headers: tuple[tuple[str, str], ...] = UTF8) -> FetchResult:
    return FetchResult("f", "https://news.example.org/feed", 200, body, headers, NOW)


def rss(*items: str, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (
        f'{declaration}<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>Quotidien</title><link>https://news.example.org/</link><ttl>15</ttl>"
        f"{''.join(items)}</channel></rss>"
    ).encode()


def item(number: int, text: str = "") -> str:
    return (
        f"<item><title>Titre {number}</title><link>https://news.example.org/{number}</link>"
        f"<guid>https://news.example.org/{number}</guid>"
        f"<pubDate>Sun, 10 Mar 2024 {number % 24:02d}:00:00 GMT</pubDate>"
        f"<description>Chapeau {number} {text}</description>"
        f'<content:encoded><![CDATA[<p>Corps {number} {text} <a href="/lien">lien</a>'
        "<script>alert(1)</script></p>]]></content:encoded></item>"
    )


def documents() -> list[FetchResult]:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xml:base="https://atom.example.org/base/"><title>Atom</title>'
        + "".join(
            f'<entry xml:base="/e{n}/"><id>urn:e:{n}</id><title type="html">&lt;b&gt;T{n}'
            f'&lt;/b&gt;</title><link href="page{n}"/><updated>2024-03-0{n + 1}T10:00:00Z'
            f'</updated><summary>S{n}</summary><content type="html">&lt;a href="x"&gt;C{n}'
            "&lt;/a&gt;</content></entry>"
            for n in range(5)
        )
        + "</feed>"
    ).encode()
    found = [fetched(rss(*(item(n) for n in range(12)))), fetched(atom)]
    found += [fetched(path.read_bytes(), ()) for path in sorted(FEEDS.glob("*.xml"))]
    return found


def corpus_documents() -> list[FetchResult]:
    """Every third feed of the shared corpus: real feeds from French newsrooms."""
    return [fetched(path.read_bytes()) for path in sorted(CORPUS.glob("*.xml"))[::3]]


def known_sets(count: int) -> list[set[int]]:
    return [set(), {0}, set(range(1, count)), set(range(0, count, 2)), set(range(count))]


def test_every_feed_reads_as_a_whole_parse_whichever_entries_are_known() -> None:
    results = documents()
    assert len(results) >= 7
    assert_reads_as_whole_parses(results)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs shared/corpus beside the project")
def test_every_corpus_feed_reads_as_a_whole_parse_whichever_entries_are_known() -> None:
    results = corpus_documents()
    assert len(results) > 10
    assert_reads_as_whole_parses(results)


def assert_reads_as_whole_parses(results: list[FetchResult]) -> None:
    for result in results:
        whole = parse_feed(result)
        skim = skim_feed(result)
        assert entry_keys(skim.entries, FEED) == entry_keys(whole, FEED), result.body[:200]
        dates = [entry.published_at for entry in whole.entries]
        assert [entry.published_at for entry in skim.entries.entries] == dates
        for known in known_sets(len(whole.entries)):
            parsed = skim.parse(known)
            assert _channel(parsed) == _channel(whole)
            assert len(parsed.entries) == len(whole.entries)
            for index, (got, wanted) in enumerate(zip(parsed.entries, whole.entries, strict=True)):
                if index in known:
                    assert (got.guid, got.link, got.published_at) == (
                        wanted.guid,
                        wanted.link,
                        wanted.published_at,
                    )
                else:
                    assert got == wanted


def test_the_text_of_known_entries_is_never_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    result = fetched(rss(*(item(n, text=f"texte-{n}") for n in range(30))))
    read: list[bytes] = []
    real = parse_module._document

    def spying(body: bytes, headers: dict[str, str]) -> object:
        read.append(body)
        return real(body, headers)

    for module in (parse_module, skim_module):
        monkeypatch.setattr(module, "_document", spying)

    skim = skim_feed(result)
    parsed = skim.parse(set(range(1, 30)))

    assert [entry.title for entry in parsed.entries[:2]] == ["Titre 0", ""]
    assert "Corps 0 texte-0" in parsed.entries[0].content_html
    assert all(b"texte-" not in body for body in read[:-1])  # the skim
    assert b"texte-0" in read[-1]
    assert not any(f"texte-{n}".encode() in body for body in read for n in range(1, 30))


def test_a_feed_that_is_not_well_formed_is_parsed_whole_once() -> None:
    result = fetched((FEEDS / "bozo.xml").read_bytes(), ())
    whole = parse_feed(result)

    skim = skim_feed(result)

    assert whole.is_bozo and skim.entries == whole and skim.parse({0}) == whole


def test_a_charset_the_header_and_the_declaration_disagree_on_is_read_whole() -> None:
    # feedparser falls back to the declared charset when the header's fails on the whole
    # body; a copy without the known entry's bytes would decode under the header's.
    body = rss(item(0), declaration='<?xml version="1.0" encoding="iso-8859-1"?>')
    body = body.replace(b"</channel>", item(1, "caf\u00e9").encode("latin-1") + b"</channel>")
    result = fetched(body)
    whole = parse_feed(result)

    parsed = skim_feed(result).parse({1})

    assert whole.is_bozo and parsed.is_bozo == whole.is_bozo
    assert parsed.entries[0] == whole.entries[0]


def test_a_page_that_is_no_feed_fails_as_a_whole_parse_does() -> None:
    result = fetched((FEEDS / "not-a-feed.html").read_bytes(), (("content-type", "text/html"),))
    with pytest.raises(ParseError) as whole:
        parse_feed(result)
    with pytest.raises(ParseError) as skimmed:
        skim_feed(result)
    assert str(skimmed.value) == str(whole.value)


def _channel(parsed: ParsedFeed) -> tuple[object, ...]:
    return (parsed.title, parsed.link, parsed.language, parsed.ttl_s, parsed.is_bozo)
