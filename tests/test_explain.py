"""What `monitor test-rule` prints: verdict, score, and each hit highlighted in its sentence."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.deliver.highlight import highlight_snippet
from monitor.match import compile_rules, evaluate, evaluate_rule
from monitor.match.explain import format_verdict
from monitor.model import Clause, Hit, Match, Priority, Rule, Term
from monitor.rules.load import load_rules
from tests.articles import body_article
from tests.fixtures_nlp import shared_annotator

SHIPPED = Path(__file__).parent.parent / "rules"
NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
ANSI = "\x1b["


@pytest.fixture(scope="module")
def shipped():
    return load_rules(SHIPPED)


def explain(shipped, body: str, rule_id: str, *, color: bool = False, title: str = "Titre"):
    article = body_article(body, title=title)
    notes = shared_annotator().annotate([article], with_entities=True)[0]
    compiled = compile_rules(shipped)
    verdict = evaluate_rule(article, notes, compiled, rule_id)
    matches = evaluate(article, notes, compiled)
    rule = shipped.rule(rule_id)
    assert rule is not None
    return format_verdict(article.title, matches, rule, color=color, verdict=verdict)


def test_a_match_lists_each_hit_with_the_words_marked(shipped):
    text = explain(shipped, "La sécurité des JO 2024 inquiète. Rien d'autre.", "jo2024-security")
    assert text.splitlines() == [
        "Titre",
        "✔ matched  jo2024-security 'JO 2024 security'  priority high  score 2",
        '  body · match.all[0].any: JO 2024 → "JO 2024"',
        "      La sécurité des [JO 2024] inquiète.",
        '  body · match.all[1].any: sécurité → "sécurité"',
        "      La [sécurité] des JO 2024 inquiète.",
    ]
    assert ANSI not in text


def test_a_miss_says_why_and_what_was_found(shipped):
    body = "Les JO 2024 approchent. La sécurité du métro inquiète. La billetterie ouvre."
    text = explain(shipped, body, "jo2024-security")
    assert text.splitlines() == [
        "Titre",
        "✘ not matched  jo2024-security 'JO 2024 security'  priority high  score 2",
        "  why:",
        "    - excluded: 'billetterie' found in body (match.none)",
        "    - found 'JO 2024' but not any of 'sécurité', 'renseignement', 'terrorisme',"
        " 'security', 'intelligence', 'counter-terrorism' (match.all[1].any)"
        " in the same sentence (near: sentence)",
        "  found:",
        '    body · match.all[0].any: JO 2024 → "JO 2024"',
        "        Les [JO 2024] approchent.",
        '    body · match.all[1].any: sécurité → "sécurité"',
        "        La [sécurité] du métro inquiète.",
        "  excluded by:",
        '    body · match.none: billetterie → "billetterie"',
        "        La [billetterie] ouvre.",
    ]


def test_actor_hits_name_the_alias_that_matched(shipped):
    text = explain(shipped, "Le patron Hamouchi a reçu la DGSI à Paris.", "morocco-france-security")
    assert "  body · match.actors.any: Abdellatif Hammouchi → \"Hamouchi\" via 'Hammouchi'" in text
    assert "      Le patron [Hamouchi] a reçu la DGSI à Paris." in text


def test_colour_marks_the_words_in_a_terminal(shipped):
    text = explain(shipped, "La sécurité des JO 2024 inquiète.", "jo2024-security", color=True)
    assert "\x1b[1;32m✔ matched\x1b[0m" in text
    assert "La sécurité des \x1b[1;30;43mJO 2024\x1b[0m inquiète." in text
    miss = explain(shipped, "Rien.", "jo2024-security", color=True)
    assert "\x1b[1;31m✘ not matched\x1b[0m" in miss


def rule(**options) -> Rule:
    return Rule(id="r", name="R", clause=Clause("all", (Term("x"),)), **options)


def test_weights_thresholds_and_hand_built_matches():
    hit = Hit(
        "attentat", "Attentat", "title", 0, 8, "Attentat déjoué", clause="match.any", weight=3
    )
    match = Match("r", "R", "a1", Priority.HIGH, 3.0, (hit,))
    text = format_verdict(
        "Attentat déjoué", [match], rule(min_score=3, priority=Priority.HIGH), color=False
    )
    assert text.splitlines() == [
        "Attentat déjoué",
        "✔ matched  r 'R'  priority high  score 3 (min_score 3)",
        '  title · match.any: attentat → "Attentat"  weight 3',
        "      [Attentat] déjoué",
    ]


def test_a_miss_without_a_verdict_still_reads():
    text = format_verdict("", [], rule(), color=False)
    assert text.splitlines() == [
        "(untitled article)",
        "✘ not matched  r 'R'  priority normal  score 0",
        "  nothing in this article satisfies the rule",
    ]


def test_untrusted_text_cannot_drive_the_terminal():
    evil = "Titre\x1b[2J\x1b]0;pwned\x07"
    hit = Hit("x", "x\x1b[31m", "body", 0, 1, "un x\x1b[31m rouge\r\nici", clause="match.any")
    text = format_verdict(
        evil, [Match("r", "R", "a1", Priority.NORMAL, 1.0, (hit,))], rule(), color=True
    )
    assert "\x1b[2J" not in text and "\x1b]0" not in text and "\x07" not in text
    assert "\x1b[31m" not in text and "\r" not in text
    assert "un \x1b[1;30;43mx [31m\x1b[0m rouge ici" in text


def test_matches_of_other_rules_are_ignored():
    other = Match("other", "Other", "a1", Priority.NORMAL, 1.0, ())
    assert "not matched" in format_verdict("T", [other], rule(), color=False)


def test_whole_rule_set_explained_on_the_seed(shipped):
    seed = (Path(__file__).parent.parent / "seeds" / "raw" / "000_1cc6efedb35eb3c5.txt").read_text(
        encoding="utf-8"
    )
    title, _, body = seed.strip().partition("\n")
    for rule_id in ("jo2024-security", "morocco-france-security"):
        text = explain(shipped, body, rule_id, title=title)
        assert text.startswith(title + "\n✔ matched")
        assert all(line.startswith(("  ", "✔", title)) for line in text.splitlines())


def test_highlight_falls_back_to_any_case_and_to_nothing():
    def shown(matched: str, snippet: str) -> str:
        hit = Hit("x", matched, "body", 0, 1, snippet)
        match = Match("r", "R", "a1", Priority.NORMAL, 1.0, (hit,))
        return format_verdict("T", [match], rule(), color=False).splitlines()[-1].strip()

    assert shown("JO", "les jo de Paris") == "les [jo] de Paris"
    assert shown("", "les jo de Paris") == "les jo de Paris"
    assert shown("Zut", "les jo de Paris") == "les jo de Paris"
    assert shown("strasse", "Die Straße") == "Die Straße"  # casefold changes lengths


def test_the_mark_sits_on_the_words_that_hit_not_on_an_earlier_look_alike(tmp_path):
    # "D.G.S.T." and "D.G.S.T" both hit; the second must be marked where it is, although the
    # first one's letters come earlier in the same sentence.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dgst.yaml").write_text(
        "id: dgst\nname: DGST\nmatch:\n  any: [DGST]\n", encoding="utf-8"
    )
    loaded = load_rules(rules)
    body = "Selon la D.G.S.T. et la D.G.S.T de Rabat, rien ne change."
    text = explain(loaded, body, "dgst")
    marked = [line.strip() for line in text.splitlines() if "[" in line]
    assert marked == [
        "Selon la [D.G.S.T.] et la D.G.S.T de Rabat, rien ne change.",
        "Selon la D.G.S.T. et la [D.G.S.T] de Rabat, rien ne change.",
    ]


def test_the_digest_marks_the_same_place_as_test_rule(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dgst.yaml").write_text(
        "id: dgst\nname: DGST\nmatch:\n  any: [DGST]\n", encoding="utf-8"
    )
    article = body_article("Le sigle DGSTX, puis la DGST  elle-même.", title="Titre")
    notes = shared_annotator().annotate([article], with_entities=False)[0]
    (match,) = evaluate(article, notes, compile_rules(load_rules(rules)))
    (hit,) = match.hits
    assert hit.snippet[hit.snippet_start : hit.snippet_end] == "DGST"
    parts = highlight_snippet(article, match.hits)
    marked = [(index, part.text) for index, part in enumerate(parts) if part.is_marked]
    assert marked == [(1, "DGST")]
    assert parts[0].text == "Le sigle DGSTX, puis la "
    assert "".join(part.text for part in parts) == "Le sigle DGSTX, puis la DGST elle-même."
