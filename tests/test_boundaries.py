"""Sentences and proximity windows end where the document's structure does.

Block elements, `<br>`, table cells and plain-text line breaks end a sentence before spaCy sees
the text; `near: sentence` and `near: N` never reach across a block or from one field into
another. Each case goes the daemon's way: a feed document, parse, normalize, the real spaCy
model, then the rules.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.ingest import normalize_entries, page_text, parse_feed
from monitor.ingest.normalize import html_to_text
from monitor.match import compile_rules, evaluate, evaluate_rule
from monitor.model import Annotations, Article, Feed, FetchResult
from monitor.nlp import text_article
from tests.fixtures_nlp import load_rule_texts, shared_annotator

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "feeds"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "fr-feeds"

RULES = {
    "jo-anywhere": 'match: {all: ["JO 2024", sécurité]}',
    "jo-sentence": 'match: {all: ["JO 2024", sécurité], near: sentence}',
    "jo-10-words": 'match: {all: ["JO 2024", sécurité], near: 10}',
}


@dataclass(frozen=True)
class Case:
    name: str
    summary: str  # the item's <description>, as the feed carries it (HTML or plain text)
    in_one_sentence: bool  # what `near: sentence` says
    within_10_words: bool  # what `near: 10` says
    title: str = "Essai"


CASES = [
    Case(
        "paragraphs",
        "<p>Les JO 2024 approchent</p><p>La sécurité du métro inquiète.</p>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "heading then paragraph",
        "<h2>JO 2024</h2><p>La sécurité du métro inquiète.</p>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "list items",
        "<ul><li>Les JO 2024 approchent</li><li>la sécurité du métro inquiète</li></ul>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "br",
        "Les JO 2024 approchent<br>la sécurité du métro inquiète",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "table cells of one row",
        "<table><tr><td>JO 2024</td><td>sécurité du métro</td></tr></table>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "table rows",
        "<table><tr><th>JO 2024</th></tr><tr><td>sécurité du métro</td></tr></table>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "div",
        "<div>Les JO 2024 approchent</div><div>la sécurité du métro inquiète</div>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "blockquote",
        "<blockquote>Les JO 2024 approchent</blockquote>la sécurité du métro inquiète",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "definition list",
        "<dl><dt>JO 2024</dt><dd>sécurité du métro renforcée</dd></dl>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "figure caption",
        "<figure><figcaption>Les JO 2024</figcaption></figure>La sécurité du métro inquiète.",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "pre keeps its lines",
        "<pre>Les JO 2024 approchent\nla sécurité du métro inquiète</pre>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "newline in a plain-text summary",
        "Les JO 2024 approchent\nLa sécurité du métro inquiète.",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "blank line in a plain-text summary",
        "Les JO 2024 approchent\n\nLa sécurité du métro inquiète.",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "double-escaped paragraphs",
        "&lt;p&gt;Les JO 2024 approchent&lt;/p&gt;&lt;p&gt;la sécurité du métro&lt;/p&gt;",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "escaped inline markup inside real paragraphs",
        "<p>Les JO 2024 approchent</p><p>&lt;b&gt;La sécurité&lt;/b&gt; du métro inquiète.</p>",
        in_one_sentence=False,
        within_10_words=False,
    ),
    Case(
        "title and summary are two fields",
        "La sécurité du métro inquiète.",
        in_one_sentence=False,
        within_10_words=False,
        title="Les JO 2024 approchent",
    ),
    # Positive controls: the structure splits only where it says so.
    Case(
        "one sentence",
        "<p>Les JO 2024 approchent et la sécurité du métro inquiète.</p>",
        in_one_sentence=True,
        within_10_words=True,
    ),
    Case(
        "inline markup and layout newlines inside a paragraph",
        "<p>Les <b>JO 2024</b> approchent et la\n   <a href='/x'>sécurité</a> inquiète.</p>",
        in_one_sentence=True,
        within_10_words=True,
    ),
    Case(
        "two sentences of one paragraph: near 10 may cross them",
        "<p>Les JO 2024 approchent. La sécurité du métro inquiète.</p>",
        in_one_sentence=False,
        within_10_words=True,
    ),
]


def feed_document(cases: list[Case]) -> bytes:
    items = "".join(
        f'<item><guid isPermaLink="false">case-{index}</guid><title>{case.title}</title>'
        f"<description><![CDATA[{case.summary}]]></description></item>\n"
        for index, case in enumerate(cases)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Essais'
        "</title><link>https://essais.example/</link><language>fr</language>\n"
        f"{items}</channel></rss>"
    ).encode()


def articles_of(body: bytes, feed: Feed) -> list[Article]:
    result = FetchResult(
        feed_id=feed.id,
        url=feed.url,
        status=200,
        body=body,
        headers=(("Content-Type", "application/rss+xml"),),
        fetched_at=NOW,
    )
    return normalize_entries(parse_feed(result), feed, NOW)


@pytest.fixture(scope="module")
def annotator():
    return shared_annotator()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_rules(load_rule_texts(tmp_path_factory.mktemp("rules"), "actors: []", RULES))


@pytest.fixture(scope="module")
def analysed(annotator) -> dict[str, tuple[Article, Annotations]]:
    feed = Feed(id="essais", url="https://essais.example/rss", language="fr")
    articles = articles_of(feed_document(CASES), feed)
    notes = annotator.annotate(articles, with_entities=False)
    return {
        article.guid or "": (article, note) for article, note in zip(articles, notes, strict=True)
    }


@pytest.mark.parametrize(
    ("index", "case"), list(enumerate(CASES)), ids=[case.name for case in CASES]
)
def test_proximity_follows_the_document_structure(analysed, compiled, index, case):
    article, notes = analysed[f"case-{index}"]
    matched = {match.rule_id for match in evaluate(article, notes, compiled)}
    # Both terms are there: only where they are decides.
    assert "jo-anywhere" in matched
    assert ("jo-sentence" in matched) is case.in_one_sentence
    assert ("jo-10-words" in matched) is case.within_10_words


def test_a_miss_across_blocks_says_so(analysed, compiled):
    article, notes = analysed["case-0"]
    for rule_id, where in (
        ("jo-sentence", "in the same sentence (near: sentence)"),
        ("jo-10-words", "within 10 words (near: 10)"),
    ):
        verdict = evaluate_rule(article, notes, compiled, rule_id)
        assert not verdict.is_match
        assert any(reason.endswith(where) for reason in verdict.reasons), verdict.reasons


def test_hit_offsets_point_into_the_original_field_text(analysed, compiled):
    article, notes = analysed["case-0"]
    assert article.summary == "Les JO 2024 approchent\n\nLa sécurité du métro inquiète."
    verdict = evaluate_rule(article, notes, compiled, "jo-anywhere")
    spans = {hit.matched: (hit.field, hit.start, hit.end) for hit in verdict.hits}
    assert spans == {"JO 2024": ("summary", 4, 11), "sécurité": ("summary", 27, 35)}
    for hit in verdict.hits:
        assert article.field_text(hit.field)[hit.start : hit.end] == hit.matched
    # The snippet is the hit's own block, not the two paragraphs run together.
    assert {hit.snippet for hit in verdict.hits} == {
        "Les JO 2024 approchent",
        "La sécurité du métro inquiète.",
    }


@pytest.mark.parametrize("language", ["fr", "en", "de", "ar", "zz"])
@pytest.mark.parametrize("line_break", ["\n", "\n\n", "\r\n", " \n ", "\u2028"])
def test_a_line_break_ends_a_sentence_in_every_pipeline(annotator, language, line_break):
    # fr has the trained senter; the others a blank pipeline with the rule-based sentencizer.
    text = f"Les JO 2024 approchent{line_break}la sécurité du métro inquiète"
    body = annotator.annotate_text(text, language=language).fields[0]
    assert [body.text[start:end] for start, end in body.sentences] == [
        "Les JO 2024 approchent",
        "la sécurité du métro inquiète",
    ]


def test_the_seed_read_lines_are_sentences_of_their_own(annotator):
    seed_fr = Feed(id="seed-fr", url=str(SEEDS / "seed-fr.xml"), language="fr")
    wire = Feed(id="wire-en", url=str(SEEDS / "wire-en.atom"), language="en")
    articles = [
        *articles_of((SEEDS / "seed-fr.xml").read_bytes(), seed_fr),
        *articles_of((SEEDS / "wire-en.atom").read_bytes(), wire),
    ]
    notes = annotator.annotate(articles, with_entities=False)
    copies = 0
    for article, note in zip(articles, notes, strict=True):
        lines = [line for line in article.body.splitlines() if line.startswith("Lire : ")]
        sentences = {
            field.text[start:end] for field in note.fields for start, end in field.sentences
        }
        copies += bool(lines)
        assert set(lines) <= sentences, article.title
    assert copies == 2  # the seed and its syndicated copy, three "Lire : …" lines each


def every_sentence_stays_in_one_line(note: Annotations) -> None:
    for field in note.fields:
        for start, end in field.sentences:
            assert "\n" not in field.text[start:end], (note.article_key, field.name)


def test_no_sentence_of_real_feed_items_spans_a_line_break(annotator):
    names = ("elucid.xml", "flux_rss_bfmtv_metz.xml", "blast_emissions.xml")
    if not all((CORPUS / name).is_file() for name in names):
        pytest.skip(f"the shared corpus is not checked out beside the repository ({CORPUS})")
    articles = []
    for name in names:
        feed = Feed(id=name, url=f"https://corpus.example/{name}", language="fr")
        articles += articles_of((CORPUS / name).read_bytes(), feed)[:20]
    # These feeds carry block markup (elucid, BFM) and plain-text paragraphs (Blast).
    assert sum("\n" in article.summary + article.body for article in articles) >= 20
    for note in annotator.annotate(articles, with_entities=False):
        every_sentence_stays_in_one_line(note)


ARTICLE_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>JO 2024</title></head><body>
<nav><a href="/">Accueil</a> | <a href="/sport">Sport</a></nav>
<article>
<h1>Les JO 2024 approchent</h1>
<p>La sécurité du métro inquiète les autorités depuis plusieurs semaines, selon le préfet
de police de Paris qui s'est exprimé hier devant la presse et les élus de la région.</p>
<h2>Un dispositif renforcé</h2>
<p>Des agents supplémentaires seront déployés dans les stations les plus fréquentées pendant
toute la durée des épreuves.<br>Les horaires des lignes seront étendus jusqu'à deux heures.</p>
<ul><li>Plus de patrouilles dans les gares pendant les JO 2024</li>
<li>La sécurité des quais confiée à des équipes mixtes</li></ul>
<p>Le préfet assure que la sécurité des JO 2024 sera assurée sans fermer de station.</p>
</article>
<footer>© Le Courrier 2024</footer>
</body></html>
"""


def test_the_full_text_path_keeps_block_boundaries(annotator, compiled):
    page = FetchResult(
        feed_id="essais",
        url="https://essais.example/jo",
        status=200,
        body=ARTICLE_PAGE.encode(),
        headers=(("Content-Type", "text/html; charset=utf-8"),),
        fetched_at=NOW,
    )
    text = asyncio.run(page_text(page, max_chars=100_000))
    assert text is not None
    lines = text.splitlines()
    assert lines[:2] == [
        "Les JO 2024 approchent",
        "La sécurité du métro inquiète les autorités depuis plusieurs semaines, selon le préfet "
        "de police de Paris qui s'est exprimé hier devant la presse et les élus de la région.",
    ]
    assert "Les horaires des lignes seront étendus jusqu'à deux heures." in lines
    article = text_article(text, key="page")
    notes = annotator.annotate([article], with_entities=False)[0]
    every_sentence_stays_in_one_line(notes)
    verdict = evaluate_rule(article, notes, compiled, "jo-sentence")
    assert verdict.is_match
    # Only the last paragraph has both in one sentence: the heading and the list items do not.
    assert {hit.snippet for hit in verdict.hits} == {
        "Le préfet assure que la sécurité des JO 2024 sera assurée sans fermer de station."
    }


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<table><tr><th>Pays</th><th>Or</th></tr><tr><td>a</td><td>b</td></tr></table>",
         "Pays\nOr\n\na\nb"),
        ("Les JO\nLa sécurité\r\n  inquiète", "Les JO\nLa sécurité\ninquiète"),
        ("un\n \n deux", "un\n\ndeux"),
        ("<b>gras</b>\nsuite", "gras\nsuite"),
        ("<p>mise\n  en page</p>", "mise en page"),
        ("<p>avant</p><pre>ligne 1\nligne 2</pre>", "avant\n\nligne 1\nligne 2"),
        ("a</br>b", "a\nb"),
        ("<p>un</p><p>&lt;b&gt;deux&lt;/b&gt; trois</p>", "un\n\ndeux trois"),
    ],
)  # fmt: skip
def test_html_to_text_writes_a_line_break_wherever_a_block_ends(html, text):
    assert html_to_text(html) == text
