"""Scores, evidence and reasons, table-driven: only branches that held count, and a miss is
named at the deepest clause that failed. Rules as a user writes them, texts through spaCy.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.match import compile_rules, evaluate, evaluate_rule
from monitor.model import Article, RuleSet
from monitor.rules.load import load_rules
from tests.articles import body_article
from tests.conftest import run_cli
from tests.fixtures_nlp import load_rule_texts, shared_annotator

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)

ACTORS = """\
actors:
  - id: dgsn-dgst
    name: DGSN-DGST
    type: org
    aliases: [DGSN, DGST]
"""

# The example: a weighty nested `all` that half-held used to pass `min_score`.
XYLO = """
min_score: 5
match:
  any:
    - Xylo
    - all: [{term: cobalt, weight: 5}, lithium]
"""

RULES = {
    "xylo": XYLO,
    "xylo-alert": "match:\n  any:\n    - Xylo\n    - all: [cobalt, lithium]",
    "nested": """
match:
  all:
    - Maroc
    - any:
        - Xylo
        - all: [cobalt, lithium]
""",
    "weighted": """
min_score: 3
match:
  any: [{term: attentat, weight: 3}, {term: explosion, weight: 2}, police]
""",
    "actor-weight": "match:\n  any: [{actor: dgsn-dgst, weight: 3}, Maroc]",
    "jo": """
match:
  all:
    - any: [JO 2024, Jeux olympiques]
    - any: [sécurité, security]
  near: sentence
""",
    "sentence-branch": """
match:
  all:
    - Maroc
    - any: [sécurité, all: [{term: police, weight: 3}, métro]]
  near: sentence
""",
    "window-branch": """
match:
  all:
    - Maroc
    - any: [sécurité, all: [{term: police, weight: 3}, métro]]
  near: 3
""",
    "near-3": "match:\n  all: [Maroc, sécurité]\n  near: 3",
    "nested-none": "match:\n  all:\n    - Maroc\n    - none: [football]",
}


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    body: str
    is_match: bool
    score: float
    hits: list[str]  # the words of each hit shown, in order
    reasons: tuple[str, ...] = ()


CASES = [
    # --- scores count the branches that held ----------------------------------------------
    Case(
        "a half-held nested all adds nothing to the score",
        "xylo",
        "Xylo et cobalt.",
        False,
        1,
        ["Xylo"],
        (
            "score 1 is below min_score 5",
            "not counted: found 'cobalt' but not 'lithium' (match.any[1].all)",
        ),
    ),
    Case(
        "a nested all that holds counts every item",
        "xylo",
        "Xylo, cobalt et lithium.",
        True,
        7,
        ["Xylo", "cobalt", "lithium"],
    ),
    Case(
        "a nested all alone reaches min_score",
        "xylo",
        "Le cobalt et le lithium.",
        True,
        6,
        ["cobalt", "lithium"],
    ),
    Case(
        "an any counts every branch that held",
        "weighted",
        "Une explosion, la police arrive.",
        True,
        3,
        ["explosion", "police"],
    ),
    Case(
        "an any below min_score says so",
        "weighted",
        "Une explosion.",
        False,
        2,
        ["explosion"],
        ("score 2 is below min_score 3",),
    ),
    Case(
        "an actor counts its weight once, however many aliases",
        "actor-weight",
        "La DGSN et la DGST au Maroc.",
        True,
        4,
        ["DGSN", "DGST", "Maroc"],
    ),
    # --- an alert shows only the hits that made it ----------------------------------------
    Case(
        "no hit from a branch that did not hold",
        "xylo-alert",
        "Xylo et cobalt.",
        True,
        1,
        ["Xylo"],
    ),
    Case(
        "near sentence: a branch counts only where it held",
        "sentence-branch",
        "Le Maroc, la sécurité et la police. Le métro ferme.",
        True,
        2,
        ["Maroc", "sécurité"],
    ),
    Case(
        "near sentence: a branch that held in the sentence counts",
        "sentence-branch",
        "Le Maroc, la police et le métro.",
        True,
        5,
        ["Maroc", "police", "métro"],
    ),
    Case(
        "near N: a branch counts only where it held",
        "window-branch",
        "Le Maroc, sécurité et police ; plus loin, bien plus loin, le métro.",
        True,
        2,
        ["Maroc", "sécurité"],
    ),
    # --- a miss names the deepest clause that failed -----------------------------------------
    Case(
        "the missing part, with what its siblings found",
        "jo",
        "Les JO 2024 approchent.",
        False,
        1,
        ["JO 2024"],
        ("found 'JO 2024' but not any of 'sécurité', 'security' (match.all[1].any)",),
    ),
    Case(
        "nothing found: each part named whole",
        "jo",
        "Rien à signaler.",
        False,
        0,
        [],
        (
            "not found: any of 'JO 2024', 'Jeux olympiques' (match.all[0].any)",
            "not found: any of 'sécurité', 'security' (match.all[1].any)",
        ),
    ),
    Case(
        "a half-held nested all is named, not its any",
        "nested",
        "Le Maroc et le cobalt.",
        False,
        1,
        ["Maroc"],
        ("found 'cobalt' but not 'lithium' (match.all[1].any[1].all)",),
    ),
    Case(
        "near sentence: what the closest sentence lacked",
        "jo",
        "Les JO 2024 approchent. La sécurité du métro inquiète.",
        False,
        2,
        ["JO 2024", "sécurité"],
        (
            "found 'JO 2024' but not any of 'sécurité', 'security' (match.all[1].any)"
            " in the same sentence (near: sentence)",
        ),
    ),
    Case(
        "near N: what the closest window lacked",
        "near-3",
        "Le Maroc renforce nettement toute sa sécurité.",
        False,
        2,
        ["Maroc", "sécurité"],
        ("found 'Maroc' but not 'sécurité' (match.all) within 3 words (near: 3)",),
    ),
    Case(
        "a nested none names what it excluded",
        "nested-none",
        "Le Maroc aime le football.",
        False,
        1,
        ["Maroc"],
        ("excluded: 'football' found (match.all[1].none)",),
    ),
]


@pytest.fixture(scope="module")
def annotator():
    return shared_annotator()


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    return load_rule_texts(tmp_path_factory.mktemp("rules"), ACTORS, RULES)


def make_article(body: str) -> Article:
    return body_article(body)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_verdict_table(annotator, rules, case):
    rule = rules.rule(case.rule)
    assert rule is not None
    compiled = compile_rules(RuleSet(rules=(rule,), actors=rules.actors))
    article = make_article(case.body)
    notes = annotator.annotate([article], with_entities=False)[0]
    verdict = evaluate_rule(article, notes, compiled, case.rule)
    matches = evaluate(article, notes, compiled)
    assert (verdict.is_match, verdict.score) == (case.is_match, case.score)
    assert [hit.matched for hit in verdict.hits] == case.hits
    assert verdict.reasons == case.reasons
    # The daemon's path agrees with test-rule's.
    assert matches == list(verdict.matches)


def test_test_rule_shows_the_analyst_the_score_and_the_clause_that_fell_short(project: Path):
    (project / "rules" / "xylo.yaml").write_text(
        "id: xylo\nname: Xylo and battery metals\n" + XYLO.lstrip(), encoding="utf-8"
    )
    (project / "xylo.txt").write_text("Xylo et cobalt\n\nXylo et cobalt.\n", encoding="utf-8")
    result = run_cli(project, "test-rule", "xylo", "--text", "xylo.txt")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:8] == [
        "Xylo et cobalt",
        "✘ not matched  xylo 'Xylo and battery metals'  priority normal  score 1 (min_score 5)",
        "  why:",
        "    - score 1 is below min_score 5",
        "    - not counted: found 'cobalt' but not 'lithium' (match.any[1].all)",
        "  found:",
        '    title · match.any: Xylo → "Xylo"',
        "        [Xylo] et cobalt",
    ]
    assert "weight 5" not in result.stdout


DOCS = Path(__file__).parent.parent / "docs" / "rules.md"


@pytest.mark.parametrize(
    ("body", "is_match", "score"),
    [
        ("Un attentat.", True, 3),
        ("Une explosion, la police soigne un blessé.", True, 5),
        ("Une explosion, la police est sur place.", False, 2),
    ],
)
def test_the_documented_score_example_scores_as_documented(
    annotator, tmp_path, body, is_match, score
):
    example = next(
        b for b in DOCS.read_text(encoding="utf-8").split("```yaml\n") if "id: attack-watch" in b
    )
    (tmp_path / "attack.yaml").write_text(example.split("```", 1)[0], encoding="utf-8")
    compiled = compile_rules(load_rules(tmp_path))
    article = make_article(body)
    notes = annotator.annotate([article], with_entities=False)[0]
    verdict = evaluate_rule(article, notes, compiled, "attack-watch")
    assert (verdict.is_match, verdict.score) == (is_match, score)
