"""The presearch over the benchmark's rules (bench.rulegen): never a match lost, few rules woken.

Rules written the way desks write them (sources, `near: sentence`, `near: N`, `min_score`,
nested `none`s) against real corpus items and ~500-word bodies: evaluating only the rules the
presearch wakes, through every gate it has, gives exactly the matches of evaluating every rule.
Skipped when the corpus is not beside the repository.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench import workload
from monitor.match import CompiledRules, TermFrequencies, compile_rules, evaluate, term_frequencies
from monitor.model import Annotations, Article, Clause, Match, Rule, RuleSet, Term
from tests.articles import body_article
from tests.fixtures_nlp import shared_annotator

pytestmark = pytest.mark.skipif(
    not workload.CORPUS_DIR.is_dir(),
    reason=f"the shared corpus is not beside the repository ({workload.CORPUS_DIR})",
)
RULES = 400


class EveryRule(CompiledRules):
    """The same compiled rules with the presearch switched off: every rule is evaluated."""

    __slots__ = ()

    def candidates(self, found_patterns: object) -> list:  # type: ignore[override]
        return list(self.plans)


class Woken:
    def __init__(self) -> None:
        self.woken = self.matched = 0

    def observe_presearch(self, woken: int, matched: int) -> None:
        self.woken += woken
        self.matched += matched


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    items = workload.feed_items()
    return items[:: len(items) // 40][:40] + workload.long_articles(12)


@pytest.fixture(scope="module")
def notes(articles: list[Article]) -> list[Annotations]:
    return shared_annotator().annotate(articles, with_entities=True)


@pytest.fixture(scope="module")
def counts(articles: list[Article]) -> TermFrequencies:
    # The stored articles the daemon counts would be these and more like them.
    return term_frequencies(f"{a.title}\n{a.summary}\n{a.body}" for a in articles)


def all_matches(
    articles: list[Article], notes: list[Annotations], compiled: CompiledRules
) -> list[list[Match]]:
    return [evaluate(a, n, compiled) for a, n in zip(articles, notes, strict=True)]


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize("counted", [True, False], ids=["counted", "guessed"])
def test_the_presearch_finds_every_match_of_the_desk_rules(
    articles: list[Article],
    notes: list[Annotations],
    counts: TermFrequencies,
    seed: int,
    counted: bool,
) -> None:
    rules = with_feed_lists(workload.rule_set(RULES, seed=seed), articles, notes)
    frequencies = counts if counted else None
    woken = Woken()
    presearch = compile_rules(rules, frequencies=frequencies, observer=woken)
    everything = EveryRule(rules, frequencies=presearch.frequencies)
    expected = all_matches(articles, notes, everything)
    assert all_matches(articles, notes, presearch) == expected
    # Every gate is crossed by rules that match: the equality above says something of each.
    matched = {match.rule_id for found in expected for match in found}
    by_id = {rule.id: rule for rule in rules.rules}
    kinds = {
        "sources": lambda rule: bool(rule.sources),
        "near: sentence": lambda rule: rule.near == "sentence",
        "near: N": lambda rule: isinstance(rule.near, int),
        "min_score": lambda rule: rule.min_score is not None,
        "none": lambda rule: any(part.op == "none" for part in _clauses(rule.clause)),
    }
    for kind, has in kinds.items():
        assert any(has(by_id[rule_id]) for rule_id in matched), f"no {kind} rule matched"
    # And the gates do skip: close to the rules that match, not the rules sharing a word.
    assert woken.matched == sum(map(len, expected)) > len(articles)
    assert woken.woken <= 1.2 * woken.matched + len(articles)


def with_feed_lists(rules: RuleSet, articles: list[Article], notes: list[Annotations]) -> RuleSet:
    """`rules` plus, for rules that match somewhere, copies listing `sources:`: one naming the
    feed of an article the rule matches (and another feed), one naming other feeds only.

    The generated rules list 1-3 of 60 feeds, so few of them match a few dozen articles.
    """
    feeds = workload.feed_ids()
    copies = []
    for found, article in zip(
        all_matches(articles, notes, EveryRule(rules)), articles, strict=True
    ):
        for match in found[:2]:
            rule = next(rule for rule in rules.rules if rule.id == match.rule_id)
            others = tuple(feed for feed in feeds if feed != article.feed_id)
            index = len(copies)
            other = others[index % len(others)], others[(index + 1) % len(others)]
            copies += [
                replace(rule, id=f"{rule.id}-in-{index}", sources=(other[0], article.feed_id)),
                replace(rule, id=f"{rule.id}-out-{index}", sources=other),
            ]
    return RuleSet((*rules.rules, *copies), rules.actors)


def _clauses(clause: object) -> list:
    items = getattr(clause, "items", ())
    nested = [item for item in items if hasattr(item, "op")]
    return nested + [inner for item in nested for inner in _clauses(item)]


def test_a_rule_listing_feeds_wakes_only_on_their_articles(
    articles: list[Article], notes: list[Annotations]
) -> None:
    rules = workload.rule_set(RULES, seed=0)
    rules = with_feed_lists(rules, articles, notes)
    listing = RuleSet(tuple(rule for rule in rules.rules if rule.sources), rules.actors)
    compiled = compile_rules(listing)
    total = 0
    for article, note in zip(articles, notes, strict=True):
        found = compiled.index.find(note)
        keys = compiled.presearch_keys(found, {article.feed_id, *article.feed_tags})
        woken = compiled.candidates(keys)
        assert all(article.feed_id in plan.sources for plan in woken), article.key
        total += len(woken)
    assert total > 0


def edge_rules() -> RuleSet:
    pair = (Clause("any", (Term("alpaga"),)), Clause("any", (Term("zébu"),)))
    weighted = Clause("any", (Term("alpaga", weight=2), Term("zébu", weight=1.5)))
    return RuleSet(
        (
            Rule(id="near-5", name="n5", clause=Clause("all", pair), near=5),
            Rule(id="near-4", name="n4", clause=Clause("all", pair), near=4),
            Rule(id="sentence", name="s", clause=Clause("all", pair), near="sentence"),
            Rule(id="score-3.5", name="w", clause=Clause("all", (weighted,)), min_score=3.5),
            Rule(id="score-4", name="w4", clause=Clause("all", (weighted,)), min_score=4),
        )
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # "zébu" is the fifth word after "alpaga": within 5 words, not within 4.
        ("Un alpaga voit un très grand zébu noir.", {"near-5", "sentence", "score-3.5"}),
        ("Un alpaga voit un très très grand zébu noir.", {"sentence", "score-3.5"}),
        # Windows cross sentences, not paragraphs; a score adds up across them.
        ("Un alpaga dort. Un zébu mange.", {"near-5", "near-4", "score-3.5"}),
        ("Un alpaga dort.\n\nUn zébu.", {"score-3.5"}),
        ("Un alpaga dort.\n\nRien ici.", set()),
    ],
)
def test_the_gates_stop_exactly_where_the_rules_do(body: str, expected: set[str]) -> None:
    """At the edge of `near: N`, of one sentence and of `min_score`, the presearch agrees."""
    article = body_article(body)
    (note,) = shared_annotator().annotate([article], with_entities=False)
    rules = edge_rules()
    found = {match.rule_id for match in evaluate(article, note, compile_rules(rules))}
    every = {match.rule_id for match in evaluate(article, note, EveryRule(rules))}
    assert found == every == expected
