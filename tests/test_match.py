"""Explainable matching, table-driven: a rule, a text, the verdict and the evidence."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.match import compile_rules, evaluate, evaluate_rule
from monitor.model import (
    ActorRef,
    AnnotatedField,
    Annotations,
    Clause,
    Priority,
    Rule,
    RuleSet,
    Term,
    Token,
)
from monitor.rules.load import load_rules
from tests.articles import body_article
from tests.fixtures_nlp import load_rule_texts, shared_annotator

SHIPPED = Path(__file__).parent.parent / "rules"
SEED = Path(__file__).resolve().parent.parent / "seeds" / "raw" / "000_1cc6efedb35eb3c5.txt"
NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)

ACTORS = """\
actors:
  - id: hammouchi
    name: Abdellatif Hammouchi
    type: person
    aliases: [Hammouchi, عبد اللطيف الحموشي]
  - id: dgsn-dgst
    name: DGSN-DGST
    type: org
    aliases: [DGSN-DGST, DGSN, DGST]
  - id: veaux
    name: Frédéric Veaux
    type: person
"""

# One rule per file, as a user writes them; ids are what the cases below refer to.
RULES = {
    "securite": "match: {any: [sécurité]}",
    "securite-unaccented": "match: {any: [SECURITE]}",
    "jeux": "match: {any: [Jeux olympiques]}",
    "olympics": "match: {any: [Jeux olympiques, Olympics]}",
    "om": "match: {any: [l'Olympique de Marseille]}",
    "hammouchi": "match: {actors: {any: [hammouchi]}}",
    "dgsn": "match: {actors: {any: [dgsn-dgst]}}",
    "veaux": "match: {actors: {any: [veaux]}}",
    "jo2024": "match: {any: [JO 2024]}",
    "paris2024": "match: {any: [Paris 2024]}",
    "exact-jo": "match: {any: [{exact: JO}]}",
    "counter": "match: {any: [counter-terrorism]}",
    "jo-security": """
languages: [fr, en]
match:
  all:
    - any: [JO 2024, Jeux olympiques, Olympics]
    - any: [sécurité, security]
  none: [billetterie, tickets]
  near: sentence
""",
    "near-3": """
match:
  all: [Maroc, sécurité]
  near: 3
""",
    "french-feed": "sources: [lemonde]\nmatch: {any: [sécurité]}",
    "title-only": "fields: [title]\nmatch: {any: [sécurité]}",
    "no-football": "match: {none: [football]}",
    "nested-none": """
match:
  all:
    - Maroc
    - none: [football]
  near: sentence
""",
}


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    body: str
    hits: list[tuple[str, str, str]] | None  # (wanted, matched, field); None: no match
    language: str = "fr"
    feed: str = "seed-fr"
    title: str = ""


CASES = [
    Case(
        "inflection via lemma",
        "securite",
        "Les sécurités sont renforcées.",
        [("sécurité", "sécurités", "body")],
    ),
    Case(
        "accents and case",
        "securite-unaccented",
        "La SÉCURITÉ d'abord.",
        [("SECURITE", "SÉCURITÉ", "body")],
    ),
    Case(
        "phrase, any case",
        "jeux",
        "Les jeux Olympiques de Paris.",
        [("Jeux olympiques", "jeux Olympiques", "body")],
    ),
    Case(
        "Olympique de Marseille is not the Olympics",
        "olympics",
        "L'Olympique de Marseille a gagné hier soir.",
        None,
    ),
    Case(
        "term with an elision",
        "om",
        "Le match de l’Olympique de Marseille.",
        [("l'Olympique de Marseille", "Olympique de Marseille", "body")],
    ),
    Case(
        "elision d'Hammouchi",
        "hammouchi",
        "La visite d'Hammouchi à Paris.",
        [("Abdellatif Hammouchi", "Hammouchi", "body")],
    ),
    Case(
        "elision in a blank pipeline",
        "hammouchi",
        "The d'Hammouchi visit.",
        [("Abdellatif Hammouchi", "Hammouchi", "body")],
        language="en",
    ),
    Case(
        "full name wins over the shorter alias",
        "hammouchi",
        "Abdellatif Hammouchi était à Rabat.",
        [("Abdellatif Hammouchi", "Abdellatif Hammouchi", "body")],
    ),
    Case(
        "Arabic script alias",
        "hammouchi",
        "استقبل عبد اللطيف الحموشي الوفد.",
        [("Abdellatif Hammouchi", "عبد اللطيف الحموشي", "body")],
        language="ar",
    ),
    Case(
        "DGSN-DGST",
        "dgsn",
        "Le patron de la DGSN-DGST a parlé.",
        [("DGSN-DGST", "DGSN-DGST", "body")],
    ),
    Case(
        "DGSN / DGST is the same words",
        "dgsn",
        "Le patron de la DGSN / DGST a parlé.",
        [("DGSN-DGST", "DGSN / DGST", "body")],
    ),
    Case(
        "one part of the name alone",
        "dgsn",
        "Un communiqué de la DGST.",
        [("DGSN-DGST", "DGST", "body")],
    ),
    Case(
        "actor display name matches without aliases",
        "veaux",
        "Frederic VEAUX était là.",
        [("Frédéric Veaux", "Frederic VEAUX", "body")],
    ),
    Case(
        "JO-2024 is JO 2024", "jo2024", "Les JO-2024 approchent.", [("JO 2024", "JO-2024", "body")]
    ),
    Case(
        "a phrase does not run across a comma", "paris2024", "Il vit à Paris, 2024 sera dur.", None
    ),
    Case("exact JO", "exact-jo", "Les JO de Paris.", [("JO", "JO", "body")]),
    Case("exact JO is not jo", "exact-jo", "Un jo quelconque, Jo et jO.", None),
    Case("exact inside JO-2024", "exact-jo", "Les JO-2024 approchent.", [("JO", "JO", "body")]),
    Case(
        "hyphenated English term",
        "counter",
        "New counter terrorism units.",
        [("counter-terrorism", "counter terrorism", "body")],
        language="en",
    ),
    Case(
        "near sentence, same sentence",
        "jo-security",
        "La sécurité des JO 2024 inquiète. Rien d'autre.",
        [("JO 2024", "JO 2024", "body"), ("sécurité", "sécurité", "body")],
    ),
    Case(
        "near sentence across a boundary fails",
        "jo-security",
        "Les JO 2024 approchent. La sécurité du métro inquiète.",
        None,
    ),
    Case(
        "English article, blank pipeline",
        "jo-security",
        "Olympics security was tightened in Paris.",
        [("Olympics", "Olympics", "body"), ("security", "security", "body")],
        language="en",
    ),
    Case(
        "none excludes anywhere in the article",
        "jo-security",
        "La sécurité des JO 2024 inquiète. La billetterie ouvre demain.",
        None,
    ),
    Case("languages filter", "jo-security", "Die sécurité des JO 2024.", None, language="de"),
    Case("sources filter rejects other feeds", "french-feed", "La sécurité.", None),
    Case(
        "sources filter accepts its feed",
        "french-feed",
        "La sécurité.",
        [("sécurité", "sécurité", "body")],
        feed="lemonde",
    ),
    Case("fields filter", "title-only", "La sécurité.", None, title="Un titre"),
    Case(
        "fields filter reads the title",
        "title-only",
        "Rien.",
        [("sécurité", "Sécurité", "title")],
        title="Sécurité renforcée",
    ),
    Case(
        "near 3 words",
        "near-3",
        "Le Maroc et la sécurité.",
        [("Maroc", "Maroc", "body"), ("sécurité", "sécurité", "body")],
    ),
    Case("near 3 words, too far", "near-3", "Le Maroc renforce nettement toute sa sécurité.", None),
    Case("none-only rule matches an article without the term", "no-football", "La pluie.", []),
    Case("none-only rule rejects an article with the term", "no-football", "Le football.", None),
    Case(
        "nested none is checked in the sentence",
        "nested-none",
        "Le football reprend. Le Maroc vote.",
        [("Maroc", "Maroc", "body")],
    ),
    Case("nested none in the same sentence", "nested-none", "Le Maroc aime le football.", None),
]


@pytest.fixture(scope="module")
def annotator():
    return shared_annotator()


@pytest.fixture(scope="module")
def test_rules(tmp_path_factory):
    return load_rule_texts(tmp_path_factory.mktemp("rules"), ACTORS, RULES)


def make_article(body, *, title="", language="fr", feed="seed-fr", key="a1"):
    return body_article(body, title=title, language=language, feed_id=feed, key=key)


def run(annotator, rules, article):
    notes = annotator.annotate([article], with_entities=True)[0]
    return evaluate(article, notes, compile_rules(rules))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_match_table(annotator, test_rules, case):
    rule = test_rules.rule(case.rule)
    assert rule is not None
    one_rule = RuleSet(rules=(rule,), actors=test_rules.actors)
    article = make_article(case.body, title=case.title, language=case.language, feed=case.feed)
    matches = run(annotator, one_rule, article)
    if case.hits is None:
        assert matches == []
        return
    assert [match.rule_id for match in matches] == [case.rule]
    assert [(hit.wanted, hit.matched, hit.field) for hit in matches[0].hits] == case.hits


def test_all_rules_at_once_agree_with_one_at_a_time(annotator, test_rules):
    article = make_article("La sécurité des JO 2024 et la DGSN / DGST d'Hammouchi au Maroc.")
    together = {match.rule_id for match in run(annotator, test_rules, article)}
    alone = {
        rule.id
        for rule in test_rules.rules
        if run(annotator, RuleSet(rules=(rule,), actors=test_rules.actors), article)
    }
    assert together == alone
    assert {"securite", "jo2024", "dgsn", "hammouchi", "jo-security", "no-football"} <= together


def test_hit_offsets_and_snippet(annotator, test_rules):
    body = "Premier paragraphe. La visite d'Hammouchi à Paris a duré deux jours."
    article = make_article(body)
    (match,) = run(annotator, RuleSet((test_rules.rule("hammouchi"),), test_rules.actors), article)
    (hit,) = match.hits
    assert body[hit.start : hit.end] == "Hammouchi"
    assert hit.actor_id == "hammouchi"
    assert hit.snippet == "La visite d'Hammouchi à Paris a duré deux jours."
    assert match.score == 1.0
    assert match.article_key == "a1"
    assert match.rule_name == "hammouchi rule"


def test_long_sentence_snippet_is_trimmed_around_the_hit(annotator, test_rules):
    filler = " ".join(["mot"] * 150)
    body = f"{filler} la sécurité {filler}."
    (match,) = run(annotator, RuleSet((test_rules.rule("securite"),)), make_article(body))
    snippet = match.hits[0].snippet
    assert "sécurité" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= 302


def test_hits_per_wanted_item_are_capped(annotator, test_rules):
    body = " ".join(["La sécurité."] * 12)
    (match,) = run(annotator, RuleSet((test_rules.rule("securite"),)), make_article(body))
    assert len(match.hits) == 5
    assert match.score == 1.0


def test_matches_sorted_by_priority_then_score():
    def rule(rule_id, priority, terms):
        items = tuple(Term(term) for term in terms)
        return Rule(
            id=rule_id,
            name=rule_id,
            clause=Clause("all", (Clause("any", items),)),
            priority=priority,
        )

    rules = RuleSet(
        rules=(
            rule("low", Priority.LOW, ["maroc", "france"]),
            rule("normal-1", Priority.NORMAL, ["maroc"]),
            rule("normal-2", Priority.NORMAL, ["maroc", "france"]),
            rule("high", Priority.HIGH, ["maroc"]),
        )
    )
    # match is pure: annotations built by hand need no spaCy
    text = "Maroc France"
    tokens = (
        Token("Maroc", 0, 5, 0, "maroc", "maroc"),
        Token("France", 6, 12, 0, "france", "france"),
    )
    notes = Annotations("a1", "fr", (AnnotatedField("body", text, tokens, ((0, 12),)),))
    matches = evaluate(make_article(text), notes, compile_rules(rules))
    assert [(m.rule_id, m.score) for m in matches] == [
        ("high", 1.0),
        ("normal-2", 2.0),
        ("normal-1", 1.0),
        ("low", 2.0),
    ]


def test_many_rules_only_the_right_ones_match(annotator):
    rules = tuple(
        Rule(
            id=f"r{index}",
            name=f"r{index}",
            clause=Clause("all", (Clause("any", (Term(f"mot{index} clef"),)),)),
        )
        for index in range(5000)
    )
    article = make_article("Le mot42 clef et le mot4999 clef, pas mot7.")
    matches = run(annotator, RuleSet(rules=rules), article)
    assert sorted(match.rule_id for match in matches) == ["r42", "r4999"]


def test_seed_article_matches_both_shipped_rules(annotator):
    lines = SEED.read_text(encoding="utf-8").strip().split("\n")
    article = make_article("\n".join(lines[1:]), title=lines[0], key="seed")
    matches = run(annotator, load_rules(SHIPPED), article)
    assert [match.rule_id for match in matches] == ["jo2024-security", "morocco-france-security"]
    jo, morocco = matches
    jo_hits = {(hit.wanted, hit.matched, hit.field) for hit in jo.hits}
    assert ("JO 2024", "JO 2024", "body") in jo_hits
    assert ("sécurité", "Sécurité", "body") in jo_hits
    assert ("Jeux olympiques", "Jeux Olympiques", "body") in jo_hits
    jo_snippets = {hit.snippet for hit in jo.hits}
    assert any("Sécurité des JO 2024 : le Maroc apportera son expertise" in s for s in jo_snippets)
    assert any("la sécurité des Jeux Olympiques (JO)" in s for s in jo_snippets)
    actors = {hit.actor_id for hit in morocco.hits if hit.actor_id}
    assert actors == {"hammouchi", "dgsn-dgst", "lerner", "veaux"}
    assert ("DGSN-DGST", "DGSN-DGST", "body") in {
        (h.wanted, h.matched, h.field) for h in morocco.hits
    }
    assert jo.priority is Priority.HIGH


def test_hand_built_rules_with_nothing_to_find_never_match(annotator):
    rules = RuleSet(
        rules=(
            Rule(id="no-words", name="n", clause=Clause("all", (Clause("any", (Term("--"),)),))),
            Rule(
                id="ghost-actor",
                name="g",
                clause=Clause("all", (Clause("any", (ActorRef("nobody"),)),)),
            ),
            Rule(
                id="french",
                name="f",
                clause=Clause("all", (Clause("any", (Term("Maroc"),)),)),
                languages=("fr-FR",),
            ),
        )
    )
    article = make_article("Le Maroc -- nobody.", language=None)
    assert [match.rule_id for match in run(annotator, rules, article)] == ["french"]


def word_notes(text: str, *, key: str = "a1", has_entities: bool = False) -> Annotations:
    """Hand-built annotations, one token per space-separated word, one sentence."""
    tokens, position = [], 0
    for word in text.split(" "):
        folded = word.lower()
        tokens.append(Token(word, position, position + len(word), 0, folded, folded))
        position += len(word) + 1
    field = AnnotatedField("body", text, tuple(tokens), ((0, len(text)),))
    return Annotations(key, "fr", (field,), has_entities=has_entities)


def one_rule(rule_id, *items, **options):
    return Rule(id=rule_id, name=rule_id, clause=Clause("all", items), **options)


def test_a_rule_is_woken_only_by_its_rarest_required_part():
    common = Clause("any", (Term("maroc"),))
    rare = Clause("any", (Term("cellule terroriste"),))
    compiled = compile_rules(RuleSet(rules=(one_rule("r", common, rare),)))
    assert compiled.anchor("r").groups[0] == compiled.plan("r").leaves[1].pattern_ids
    assert compiled.candidates(compiled.index.find(word_notes("maroc maroc maroc"))) == []
    # The other required part is checked too (a pair key): the rare part alone cannot hold.
    assert compiled.candidates(compiled.index.find(word_notes("une cellule terroriste"))) == []
    found = compiled.index.find(word_notes("une cellule terroriste au maroc"))
    assert [plan.rule.id for plan in compiled.candidates(found)] == ["r"]


def test_hits_say_where_the_rule_asks_which_alias_and_weight(annotator, test_rules):
    article = make_article("La DGSN / DGST confirme.")
    (match,) = run(annotator, RuleSet((test_rules.rule("dgsn"),), test_rules.actors), article)
    (hit,) = match.hits
    assert (hit.clause, hit.alias, hit.weight) == ("match.actors.any", "DGSN-DGST", 1.0)
    rule = one_rule("w", Clause("any", (Term("maroc", weight=2.5),), key="match.any"))
    (match,) = evaluate(make_article("maroc"), word_notes("maroc"), compile_rules(RuleSet((rule,))))
    assert (match.score, match.hits[0].weight, match.hits[0].clause) == (2.5, 2.5, "match.any")


def test_compiled_rules_say_whether_entities_are_needed(test_rules):
    assert not compile_rules(test_rules).needs_entities
    assert compile_rules(load_rules(SHIPPED)).needs_entities


def test_without_an_entity_recognizer_a_capital_letter_stands_in():
    from monitor.model import Actor

    actor = Actor("lerner", "Nicolas Lerner", "person", ("Lerner",), require_entity=True)
    rule = one_rule("r", Clause("any", (ActorRef("lerner"),)))
    compiled = compile_rules(RuleSet((rule,), (actor,)))
    article = make_article("x")
    assert evaluate(article, word_notes("M. Lerner parle"), compiled)
    assert not evaluate(article, word_notes("le lerner parle"), compiled)
    # Where NER did run and found nothing, the capital is not enough.
    assert not evaluate(article, word_notes("M. Lerner parle", has_entities=True), compiled)


def verdict_for(annotator, rules, body, rule_id, **article):
    article = make_article(body, **article)
    notes = annotator.annotate([article], with_entities=True)[0]
    return evaluate_rule(article, notes, compile_rules(rules), rule_id)


def test_verdict_says_why_a_rule_did_not_match(annotator, test_rules):
    verdict = verdict_for(
        annotator, test_rules, "Les JO 2024 approchent. La sécurité inquiète.", "jo-security"
    )
    assert not verdict.is_match
    assert verdict.reasons == (
        "found 'JO 2024' but not any of 'sécurité', 'security' (match.all[1].any)"
        " in the same sentence (near: sentence)",
    )
    assert [(hit.wanted, hit.matched) for hit in verdict.hits] == [
        ("JO 2024", "JO 2024"),
        ("sécurité", "sécurité"),
    ]
    assert verdict.score == 2.0

    verdict = verdict_for(
        annotator, test_rules, "La sécurité des JO 2024. Billetterie.", "jo-security"
    )
    assert verdict.reasons == ("excluded: 'billetterie' found in body (match.none)",)
    assert [hit.matched for hit in verdict.excluded_by] == ["Billetterie"]

    verdict = verdict_for(annotator, test_rules, "La sécurité.", "jo-security", language="de")
    assert verdict.reasons[0] == "language 'de' is not one of en, fr"
    assert verdict.reasons[1].startswith(
        "found 'sécurité' but not any of 'JO 2024', 'Jeux olympiques'"
    )

    verdict = verdict_for(annotator, test_rules, "La sécurité.", "french-feed")
    assert verdict.reasons == ("feed 'seed-fr' is not in sources: lemonde",)


def test_verdict_of_a_match_carries_it(annotator, test_rules):
    verdict = verdict_for(annotator, test_rules, "La sécurité.", "securite")
    assert verdict.is_match
    assert verdict.reasons == ()
    assert verdict.hits == verdict.matches[0].hits


def test_verdict_explains_scores_and_entities(annotator):
    from monitor.model import Actor

    lerner = Actor("lerner", "Nicolas Lerner", "person", ("Lerner",), require_entity=True)
    rules = RuleSet(
        (
            one_rule(
                "score", Clause("any", (Term("explosion", weight=2), Term("police"))), min_score=3
            ),
            one_rule("entity", Clause("any", (ActorRef("lerner"),))),
        ),
        (lerner,),
    )
    verdict = verdict_for(annotator, rules, "Une explosion.", "score")
    assert verdict.reasons == ("score 2 is below min_score 3",)
    verdict = verdict_for(annotator, rules, "Le lerner est un outil.", "entity")
    assert verdict.reasons[0] == "'lerner' found but not tagged as PER/PERSON (require_entity)"


def test_verdict_for_an_unknown_rule(test_rules):
    compiled = compile_rules(test_rules)
    with pytest.raises(RuleError, match="rule 'nope': unknown rule"):
        evaluate_rule(make_article("x"), word_notes("x"), compiled, "nope")


def test_similarity_and_bounded_edit_distance():
    from monitor.match.fuzzy import edit_distance, similarity

    assert similarity("", "") == 1.0
    assert round(similarity("hammouchi", "hamouchi"), 3) == 0.889
    assert edit_distance("kitten", "sitting", 5) == 3
    assert edit_distance("a", "abcdef", 2) == 3  # lengths alone exceed the limit
    assert edit_distance("abcdef", "uvwxyz", 1) == 2  # gives up once past the limit


def test_fuzzy_vocabulary_keeps_the_loosest_threshold_and_bounds_its_cache(monkeypatch):
    from monitor.match import fuzzy

    vocabulary = fuzzy.FuzzyVocabulary()
    vocabulary.add("hammouchi", 0.95)
    assert vocabulary.similar("hamouchi") == {}
    vocabulary.add("hammouchi", 0.85)  # a second actor, more forgiving: it wins
    assert set(vocabulary.similar("hamouchi")) == {"hammouchi"}
    vocabulary.add("abc", 0.5)  # too short to be fuzzy
    assert vocabulary.similar("abd") == {}
    monkeypatch.setattr(fuzzy, "_CACHE_LIMIT", 2)
    for word in ("hamouchi", "hammouchy", "hammouch"):
        assert vocabulary.similar(word)


def test_a_lemma_of_several_words_is_not_used():
    from monitor.text import field_words

    tokens = (Token("au", 0, 2, 0, "au", "a le"), Token("Maroc", 3, 8, 0, "maroc", "maroc"))
    words = field_words(AnnotatedField("body", "au Maroc", tokens, ((0, 8),)))
    assert [(word.folded, word.lemma, word.forms) for word in words] == [
        ("au", "au", ("au",)),
        ("maroc", "maroc", ("maroc",)),
    ]


def test_none_inside_any_or_alone_under_near_needs_no_pattern():
    rules = RuleSet(
        (
            one_rule(
                "any-or-absent", Clause("any", (Term("maroc"), Clause("none", (Term("foot"),))))
            ),
            one_rule(
                "only-absent", Clause("all", (Clause("none", (Term("foot"),)),)), near="sentence"
            ),
        )
    )
    compiled = compile_rules(rules)
    matches = evaluate(make_article("pluie"), word_notes("la pluie"), compiled)
    assert [(match.rule_id, match.hits) for match in matches] == [
        ("any-or-absent", ()),
        ("only-absent", ()),
    ]
    assert evaluate(make_article("foot"), word_notes("le foot"), compiled) == []
