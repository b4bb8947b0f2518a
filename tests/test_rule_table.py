"""The rule language, table-driven: a rule as a user writes it, a text, the verdict and the hits.

Every feature of docs/rules.md in French and English, with the traps: the Olympique de
Marseille is not the Olympics, "jo" in running text is not "JO", "sécuritaire" is not
"sécurité", proximity stops at a sentence boundary, an actor named only by surname, an alias
in Arabic script. Texts go through the real French model (blank pipelines for the others).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from monitor.match import compile_rules, evaluate, evaluate_rule
from monitor.model import Article, RuleSet
from tests.fixtures_nlp import load_rule_texts, shared_annotator

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)

ACTORS = """\
actors:
  - id: hammouchi
    name: Abdellatif Hammouchi
    type: person
    aliases: [Hammouchi, Abdelatif Hammouchi, عبد اللطيف الحموشي]
    fuzzy: 0.85
  - id: hammouchi-exact
    name: Abdellatif Hammouchi
    type: person
    aliases: [Hammouchi]
  - id: dgsn-dgst
    name: DGSN-DGST
    type: org
    aliases: [DGSN-DGST, DGSN, DGST]
  - id: lerner
    name: Nicolas Lerner
    type: person
    aliases: [Lerner]
    require_entity: true
  - id: lerner-loose
    name: Nicolas Lerner
    type: person
    aliases: [Lerner]
  - id: veaux
    name: Frédéric Veaux
    type: person
  - id: rabat
    name: Rabat
    type: place
    require_entity: true
"""

# One rule per file, as a user writes them; `id` and `name` are added from the key.
RULES = {
    "securite": "match: {any: [sécurité]}",
    "securite-and-derived": "match: {any: [sécurité, sécuritaire]}",
    "renseignement": "match: {any: [renseignement]}",
    "jeux": "match: {any: [Jeux olympiques]}",
    "olympics": "match: {any: [Jeux olympiques, JO 2024, Olympic Games, Olympics]}",
    "exact-jo": "match: {any: [{exact: JO}]}",
    "folded-jo": "match: {any: [JO]}",
    "jo2024": "match: {any: [JO 2024]}",
    "paris2024": "match: {any: [Paris 2024]}",
    "om": "match: {any: [l'Olympique de Marseille]}",
    "counter": "match: {any: [counter-terrorism]}",
    "security-en": "languages: [en]\nmatch: {any: [security]}",
    "dgsn": "match: {actors: [dgsn-dgst]}",
    "dgsn-entity": "match: {any: [{actor: dgsn-dgst, require_entity: true}]}",
    "hammouchi": "match: {actors: {any: [hammouchi]}}",
    "hammouchi-exact": "match: {actors: [hammouchi-exact]}",
    "lerner": "match: {actors: [lerner]}",
    "lerner-loose": "match: {actors: [lerner-loose]}",
    "lerner-override": "match: {any: [{actor: lerner, require_entity: false}]}",
    "veaux": "match: {actors: [veaux]}",
    "rabat": "match: {actors: [rabat]}",
    "jo-security": """
languages: [fr, en]
match:
  all:
    - any: [JO 2024, Jeux olympiques, Olympics]
    - any: [sécurité, security]
  none: [billetterie, ticketing]
  near: sentence
""",
    "near-5": "match:\n  all: [Maroc, sécurité]\n  near: 5\n",
    "weighted": """
min_score: 3
match:
  any:
    - {term: attentat, weight: 3}
    - {term: explosion, weight: 2}
    - police
""",
    "title-scope": """
match:
  all:
    - any: [attentat]
      fields: [title]
    - Paris
""",
    "title-only": "fields: [title]\nmatch: {any: [sécurité]}",
    "summary-term": "match: {any: [{term: grève, fields: [summary]}]}",
    "from-lemonde": "sources: [lemonde]\nmatch: {any: [sécurité]}",
    "from-tag": "sources: [maroc]\nmatch: {any: [sécurité]}",
    "nested": """
match:
  all:
    - Maroc
    - any:
        - all: [police, enquête]
        - attentat
""",
    "nested-none": "match:\n  all:\n    - Maroc\n    - none: [football]\n  near: sentence\n",
    "none-only": "match: {none: [football]}",
    "actors-all": "match: {actors: {all: [hammouchi, lerner-loose]}}",
    "actors-none": "match:\n  any: [Maroc]\n  actors: {none: [dgsn-dgst]}\n",
    "exact-weight": "min_score: 2\nmatch: {any: [{exact: DGSI, weight: 2}, DGSE]}",
    "priority-high": "priority: high\nmatch: {any: [Maroc]}",
}


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    body: str
    hits: list[tuple[str, str, str]] | None  # (wanted, matched, field); None: no match
    language: str = "fr"
    title: str = ""
    summary: str = ""
    feed: str = "seed-fr"
    feed_tags: tuple[str, ...] = ()
    score: float | None = None


C = Case
CASES = [
    # --- case, accents, inflections -----------------------------------------------------
    C("term", "securite", "La sécurité d'abord.", [("sécurité", "sécurité", "body")]),
    C("plural by lemma", "securite", "Les sécurités.", [("sécurité", "sécurités", "body")]),
    C("capitals", "securite", "LA SÉCURITÉ.", [("sécurité", "SÉCURITÉ", "body")]),
    C("no accents", "securite", "La securite.", [("sécurité", "securite", "body")]),
    C(
        "plural noun",
        "renseignement",
        "Les renseignements.",
        [("renseignement", "renseignements", "body")],
    ),
    C("trap: sécuritaire is not sécurité", "securite", "Le volet sécuritaire avance.", None),
    C(
        "sécuritaire when listed",
        "securite-and-derived",
        "Le volet sécuritaire avance.",
        [("sécuritaire", "sécuritaire", "body")],
    ),
    C(
        "phrase capitalised",
        "jeux",
        "Les Jeux Olympiques.",
        [("Jeux olympiques", "Jeux Olympiques", "body")],
    ),
    C(
        "phrase lower case",
        "jeux",
        "Les jeux olympiques.",
        [("Jeux olympiques", "jeux olympiques", "body")],
    ),
    C("trap: OM is not the Olympics", "olympics", "L'Olympique de Marseille a battu Lyon.", None),
    C(
        "trap: OM beside the real Games",
        "olympics",
        "Le stade de l'Olympique de Marseille accueillera les Jeux olympiques.",
        [("Jeux olympiques", "Jeux olympiques", "body")],
    ),
    C(
        "elided phrase",
        "om",
        "Le match de l’Olympique de Marseille.",
        [("l'Olympique de Marseille", "Olympique de Marseille", "body")],
    ),
    # --- exact terms ----------------------------------------------------------------------
    C("exact JO", "exact-jo", "Les JO de Paris.", [("JO", "JO", "body")]),
    C("trap: jo in running text", "exact-jo", "Il a dit jo en passant, puis Jo et jO.", None),
    C("a folded JO does find jo", "folded-jo", "Il a dit jo en passant.", [("JO", "jo", "body")]),
    C("exact inside JO-2024", "exact-jo", "Les JO-2024 approchent.", [("JO", "JO", "body")]),
    C(
        "exact weight reaches min_score",
        "exact-weight",
        "La DGSI enquête.",
        [("DGSI", "DGSI", "body")],
        score=2.0,
    ),
    C("exact weight: lower case misses", "exact-weight", "La dgsi et la DGSE.", None),
    # --- hyphen, space, slash ------------------------------------------------------------
    C("JO 2024", "jo2024", "Les JO 2024 approchent.", [("JO 2024", "JO 2024", "body")]),
    C("JO-2024", "jo2024", "Les JO-2024 approchent.", [("JO 2024", "JO-2024", "body")]),
    C("JO / 2024", "jo2024", "Les JO / 2024 approchent.", [("JO 2024", "JO / 2024", "body")]),
    C("not across a comma", "paris2024", "Il vit à Paris, 2024 sera dur.", None),
    C("DGSN-DGST", "dgsn", "La DGSN-DGST a parlé.", [("DGSN-DGST", "DGSN-DGST", "body")]),
    C("DGSN / DGST", "dgsn", "La DGSN / DGST a parlé.", [("DGSN-DGST", "DGSN / DGST", "body")]),
    C("DGSN DGST", "dgsn", "La DGSN DGST a parlé.", [("DGSN-DGST", "DGSN DGST", "body")]),
    C("dgsn_dgst", "dgsn", "Le dossier dgsn_dgst.", [("DGSN-DGST", "dgsn_dgst", "body")]),
    C(
        "hyphenated English term",
        "counter",
        "New counter terrorism units.",
        [("counter-terrorism", "counter terrorism", "body")],
        language="en",
    ),
    # --- actors ---------------------------------------------------------------------------
    C(
        "elision d'",
        "hammouchi",
        "La visite d'Hammouchi.",
        [("Abdellatif Hammouchi", "Hammouchi", "body")],
    ),
    C(
        "typographic elision",
        "hammouchi",
        "L’entourage d’Hammouchi confirme.",
        [("Abdellatif Hammouchi", "Hammouchi", "body")],
    ),
    C(
        "full name is one hit",
        "hammouchi",
        "Abdellatif Hammouchi était à Rabat.",
        [("Abdellatif Hammouchi", "Abdellatif Hammouchi", "body")],
    ),
    C(
        "surname only, declared as an alias",
        "hammouchi",
        "M. Hammouchi a déclaré que tout allait bien.",
        [("Abdellatif Hammouchi", "Hammouchi", "body")],
    ),
    C(
        "trap: surname only, not declared",
        "veaux",
        "M. Veaux a déclaré que tout allait bien.",
        None,
    ),
    C("trap: the common noun veaux", "veaux", "Les premiers veaux importés de France.", None),
    C(
        "display name without aliases",
        "veaux",
        "Frederic VEAUX était là.",
        [("Frédéric Veaux", "Frederic VEAUX", "body")],
    ),
    C(
        "Arabic script alias",
        "hammouchi",
        "استقبل عبد اللطيف الحموشي الوفد.",
        [("Abdellatif Hammouchi", "عبد اللطيف الحموشي", "body")],
        language="ar",
    ),
    C(
        "Arabic script with harakat",
        "hammouchi",
        "استقبل عَبْد اللطيف الحموشي الوفد.",
        [("Abdellatif Hammouchi", "عَبْد اللطيف الحموشي", "body")],
        language="ar",
    ),
    C(
        "fuzzy: a misspelt surname",
        "hammouchi",
        "Le patron Hamouchi était présent.",
        [("Abdellatif Hammouchi", "Hamouchi", "body")],
    ),
    C(
        "fuzzy: a misspelt full name",
        "hammouchi",
        "Abdelatif Hamouchi était présent.",
        [("Abdellatif Hammouchi", "Abdelatif Hamouchi", "body")],
    ),
    C("fuzzy is opt-in", "hammouchi-exact", "Le patron Hamouchi était présent.", None),
    C("fuzzy has a threshold", "hammouchi", "Le patron Hammadi était présent.", None),
    C(
        "entity required: tagged PER",
        "lerner",
        "M. Lerner a déclaré que la coopération continue.",
        [("Nicolas Lerner", "Lerner", "body")],
    ),
    C("trap: entity required, a common noun", "lerner", "Le lerner est un outil.", None),
    C(
        "no entity required",
        "lerner-loose",
        "Le lerner est un outil.",
        [("Nicolas Lerner", "lerner", "body")],
    ),
    C(
        "a rule turns the requirement off",
        "lerner-override",
        "Le lerner est un outil.",
        [("Nicolas Lerner", "lerner", "body")],
    ),
    C(
        "no entity model: a capitalised name counts",
        "lerner",
        "Director Lerner met his counterpart.",
        [("Nicolas Lerner", "Lerner", "body")],
        language="en",
    ),
    C(
        "no entity model: lower case does not",
        "lerner",
        "The lerner app is popular.",
        None,
        language="en",
    ),
    C(
        "org tagged MISC counts as an org",
        "dgsn-entity",
        "Le patron de la DGSN-DGST a parlé.",
        [("DGSN-DGST", "DGSN-DGST", "body")],
    ),
    C("place tagged LOC", "rabat", "Rabat accueille le sommet.", [("Rabat", "Rabat", "body")]),
    C("trap: rabat the flap", "rabat", "Le rabat de l'enveloppe est collé.", None),
    C(
        "actors: all",
        "actors-all",
        "Hammouchi a reçu Nicolas Lerner.",
        [
            ("Abdellatif Hammouchi", "Hammouchi", "body"),
            ("Nicolas Lerner", "Nicolas Lerner", "body"),
        ],
    ),
    C("actors: all, one missing", "actors-all", "Hammouchi a reçu le ministre.", None),
    C("actors: none", "actors-none", "Le Maroc vote.", [("Maroc", "Maroc", "body")]),
    C("actors: none excludes", "actors-none", "Le Maroc et la DGST.", None),
    # --- proximity ------------------------------------------------------------------------
    C(
        "same sentence",
        "jo-security",
        "La sécurité des JO 2024 inquiète. Rien d'autre.",
        [("JO 2024", "JO 2024", "body"), ("sécurité", "sécurité", "body")],
    ),
    C(
        "trap: across a sentence boundary",
        "jo-security",
        "Les JO 2024 approchent. La sécurité du métro inquiète.",
        None,
    ),
    C(
        "English, same sentence",
        "jo-security",
        "Olympics security was tightened in Paris.",
        [("Olympics", "Olympics", "body"), ("security", "security", "body")],
        language="en",
    ),
    C(
        "English, across a sentence boundary",
        "jo-security",
        "The Olympics open soon. Security is tight.",
        None,
        language="en",
    ),
    C(
        "none anywhere in the article",
        "jo-security",
        "La sécurité des JO 2024 inquiète. La billetterie ouvre demain.",
        None,
    ),
    C(
        "within 5 words",
        "near-5",
        "Le Maroc et la sécurité.",
        [("Maroc", "Maroc", "body"), ("sécurité", "sécurité", "body")],
    ),
    C(
        "beyond 5 words",
        "near-5",
        "Le Maroc renforce nettement et durablement toute sa sécurité.",
        None,
    ),
    # --- weights and scores -----------------------------------------------------------------
    C(
        "heavy term alone",
        "weighted",
        "Un attentat a eu lieu.",
        [("attentat", "attentat", "body")],
        score=3.0,
    ),
    C("below min_score", "weighted", "Une explosion a eu lieu.", None),
    C(
        "weights add up",
        "weighted",
        "Une explosion, la police sur place.",
        [("explosion", "explosion", "body"), ("police", "police", "body")],
        score=3.0,
    ),
    # --- more English -------------------------------------------------------------------------
    C(
        "English phrase",
        "olympics",
        "Security at the Olympic Games.",
        [("Olympic Games", "Olympic Games", "body")],
        language="en",
    ),
    C(
        "English phrase in lower case",
        "olympics",
        "Security at the olympic games.",
        [("Olympic Games", "olympic games", "body")],
        language="en",
    ),
    C(
        "English Paris 2024",
        "paris2024",
        "Paris 2024 organisers met.",
        [("Paris 2024", "Paris 2024", "body")],
        language="en",
    ),
    C("trap: Jo the first name", "exact-jo", "Jo Smith said so.", None, language="en"),
    C(
        "Arabic alias in an English article",
        "hammouchi",
        "Officials quoted عبد اللطيف الحموشي directly.",
        [("Abdellatif Hammouchi", "عبد اللطيف الحموشي", "body")],
        language="en",
    ),
    C(
        "elision in a blank pipeline",
        "hammouchi",
        "The d'Hammouchi visit.",
        [("Abdellatif Hammouchi", "Hammouchi", "body")],
        language="en",
    ),
    C(
        "English none",
        "jo-security",
        "Olympics security was tightened. Ticketing opens today.",
        None,
        language="en",
    ),
    # --- fields, languages, sources ---------------------------------------------------------
    C(
        "clause scoped to the title",
        "title-scope",
        "La police est à Paris.",
        [("attentat", "attentat", "title"), ("Paris", "Paris", "body")],
        title="Un attentat déjoué",
    ),
    C(
        "clause scope excludes the body",
        "title-scope",
        "Un attentat à Paris.",
        None,
        title="Faits divers",
    ),
    C("rule fields: title only", "title-only", "La sécurité.", None, title="Un titre"),
    C(
        "rule fields: the title",
        "title-only",
        "Rien.",
        [("sécurité", "Sécurité", "title")],
        title="Sécurité renforcée",
    ),
    C(
        "term scoped to the summary",
        "summary-term",
        "Rien de neuf.",
        [("grève", "grève", "summary")],
        summary="Une grève générale.",
    ),
    C("sources: another feed", "from-lemonde", "La sécurité.", None),
    C(
        "sources: the feed id",
        "from-lemonde",
        "La sécurité.",
        [("sécurité", "sécurité", "body")],
        feed="lemonde",
    ),
    C(
        "sources: a feed tag",
        "from-tag",
        "La sécurité.",
        [("sécurité", "sécurité", "body")],
        feed="le360",
        feed_tags=("maroc", "presse"),
    ),
    C("languages: a French article", "security-en", "La security.", None),
    C(
        "languages: en-GB is en",
        "security-en",
        "Security first.",
        [("security", "Security", "body")],
        language="en-GB",
    ),
    C(
        "English plurals are found (issue 11: a plural may mean something else)",
        "security-en",
        "Government securities fell.",
        [("security", "securities", "body")],
        language="en",
    ),
    C("languages: German", "jo-security", "Die sécurité des JO 2024.", None, language="de"),
    # --- nesting ----------------------------------------------------------------------------
    C(
        "nested all inside any",
        "nested",
        "Au Maroc, la police mène l'enquête.",
        [("Maroc", "Maroc", "body"), ("police", "police", "body"), ("enquête", "enquête", "body")],
    ),
    C("nested all, half found", "nested", "Au Maroc, la police patrouille.", None),
    C(
        "nested none, another sentence",
        "nested-none",
        "Le football reprend. Le Maroc vote.",
        [("Maroc", "Maroc", "body")],
    ),
    C("nested none, same sentence", "nested-none", "Le Maroc aime le football.", None),
    C("none alone matches without the term", "none-only", "La pluie.", []),
    C("none alone rejects the term", "none-only", "Le football.", None),
    C(
        "priority does not change the verdict",
        "priority-high",
        "Le Maroc.",
        [("Maroc", "Maroc", "body")],
    ),
]


@pytest.fixture(scope="module")
def annotator():
    return shared_annotator()


@pytest.fixture(scope="module")
def table_rules(tmp_path_factory):
    return load_rule_texts(tmp_path_factory.mktemp("rules"), ACTORS, RULES)


def make_article(case: Case) -> Article:
    return Article(
        key="a1",
        feed_id=case.feed,
        url=None,
        guid=None,
        title=case.title,
        summary=case.summary,
        body=case.body,
        published_at=NOW,
        fetched_at=NOW,
        language=case.language,
        content_hash="0",
        feed_tags=case.feed_tags,
    )


def test_the_table_is_large_and_covers_every_rule():
    assert len(CASES) >= 60
    assert {case.rule for case in CASES} == set(RULES)
    assert len({case.name for case in CASES}) == len(CASES)
    assert sum(case.language.startswith("en") for case in CASES) >= 8


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_rule_table(annotator, table_rules, case):
    rule = table_rules.rule(case.rule)
    assert rule is not None
    compiled = compile_rules(RuleSet(rules=(rule,), actors=table_rules.actors))
    article = make_article(case)
    notes = annotator.annotate([article], with_entities=True)[0]
    matches = evaluate(article, notes, compiled)
    verdict = evaluate_rule(article, notes, compiled, case.rule)
    if case.hits is None:
        assert matches == []
        assert not verdict.is_match
        assert verdict.reasons, "a miss must say why"
        return
    assert [match.rule_id for match in matches] == [case.rule]
    assert [(hit.wanted, hit.matched, hit.field) for hit in matches[0].hits] == case.hits
    assert verdict.matches == tuple(matches)
    if case.score is not None:
        assert matches[0].score == case.score
