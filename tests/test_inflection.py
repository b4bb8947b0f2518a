"""Inflection both ways: a rule term finds its inflected forms in French and English, through the
real compile and evaluate path with the real annotator; exact terms are never inflected."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from monitor.match import lexicon
from monitor.match.evaluate import compile_rules, evaluate
from monitor.match.patterns import MAX_VARIANTS, PatternIndex
from monitor.model import AnnotatedField, Annotations, Article, Clause, Rule, RuleSet, Term, Token
from tests.articles import body_article
from tests.fixtures_nlp import shared_annotator

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def annotator():
    return shared_annotator()


@dataclass(frozen=True)
class Case:
    term: str
    text: str
    matched: str | None  # the words found; None: no match
    language: str = "fr"
    languages: tuple[str, ...] = ()  # the rule's `languages:`
    is_exact: bool = False


CASES = [
    # The examples: fr_core_news_sm lemmatizes these to 'interpell', 'démantèl', and
    # keeps 'policière' apart from 'policier'.
    Case("interpeller", "Une patrouille interpelle un suspect.", "interpelle"),
    Case("démanteler", "La police démantèle un réseau.", "démantèle"),
    Case("policier", "Une policière a été blessée.", "policière"),
    # French verbs
    Case("interpeller", "Les gendarmes interpellaient les passants.", "interpellaient"),
    Case("démanteler", "Les enquêteurs démantèlent une filière.", "démantèlent"),
    Case("arrêter", "Ils arrêtèrent le chauffeur.", "arrêtèrent"),
    Case("blesser", "Le suspect blessa un gendarme.", "blessa"),
    Case("tuer", "Une explosion tua trois ouvriers.", "tua"),
    Case("espionner", "Le service espionnait des opposants.", "espionnait"),
    # feminine and plural forms
    Case("policier", "Deux policières patrouillent.", "policières"),
    Case("policière", "Trois policiers patrouillent.", "policiers"),
    Case("manifestant", "Une manifestante a été interrogée.", "manifestante"),
    Case("mort", "Les victimes mortes hier.", "mortes"),
    Case("cheval", "Des chevaux de la garde.", "chevaux"),
    Case("journal", "Les journaux du matin.", "journaux"),
    Case("interpellé", "Deux femmes interpellées samedi.", "interpellées"),
    Case("Jeux olympiques", "Le jeu olympique le plus suivi.", "jeu olympique"),
    # an inflected form stands for its own paradigm cell, not for the verb it may come from
    Case("force", "Il forçait la porte.", None),
    Case("force", "Les forces de sécurité.", "forces"),
    # English, where a blank pipeline has lookup lemmas and English rules their forms
    Case("attack", "Two attacks overnight.", "attacks", "en", ("en",)),
    Case("attack", "The station was attacked.", "attacked", "en", ("en",)),
    Case("attack", "Gunmen attacking a convoy.", "attacking", "en", ("en",)),
    Case("policeman", "Two policemen were hurt.", "policemen", "en", ("en",)),
    Case("kill", "Three people killed in a blast.", "killed", "en", ("en",)),
    Case("arrest", "Police arrested two men.", "arrested", "en", ("en",)),
    Case("child", "Children were evacuated.", "Children", "en", ("en",)),
    Case("attacks", "An attack on the embassy.", "attack", "en", ("en", "fr")),
    # exact terms compare the characters as written
    Case("policier", "Une policière et des policiers.", None, is_exact=True),
    Case("attack", "Two attacks overnight.", None, "en", ("en",), is_exact=True),
    Case("policier", "Un policier.", "policier", is_exact=True),
]


def article(text: str, language: str) -> Article:
    return body_article(text, language=language, feed_id="wire")


def matched_words(annotator, term: Term, text: str, language: str, languages=()) -> list[str]:
    rule = Rule(id="r", name="r", clause=Clause("all", (term,)), languages=languages)
    compiled = compile_rules(RuleSet(rules=(rule,)))
    item = article(text, language)
    (notes,) = annotator.annotate([item], with_entities=False)
    return [hit.matched for match in evaluate(item, notes, compiled) for hit in match.hits]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.term}-{c.text}")
def test_a_term_finds_its_inflected_forms(annotator, case):
    term = Term(case.term, is_exact=case.is_exact)
    found = matched_words(annotator, term, case.text, case.language, case.languages)
    assert found == ([] if case.matched is None else [case.matched])


def test_an_english_article_gets_english_lemmas_whatever_the_rule_languages(annotator):
    # A rule without `languages` is expanded with French forms only: "policemen" is found
    # through the lemma the English pipeline gives it.
    assert matched_words(annotator, Term("policeman"), "Two policemen.", "en") == ["policemen"]
    (notes,) = annotator.annotate([article("The attacks went on.", "en")], with_entities=False)
    lemmas = [token.lemma for field in notes.fields for token in field.tokens]
    assert lemmas == ["the", "attack", "go", "on", "."]


def test_a_french_rule_is_not_expanded_with_english_forms(annotator):
    # "policing" is an English form of "police": a French-only rule must not stand for it.
    found = matched_words(annotator, Term("police"), "Le policing.", "fr", ("fr",))
    assert found == []
    found = matched_words(annotator, Term("police"), "Le policing.", "fr", ("fr", "en"))
    assert found == ["policing"]


def test_short_words_and_auxiliaries_stand_for_themselves():
    assert lexicon.inflections("des", "fr") == ("des",)  # not "un", "une"
    assert lexicon.inflections("avoir", "fr") == ("avoir",)  # not "a", "ont"
    assert lexicon.inflections("sont", "fr") == ("sont",)  # a form of "être", itself only
    assert lexicon.inflections("maroc", "fr") == ("maroc",)
    assert lexicon.inflections("attack", "ar") == ("attack",)  # no table: the word itself


def test_a_phrase_stops_expanding_past_the_variant_cap():
    # Three verbs of ~38 forms each: the first is expanded, the later ones would pass the cap.
    index = PatternIndex()
    phrase = "interpeller arrêter tuer"
    pattern_id = index.add(phrase, inflect=("fr",))
    assert len(lexicon.inflections("interpeller", "fr")) * 38 > MAX_VARIANTS

    def found(text: str) -> bool:
        tokens, position = [], 0
        for word in text.split():
            tokens.append(Token(word, position, position + len(word), 0, word, word))
            position += len(word) + 1
        field = AnnotatedField("body", text, tuple(tokens), ((0, len(text)),))
        return pattern_id in index.find(Annotations("a", "fr", (field,)))

    assert found("interpellait arreter tuer")
    assert not found("interpeller arretait tuer")
    assert found(phrase.replace("ê", "e"))


def test_a_plural_with_another_meaning_is_excluded_by_naming_it(annotator):
    # "securities" is the plural of "security" in the table, but means bonds: `none` names it,
    # and, not being a lemma, it stands for itself only, so "security" still counts.
    rule = Rule(
        id="r",
        name="r",
        clause=Clause("all", (Term("security"), Clause("none", (Term("securities"),)))),
        languages=("en",),
    )
    compiled = compile_rules(RuleSet(rules=(rule,)))
    for text, is_match in [("Government securities fell.", False), ("Security first.", True)]:
        item = article(text, "en")
        (notes,) = annotator.annotate([item], with_entities=False)
        assert bool(evaluate(item, notes, compiled)) is is_match, text
