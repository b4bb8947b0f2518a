"""The entity gate: NER runs only where an entity-requiring actor may occur, and verdicts
never change for it (checked on the real French corpus)."""

import collections
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.ingest import normalize_entries, parse_feed
from monitor.match import compile_rules, entity_gate, evaluate
from monitor.model import (
    Actor,
    ActorRef,
    AnnotatedField,
    Annotations,
    Article,
    Clause,
    Feed,
    FetchResult,
    Rule,
    RuleSet,
    Term,
    Token,
)
from monitor.nlp import text_article
from monitor.pipeline.analyse import annotate_gated
from tests.fixtures_nlp import shared_annotator

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "fr-feeds"
NOW = datetime(2025, 2, 10, tzinfo=UTC)
HAMMOUCHI = Actor(
    "hammouchi",
    "Abdellatif Hammouchi",
    "person",
    ("Hammouchi",),
    require_entity=True,
    fuzzy=0.85,
)
DGST = Actor("dgst", "DGST", "org", ("DGSN-DGST",))
LERNER = Actor("lerner", "Nicolas Lerner", "person", ("Lerner",), require_entity=True)


def rule(rule_id: str, *items: Term | ActorRef | Clause) -> Rule:
    return Rule(rule_id, rule_id, Clause("all", (Clause("any", items),)))


def gate_for(*refs: ActorRef) -> RuleSet:
    return RuleSet(
        rules=tuple(rule(f"r{index}", ref) for index, ref in enumerate(refs)),
        actors=(HAMMOUCHI, DGST, LERNER),
    )


def body(text: str) -> Article:
    return text_article(text)


def test_no_entity_requiring_actor_means_no_ner_at_all():
    gate = entity_gate(
        RuleSet(rules=(rule("plain", Term("Rabat"), ActorRef("dgst")),), actors=(DGST,))
    )
    assert not gate.is_active
    assert not gate.needs_entities(body("La DGST et Rabat."))


def test_only_articles_naming_an_entity_requiring_actor_need_ner():
    gate = entity_gate(gate_for(ActorRef("lerner"), ActorRef("dgst")))
    assert gate.is_active
    assert gate.needs_entities(body("Nicolas Lerner a été entendu."))
    assert gate.needs_entities(body("Selon M. LERNER, rien."))
    assert not gate.needs_entities(body("La DGST à Rabat."))  # dgst does not require an entity


def test_a_reference_overrides_the_actor_both_ways():
    on = entity_gate(gate_for(ActorRef("dgst", require_entity=True)))
    assert on.needs_entities(body("La D.G.S.T. enquête."))  # dotted acronym
    assert on.needs_entities(body("La DGSN-DGST enquête."))
    off = entity_gate(gate_for(ActorRef("lerner", require_entity=False)))
    assert not off.is_active
    assert not off.needs_entities(body("Nicolas Lerner a été entendu."))


def test_glued_and_misspelt_forms_turn_ner_on():
    gate = entity_gate(gate_for(ActorRef("hammouchi")))
    assert gate.needs_entities(body("d'Hammouchi"))  # elision
    assert gate.needs_entities(body("Abdelatif Hamouchi, patron de la police"))  # fuzzy: two typos
    assert not gate.needs_entities(body("Le directeur de la police marocaine"))


def test_a_form_the_text_cannot_show_is_caught_on_the_annotation():
    """A lemma equal to an alias (the text says otherwise) makes the article run NER again."""
    gate = entity_gate(gate_for(ActorRef("lerner")))
    assert not gate.needs_entities(body("Les Lernières"))
    token = Token("Lernières", 4, 13, 0, "lernieres", "lerner")
    notes = Annotations(
        "text", "fr", (AnnotatedField("body", "Les Lernières", (token,), ((0, 13),)),)
    )
    assert gate.missed(notes)
    unrelated = Token("Lernières", 4, 13, 0, "lernieres", "lerniere")
    other = Annotations(
        "text", "fr", (AnnotatedField("body", "Les Lernières", (unrelated,), ((0, 13),)),)
    )
    assert not gate.missed(other)


def test_a_second_pass_gives_ner_to_what_the_text_test_missed():
    class LemmaAnnotator:
        """Lemmas the text cannot show: every token's lemma is 'lerner'."""

        def annotate(self, articles, *, with_entities):
            token = Token("Lernières", 0, 9, 0, "lernieres", "lerner")
            field = AnnotatedField("body", "Lernières", (token,), ((0, 9),))
            return [
                Annotations(a.key, "fr", (field,), has_entities=with_entities) for a in articles
            ]

    gate = entity_gate(gate_for(ActorRef("lerner")))
    notes, counts = annotate_gated(LemmaAnnotator(), [body("Lernières")], gate)
    assert notes[0].has_entities
    assert counts == {"yes": 0, "no": 0, "again": 1}


# --- the real corpus ---------------------------------------------------------------------


def corpus_articles() -> list[Article]:
    articles: list[Article] = []
    for path in sorted(CORPUS.glob("*.xml")):
        result = FetchResult(path.stem, path.as_uri(), 200, path.read_bytes(), (), NOW)
        feed = Feed(id=path.stem, url=path.as_uri(), language="fr")
        articles += normalize_entries(parse_feed(result), feed, NOW, max_entries=1_000)
    return articles


def corpus_rules(notes: list[Annotations]) -> RuleSet:
    """Actors from the entities spaCy finds in the corpus, some people requiring an entity
    (and an organisation by reference), in rules written with the corpus's common words."""
    kinds = {"PER": "person", "ORG": "org", "LOC": "place"}
    counts = collections.Counter(
        (entity.text, kinds[entity.label])
        for note in notes
        for field in note.fields
        for entity in field.entities
        if entity.label in kinds and len(entity.text) > 3
    )
    actors: list[Actor] = []
    rules: list[Rule] = []
    common = (Term("France"), Term("gouvernement"), Term("sécurité"), Term("président"))
    for index, ((text, kind), _) in enumerate(counts.most_common(90)):
        words = text.split()
        aliases = (words[-1],) if len(words) > 1 and len(words[-1]) > 3 else ()
        actor = Actor(
            f"a{index}",
            text,
            kind,
            aliases,
            require_entity=kind == "person" and index % 3 != 2,
            fuzzy=0.85 if index % 7 == 0 else None,
        )
        actors.append(actor)
        is_checked = kind == "org" and index % 4 == 1
        ref = ActorRef(actor.id, require_entity=True if is_checked else None)
        if index % 2:
            rules.append(rule(f"r{index}", ref))
        else:
            clause = Clause("all", (Clause("any", (ref,)), Clause("any", common)))
            rules.append(Rule(f"r{index}", f"r{index}", clause, near="sentence"))
    return RuleSet(rules=tuple(rules), actors=tuple(actors))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside the repository")
def test_verdicts_on_the_real_corpus_are_the_same_with_and_without_the_gate():
    articles = corpus_articles()[::3]
    annotator = shared_annotator()
    everywhere = annotator.annotate(articles, with_entities=True)
    rules = corpus_rules(everywhere)
    compiled = compile_rules(rules)
    gate = entity_gate(rules)
    assert sum(actor.require_entity for actor in rules.actors) >= 8

    gated, counts = annotate_gated(annotator, articles, gate)

    def verdicts(notes: list[Annotations]) -> list[tuple[str, str, float]]:
        return [
            (match.article_key, match.rule_id, match.score)
            for article, note in zip(articles, notes, strict=True)
            for match in evaluate(article, note, compiled)
        ]

    expected = verdicts(everywhere)
    assert len(expected) > 50  # the rules do match the corpus
    assert verdicts(gated) == expected
    assert counts["yes"] + counts["again"] < len(articles) / 2  # NER was skipped on most
    assert counts["yes"] > 0
