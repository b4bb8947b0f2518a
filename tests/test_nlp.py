"""The NLP stage on the real fr_core_news_sm model: sentences, folded tokens, lemmas, entities."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.model import Article
from monitor.nlp import Annotator

SEED = Path(__file__).resolve().parent.parent / "seeds" / "raw" / "000_1cc6efedb35eb3c5.txt"
NOW = datetime(2024, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def annotator():
    return Annotator()


@pytest.fixture(scope="module")
def seed_body(annotator):
    notes = annotator.annotate_text(SEED.read_text(encoding="utf-8"), key="seed")
    assert [field.name for field in notes.fields] == ["body"]
    return notes.fields[0]


def make_article(key, *, title="", summary="", body="", language="fr"):
    return Article(
        key=key,
        feed_id="seed-fr",
        url=None,
        guid=None,
        title=title,
        summary=summary,
        body=body,
        published_at=NOW,
        fetched_at=NOW,
        language=language,
        content_hash="0",
    )


def test_seed_sentences_are_trimmed_char_spans(seed_body):
    texts = [seed_body.text[start:end] for start, end in seed_body.sentences]
    assert len(texts) >= 8
    assert texts[0].startswith("Le réchauffement des relations franco-marocaines")
    assert any(text.startswith("Après sa rencontre avec son homologue français") for text in texts)
    assert all(text == text.strip() and text for text in texts)
    assert texts[-1].endswith("à Paris.")


def test_seed_tokens_carry_offsets_folded_forms_and_lemmas(seed_body):
    tokens = {token.text: token for token in seed_body.tokens}
    relations = tokens["relations"]
    assert seed_body.text[relations.start : relations.end] == "relations"
    assert relations.lemma == "relation"
    securites = tokens["Sécurité"]
    assert (securites.folded, securites.lemma) == ("securite", "securite")
    assert tokens["réchauffement"].folded == "rechauffement"
    assert not any(token.text.isspace() for token in seed_body.tokens)


def test_tokens_know_their_sentence(seed_body):
    for token in seed_body.tokens:
        start, end = seed_body.sentences[token.sentence]
        assert start <= token.start < token.end <= end


def test_seed_entities(seed_body):
    people = {entity.text for entity in seed_body.entities if entity.label == "PER"}
    assert {"Abdellatif Hammouchi", "Nicolas Lerner", "Frédéric Veaux"} <= people
    for entity in seed_body.entities:
        assert seed_body.text[entity.start : entity.end] == entity.text


def test_annotate_keeps_order_fields_and_languages(annotator):
    articles = [
        make_article("fr-1", title="La sécurité des JO", body="Les Jeux olympiques."),
        make_article("en-1", title="Olympics security", summary="Tight.", language="en-GB"),
        make_article("none", language=None, body="Le Maroc."),
        make_article("empty", title="   "),
    ]
    notes = annotator.annotate(articles)
    assert [note.article_key for note in notes] == ["fr-1", "en-1", "none", "empty"]
    assert [note.language for note in notes] == ["fr", "en", "fr", "fr"]
    assert [[field.name for field in note.fields] for note in notes] == [
        ["title", "body"],
        ["title", "summary"],
        ["body"],
        [],
    ]


def test_blank_pipeline_for_english(annotator):
    notes = annotator.annotate_text("Security was tight. The Games began!", language="en")
    body = notes.fields[0]
    assert [body.text[start:end] for start, end in body.sentences] == [
        "Security was tight.",
        "The Games began!",
    ]
    games = next(token for token in body.tokens if token.text == "Games")
    assert (games.folded, games.lemma, games.sentence) == ("games", "games", 1)
    assert body.entities == ()


def test_unknown_language_code_falls_back_to_multilingual(annotator):
    notes = annotator.annotate_text("Bonjour tout le monde.", language="zz")
    assert notes.language == "zz"
    assert [token.text for token in notes.fields[0].tokens][:2] == ["Bonjour", "tout"]


def test_text_is_truncated_to_max_chars():
    short = Annotator(max_chars=40, default_language="en")
    notes = short.annotate_text("word " * 100, language="en")
    body = notes.fields[0]
    assert len(body.text) == 40
    assert body.tokens[-1].end <= 40


def test_empty_text_has_no_fields(annotator):
    assert annotator.annotate_text("  \n ").fields == ()


def test_whitespace_only_sentences_are_dropped(annotator):
    body = annotator.annotate_text("Fin.  \n \n  Suite.\n\n").fields[0]
    assert [body.text[start:end] for start, end in body.sentences] == ["Fin.", "Suite."]
    assert [token.sentence for token in body.tokens] == [0, 0, 1, 1]
