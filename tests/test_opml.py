"""opml.py: subscription lists in, feeds out, and back."""

from __future__ import annotations

import pytest

from monitor.config.opml import read_opml, write_opml
from monitor.errors import ConfigError
from monitor.model import Feed

X = "https://x.example/f"

# What a feed reader exports: folders, text-only outlines, a feed listed twice.
READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Mes abonnements</title></head>
  <body>
    <outline text="Actualité" title="Actualité">
      <outline type="rss" text="Le Monde — À la une" title="Le Monde — À la une"
               xmlUrl="https://www.lemonde.fr/rss/une.xml" htmlUrl="https://www.lemonde.fr/"
               language="fr-FR"/>
      <outline type="rss" text="Le Monde — International" xmlUrl="https://www.lemonde.fr/international/rss_full.xml"/>
      <outline text="Maroc">
        <outline type="rss" text="Hespress FR" xmlUrl="https://fr.hespress.com/feed"/>
      </outline>
    </outline>
    <outline text="Sécurité">
      <outline type="rss" text="Hespress FR" xmlUrl="https://fr.hespress.com/feed"/>
    </outline>
    <outline type="rss" text="Le Monde — À la une" xmlUrl="https://www.lemonde.fr/rss/en_continu.xml"
             category="/breaking,/France/Paris"/>
    <outline text="A note, not a feed"/>
    <outline type="rss" xmlUrl="https://feeds.example.com/no-title.xml"/>
  </body>
</opml>
"""


def test_reader_export_becomes_feeds() -> None:
    feeds = read_opml(READER_EXPORT, source="subscriptions.opml")

    assert [feed.id for feed in feeds] == [
        "le-monde-a-la-une",
        "le-monde-international",
        "hespress-fr",
        "le-monde-a-la-une-2",
        "feeds-example-com",
    ]
    une = feeds[0]
    assert une.url == "https://www.lemonde.fr/rss/une.xml"
    assert une.title == "Le Monde — À la une"
    assert une.language == "fr"
    assert une.tags == ("Actualité",)
    assert une.poll_every_s == 900
    assert not une.allow_private
    assert not une.full_text
    assert feeds[2].tags == ("Actualité", "Maroc", "Sécurité")  # listed twice: tags merged
    assert feeds[3].tags == ("breaking", "France", "Paris")
    assert feeds[4].title == ""


def test_round_trip_keeps_every_feed_setting() -> None:
    feeds = [
        Feed(
            id="seed-fr",
            url="https://news.example.org/feed?lang=fr&x=<1>",
            title='Le "Courrier" & Cie',
            poll_every_s=300,
            language="fr",
            tags=("maroc", "sécurité"),
            full_text=True,
        ),
        Feed(id="wire-en", url="https://wire.example.com/atom", poll_every_s=3600),
        Feed(id="weird\x01title", url="https://x.example/f", title="tab\there\nnewline"),
    ]

    text = write_opml(feeds, title="monitor feeds")
    back = read_opml(text, source="export.opml", default_every_s=1)

    assert back[0] == feeds[0]
    assert back[1] == Feed(id="wire-en", url="https://wire.example.com/atom", title="wire-en",
                           poll_every_s=3600)  # fmt: skip
    assert back[2].title == "tab\there\nnewline"
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"')
    assert "<title>monitor feeds</title>" in text


def test_export_groups_feeds_in_folders_by_first_tag() -> None:
    feeds = [
        Feed(id="a", url="https://a.example/f", tags=("maroc",)),
        Feed(id="b", url="https://b.example/f"),
        Feed(id="c", url="https://c.example/f", tags=("maroc", "sport")),
    ]

    text = write_opml(feeds, title="t")

    assert text.count('<outline text="maroc">') == 1
    assert [feed.id for feed in read_opml(text, source="t.opml")] == ["a", "c", "b"]


def test_allow_private_is_never_exported_nor_imported() -> None:
    text = write_opml(
        [Feed(id="intranet", url="http://10.0.0.5/feed", allow_private=True)], title="t"
    )

    assert "allow" not in text.lower()
    assert not read_opml(text, source="t.opml")[0].allow_private


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            f"<opml><body>\n<outline xmlUrl='{X}'>\n</body></opml>",
            3,
            "not well-formed OPML: mismatched tag",
        ),
        ("", 1, "not well-formed OPML: no element found"),
        ("<rss version='2.0'/>", 1, "root element is 'rss', expected 'opml'"),
        (
            "<opml><body>\n\n<outline text='Local' xmlUrl='file:///etc/passwd'/></body></opml>",
            3,
            "feed 'Local': xmlUrl 'file:///etc/passwd' is not an http(s) URL",
        ),
        (
            "<opml><body>\n<outline text='Odd' xmlUrl='https://host\\@evil.example/'/>"
            "</body></opml>",
            2,
            "feed 'Odd': xmlUrl refused: a backslash at position 12 (use '/' in a URL)",
        ),
        (
            "<opml><body>\n<outline text='Two' xmlUrl='https://a@b@evil.example/'/></body></opml>",
            2,
            "feed 'Two': xmlUrl refused: more than one '@' before the path "
            "(percent-encode '@' in a user name as %40)",
        ),
        (
            f"<opml><body>\n<outline xmlUrl='{X}' monitor:every='often'/></body></opml>",
            2,
            "'monitor:every' must be a whole number of seconds, got 'often'",
        ),
        (
            f"<opml><body>\n<outline xmlUrl='{X}' monitor:id='../etc'/></body></opml>",
            2,
            "'monitor:id' '../etc' must be letters, digits, '_', '.' or '-'",
        ),
    ],
)
def test_malformed_opml_names_file_and_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_opml(text, source="feeds.opml")

    assert caught.value.path == "feeds.opml"
    assert caught.value.line == line
    assert caught.value.problem == problem
    assert str(caught.value) == f"feeds.opml:{line}: {problem}"


@pytest.mark.parametrize(
    "text",
    [
        # billion laughs
        '<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        "<opml><head><title>&b;</title></head></opml>",
        # external entity
        '<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
        "<opml><body><outline text='&secret;' xmlUrl='https://x.example/f'/></body></opml>",
    ],
)
def test_doctype_and_entities_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="DOCTYPE declarations are not allowed") as caught:
        read_opml(text, source="evil.opml")

    assert caught.value.line == 2


def test_undefined_entity_without_doctype_is_malformed() -> None:
    with pytest.raises(ConfigError, match="undefined entity"):
        read_opml("<opml><head><title>&nbsp;</title></head></opml>", source="x.opml")


def test_file_bytes_are_read_in_their_declared_encoding() -> None:
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<opml version="1.0"><body>'
        '<outline text="Sécurité" xmlUrl="https://x.example/f"/></body></opml>'
    )

    (feed,) = read_opml(text.encode("iso-8859-1"), source="latin.opml")

    assert feed.title == "Sécurité"
    assert feed.id == "securite"
