"""normalize.py: URLs, text, dates, keys, and the fingerprint each article carries."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.ingest import normalize
from monitor.ingest.fingerprint import content_fingerprint
from monitor.ingest.normalize import (
    canonical_url,
    entry_keys,
    fold,
    html_to_text,
    normalize_entries,
    normalize_new_entries,
)
from monitor.ingest.parse import parse_feed
from monitor.model import Article, Feed, FetchResult, ParsedFeed, RawEntry

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
FETCHED_AT = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
FEED = Feed(id="quotidien", url="https://news.example.org/feed", language="fr")


def entry(**fields: object) -> RawEntry:
    defaults: dict[str, object] = {
        "guid": None,
        "link": "https://news.example.org/a",
        "title": "Titre",
        "summary_html": "",
        "content_html": "",
        "published_at": None,
    }
    return RawEntry(**{**defaults, **fields})  # type: ignore[arg-type]


def feed_of(*entries: RawEntry, language: str | None = None) -> ParsedFeed:
    return ParsedFeed(title="Quotidien", link=None, language=language, entries=entries)


def normalize_one(raw: RawEntry, feed: Feed = FEED, language: str | None = None) -> Article:
    (article,) = normalize_entries(feed_of(raw, language=language), feed, FETCHED_AT)
    return article


# --- canonical URLs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://News.Example.ORG/Path/Page", "https://news.example.org/Path/Page"),
        ("https://news.example.org:443/a", "https://news.example.org/a"),
        ("http://news.example.org:80/a", "http://news.example.org/a"),
        ("http://news.example.org:8080/a", "http://news.example.org:8080/a"),
        ("https://news.example.org", "https://news.example.org/"),
        ("https://news.example.org/", "https://news.example.org/"),  # a bare host keeps "/"
        ("https://news.example.org/2024/jo/", "https://news.example.org/2024/jo"),
        ("https://news.example.org/a//?id=1", "https://news.example.org/a?id=1"),
        ("https://news.example.org/a#comments", "https://news.example.org/a"),
        (
            "https://news.example.org/a?utm_source=rss&id=7&UTM_Medium=x&fbclid=abc&page=2",
            "https://news.example.org/a?id=7&page=2",
        ),
        (
            "https://news.example.org/a?gclid=1&mc_cid=2&mc_eid=3&ref=home",
            "https://news.example.org/a",
        ),
        (
            "https://news.example.org/a?q=caf%C3%A9+cr%C3%A8me&b=1",
            "https://news.example.org/a?q=caf%C3%A9+cr%C3%A8me&b=1",
        ),
        (
            "https://news.example.org/a?referrer=x&utm=1",
            "https://news.example.org/a?referrer=x&utm=1",
        ),
        ("  https://news.example.org/a  ", "https://news.example.org/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("/relative/path#x", "/relative/path"),
        ("https://news.example.org./a", "https://news.example.org/a"),
        ("https://café.example.fr/a", "https://xn--caf-dma.example.fr/a"),
        (
            "https://news.example.org/%7euser/%c3%a9t%C3%A9?q=%7e%2f",
            "https://news.example.org/~user/%C3%A9t%C3%A9?q=~%2F",
        ),
        (
            "https://news.example.org/a?xtor=RSS-3&id=1&at_medium=rss&pk_campaign=x&mtm_source=y",
            "https://news.example.org/a?id=1",
        ),
        (
            "https://news.example.org/a?ns_mchannel=rss&ito=1&ocid=x&igshid=z",
            "https://news.example.org/a",
        ),
        ("https://news.example.org/wrapped/\n    page", "https://news.example.org/wrapped/page"),
        ("https://news.example.org/un document", "https://news.example.org/un%20document"),
        ("http://[::1/broken", "http://[::1/broken"),  # not parseable: kept as written
        ("https://News.example.org:abc/a", "https://news.example.org:abc/a"),
        ("https://" + "é" * 70 + ".fr/a", "https://" + "é" * 70 + ".fr/a"),  # no IDNA form
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


# --- text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Un</p><p>Deux</p>", "Un\n\nDeux"),
        ("<p>Caf&eacute; &amp; cr&#232;me&nbsp;!</p>", "Café & crème !"),
        ("<div>ligne<br>suivante</div>", "ligne\nsuivante"),
        ("<p>mots\n   sur\tplusieurs\n lignes</p>", "mots sur plusieurs lignes"),
        (
            "<p>avant</p><script>var x = '<p>';</script><style>p {}</style><p>après</p>",
            "avant\n\naprès",
        ),
        ("<ul><li>un</li><li>deux</li></ul>", "un\n\ndeux"),
        ("<b>gras</b> et <i>italique</i>", "gras et italique"),
        ("nul\x00 et\x07 contrôle\u200b", "nul et contrôle"),
        ("<h2>Titre</h2>texte nu", "Titre\n\ntexte nu"),
        ("ligne<br/>suivante<script/>fin", "ligne\nsuivantefin"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a\nb"),
        ("", ""),
        ("texte sans balise", "texte sans balise"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_fold_lowercases_and_strips_accents() -> None:
    assert fold("Sécurité À Besançon, ŒUVRE ﬁnale") == "securite a besancon, œuvre finale"


# --- articles --------------------------------------------------------------------


def test_article_fields_from_a_real_feed() -> None:
    result = FetchResult(
        feed_id="quotidien",
        url="https://news.example.org/feed",
        status=200,
        body=(FEEDS / "rss2.xml").read_bytes(),
        headers=(("Content-Type", "application/rss+xml"),),
        fetched_at=FETCHED_AT,
    )

    articles = normalize_entries(parse_feed(result), FEED, FETCHED_AT)

    jo = next(article for article in articles if article.guid == "quotidien-4711")
    assert jo.url == "https://news.example.org/2024/jo-securite"
    assert jo.title == "Sécurité des JO 2024 : Rabat & Paris coopèrent – l’accord"
    assert jo.summary == "Les deux pays renforcent leur coopération."
    assert jo.body == (
        "Les services de renseignement DGST et DGSI ont signé un accord.\n\nDeuxième paragraphe."
    )
    assert jo.published_at == datetime(2024, 3, 8, 17, 30, tzinfo=UTC)
    assert jo.fetched_at == FETCHED_AT
    assert jo.language == "fr"
    assert jo.feed_id == "quotidien"
    expected_hash = hashlib.sha256(
        fold(f"{jo.title}\n{jo.summary}\n{jo.body}").encode()
    ).hexdigest()
    assert jo.content_hash == expected_hash
    assert jo.fingerprint == content_fingerprint(f"{jo.title} {jo.summary} {jo.body}")
    english = next(article for article in articles if article.title == "English item")
    assert english.language == "en"


def test_html_title_is_cleaned_and_bounded() -> None:
    article = normalize_one(entry(title="Ministers meet in <em>Rabat</em>\n  today"))
    assert article.title == "Ministers meet in Rabat today"

    long_title = normalize_entries(
        feed_of(entry(title="mot " * 200)), FEED, FETCHED_AT, max_title_chars=50
    )[0].title
    assert len(long_title) <= 50
    assert long_title.endswith("mot…")


def test_summary_and_body_are_bounded() -> None:
    raw = entry(summary_html="<p>" + "mot " * 1000 + "</p>", content_html="texte " * 1000)

    (article,) = normalize_entries(feed_of(raw), FEED, FETCHED_AT, max_text_chars=100)

    assert len(article.summary) <= 100
    assert len(article.body) <= 100
    assert article.summary.endswith("mot…")


def test_double_escaped_markup_is_decoded_once_more() -> None:
    article = normalize_one(entry(summary_html="&lt;p&gt;Un &lt;b&gt;texte&lt;/b&gt;&lt;/p&gt;"))

    assert article.summary == "Un texte"
    assert normalize_one(entry(summary_html="1 &lt; 2 &gt; 0")).summary == "1 < 2 > 0"


def test_body_is_empty_when_it_repeats_the_summary() -> None:
    article = normalize_one(entry(summary_html="<p>Texte</p>", content_html="<p>Texte</p>"))

    assert article.summary == "Texte"
    assert article.body == ""


def test_non_web_links_are_not_urls() -> None:
    assert normalize_one(entry(guid="urn:x", link="urn:x")).url is None


# --- dates -----------------------------------------------------------------------


def test_missing_date_is_fetch_time() -> None:
    assert normalize_one(entry(published_at=None)).published_at == FETCHED_AT


def test_future_date_is_clamped_to_fetch_time() -> None:
    tomorrow = FETCHED_AT + timedelta(days=1)

    assert normalize_one(entry(published_at=tomorrow)).published_at == FETCHED_AT


@pytest.mark.parametrize("year", [1970, 1, 1994])
def test_placeholder_dates_are_fetch_time(year: int) -> None:
    placeholder = datetime(year, 1, 1, tzinfo=UTC)

    assert normalize_one(entry(published_at=placeholder)).published_at == FETCHED_AT


def test_dates_become_aware_utc() -> None:
    paris = timezone(timedelta(hours=1))
    article = normalize_one(entry(published_at=datetime(2024, 3, 9, 10, 0, tzinfo=paris)))

    assert article.published_at == datetime(2024, 3, 9, 9, 0, tzinfo=UTC)
    assert article.published_at.utcoffset() == timedelta(0)
    naive = normalize_one(entry(published_at=datetime(2024, 3, 9, 10, 0)))
    assert naive.published_at == datetime(2024, 3, 9, 10, 0, tzinfo=UTC)


# --- keys, language, selection --------------------------------------------------------


def test_guid_key_is_stable_and_scoped_by_feed() -> None:
    raw = entry(guid="4711")
    first = normalize_one(raw)
    again = normalize_one(replace(raw, title="Titre corrigé", link="https://news.example.org/b"))
    other_feed = normalize_one(raw, replace(FEED, id="autre"))

    assert first.key == again.key
    assert first.key.startswith("g:")
    assert len(first.key) == 2 + 32
    assert other_feed.key != first.key


def test_link_key_uses_the_canonical_url_across_feeds() -> None:
    tracked = normalize_one(entry(link="https://NEWS.example.org/a?utm_source=x#top"))
    plain = normalize_one(entry(link="https://news.example.org/a"), replace(FEED, id="autre"))

    assert tracked.key == plain.key
    assert tracked.key.startswith("u:")


def test_link_key_survives_a_move_to_https_and_away_from_www() -> None:
    before = normalize_one(entry(link="http://www.news.example.org/a"))
    after = normalize_one(entry(link="https://news.example.org/a"))

    assert before.key == after.key
    assert before.url == "http://www.news.example.org/a"  # the URL itself stays usable


def test_permalink_guid_key_survives_scheme_and_tracking_changes() -> None:
    before = normalize_one(entry(guid="http://news.example.org/a?utm_source=rss"))
    after = normalize_one(entry(guid="https://www.news.example.org/a"))
    opaque = normalize_one(entry(guid="HTTPS-not-a-url"))

    assert before.key == after.key
    assert before.key.startswith("g:")
    assert opaque.guid == "HTTPS-not-a-url"


def test_guid_control_characters_are_dropped() -> None:
    assert normalize_one(entry(guid="\x00 4711\x1b ")).guid == "4711"
    assert normalize_one(entry(guid="\x00 ")).guid is None


def test_content_key_when_no_guid_and_no_link() -> None:
    article = normalize_one(entry(link=None, summary_html="Du texte."))

    assert article.key == "c:" + article.content_hash[:32]
    assert article.url is None


@pytest.mark.parametrize(
    ("entry_language", "feed_language", "configured", "expected"),
    [
        ("fr-FR", "en", "de", "fr"),
        (None, "EN-us", "de", "en"),
        (None, None, "de", "de"),
        ("fre", None, None, "fr"),
        ("not a language", None, "fr", "fr"),
        (None, None, None, None),
    ],
)
def test_language_hint(
    entry_language: str | None,
    feed_language: str | None,
    configured: str | None,
    expected: str | None,
) -> None:
    feed = replace(FEED, language=configured)

    article = normalize_one(entry(language=entry_language), feed, language=feed_language)

    assert article.language == expected


def test_entries_without_title_link_or_text_are_skipped() -> None:
    empty = entry(title="  ", link=None, summary_html="<p> </p>")

    assert normalize_entries(feed_of(empty), FEED, FETCHED_AT) == []


def test_only_the_newest_entries_are_kept_once_each() -> None:
    entries = [
        entry(guid=str(day), published_at=datetime(2024, 3, day, tzinfo=UTC)) for day in range(1, 8)
    ]
    duplicate = entry(guid="7", published_at=datetime(2024, 3, 7, tzinfo=UTC))

    articles = normalize_entries(feed_of(*entries, duplicate), FEED, FETCHED_AT, max_entries=3)

    assert [article.guid for article in articles] == ["7", "6", "5"]


# --- entries that share a link ------------------------------------------------------


def flashes(count: int, link: str = "https://news.example.org/") -> list[RawEntry]:
    return [
        entry(link=link, title=f"Flash {n} : alerte", summary_html=f"<p>Fait numéro {n}.</p>")
        for n in range(count)
    ]


def test_entries_sharing_a_link_but_not_their_text_are_all_kept() -> None:
    articles = normalize_entries(feed_of(*flashes(15)), FEED, FETCHED_AT)
    again = normalize_entries(feed_of(*flashes(15)), FEED, FETCHED_AT)

    assert len(articles) == 15
    assert len({article.key for article in articles}) == 15
    assert [a.key for a in again] == [a.key for a in articles]  # a re-poll is the same 15


def test_entries_sharing_a_link_and_their_title_or_text_are_one_article() -> None:
    first, second = flashes(2)
    same_title = replace(second, title=first.title)
    same_text = replace(second, summary_html=first.summary_html)

    for copy in (first, same_title, same_text):
        assert len(normalize_entries(feed_of(first, copy), FEED, FETCHED_AT)) == 1


def test_an_edited_entry_alone_on_its_link_keeps_its_key() -> None:
    before = normalize_one(entry(summary_html="Premier jet."))
    after = normalize_one(entry(title="Titre corrigé", summary_html="Texte revu."))

    assert before.key == after.key


# --- only new entries are normalised --------------------------------------------------

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "fr-feeds"


def _corpus_feeds() -> list[ParsedFeed]:
    # Every 6th corpus file, and a feed of the cases a guid or link alone cannot settle.
    paths = sorted(CORPUS.glob("*.xml"))[::6] if CORPUS.is_dir() else []
    feeds = [
        parse_feed(FetchResult("f", path.as_uri(), 200, path.read_bytes(), (), FETCHED_AT))
        for path in paths
    ]
    shared = "https://news.example.org/direct"
    hours = [FETCHED_AT - timedelta(hours=n) for n in range(8)]
    feeds.append(
        feed_of(
            entry(guid="a", title="Un", published_at=hours[3]),
            entry(guid="a", title="Un, doublon", published_at=hours[1]),
            entry(link=shared, title="Flash 1", summary_html="Un", published_at=hours[2]),
            entry(link=shared, title="Flash 2", summary_html="Deux", published_at=hours[4]),
            entry(link="https://news.example.org/b", title="B", published_at=hours[0]),
            entry(link="http://www.news.example.org/b?utm_source=x", title="B bis"),
            entry(link=None, title="Sans lien", summary_html="texte", published_at=hours[5]),
            entry(guid="c", link=shared, title="C", published_at=hours[6]),
            entry(link="https://news.example.org/d", title="D", published_at=hours[7]),
        )
    )
    return feeds


@pytest.mark.parametrize("max_entries", [200, 5])
def test_known_entries_are_left_out_and_the_rest_is_what_a_full_normalisation_gives(
    max_entries: int,
) -> None:
    feeds = _corpus_feeds()
    assert len(feeds) > 5 or not CORPUS.is_dir()
    for parsed in feeds:
        full = normalize_entries(parsed, FEED, FETCHED_AT, max_entries=max_entries)
        hints = [key for key in entry_keys(parsed, FEED) if key is not None]
        # A key a guid or link settles is the key the whole normalisation gives.
        assert set(hints) <= {a.key for a in normalize_entries(parsed, FEED, FETCHED_AT)}
        for known in (set(hints[::2]), set(hints[1::3]), set(hints)):
            new, entries = normalize_new_entries(
                parsed, FEED, FETCHED_AT, known_keys=known, max_entries=max_entries
            )
            assert new == [article for article in full if article.key not in known]
            assert entries == len(full)


def test_a_known_entry_is_never_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = feed_of(*(entry(guid=f"g{n}", title=f"Titre {n}") for n in range(20)))
    known = {key for key in entry_keys(parsed, FEED)[2:] if key is not None}
    normalised: list[str] = []
    real = normalize._normalize_entry

    def counting(raw: RawEntry, *args: object) -> Article | None:
        normalised.append(raw.title)
        return real(raw, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(normalize, "_normalize_entry", counting)

    new, entries = normalize_new_entries(parsed, FEED, FETCHED_AT, known_keys=known)

    assert [article.title for article in new] == ["Titre 0", "Titre 1"]
    assert normalised == ["Titre 0", "Titre 1"] and entries == 20
