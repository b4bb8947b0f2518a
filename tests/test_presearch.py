"""The presearch wakes only rules that can hold, keyed on their rarest required branch.

Real French news from ../shared/corpus/fr-feeds/, annotated with the real model, against rules
drawn from the same text the way desks write them (common words, actors, nesting, proximity,
weights with min_score). Skipped when the corpus is not beside the repository.
"""

import asyncio
import itertools
import random
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.ingest import STORY_WINDOW, NearDuplicates, normalize_entries, parse_feed
from monitor.match import CompiledRules, compile_rules, evaluate, term_frequencies
from monitor.metrics import Metrics
from monitor.model import (
    Actor,
    ActorRef,
    Article,
    Clause,
    Feed,
    FetchResult,
    Rule,
    RuleSet,
    Term,
)
from monitor.pipeline import analyse
from monitor.store import Store
from monitor.text import fold, term_words
from tests.fixtures_nlp import shared_annotator

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "fr-feeds"
NOW = datetime(2025, 2, 10, tzinfo=UTC)
ITEMS = 300  # enough articles for every shape of rule to match some and miss most

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus is not beside the repository ({CORPUS})"
)


class EveryRule(CompiledRules):
    """The same compiled rules with the presearch switched off: every rule is evaluated."""

    __slots__ = ()

    def candidates(self, found_patterns):
        return list(self.plans)


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    found: list[Article] = []
    for path in sorted(CORPUS.glob("*.xml")):
        result = FetchResult(path.stem, path.as_uri(), 200, path.read_bytes(), (), NOW)
        feed = Feed(id=path.stem, url=path.as_uri(), language="fr")
        found += normalize_entries(parse_feed(result), feed, NOW, max_entries=1_000)
    # Every fourth item: several feeds and sections, in a stable order.
    return found[::4][:ITEMS]


@pytest.fixture(scope="module")
def notes(articles):
    return shared_annotator().annotate(articles, with_entities=True)


@pytest.fixture(scope="module")
def frequencies(articles):
    return term_frequencies(f"{a.title}\n{a.summary}\n{a.body}" for a in articles)


def article_words(article: Article) -> set[str]:
    return set(term_words(f"{article.title} {article.summary} {article.body}", is_exact=False))


def desk_rules(articles: list[Article], count: int, seed: int) -> RuleSet:
    """Rules written the way desks write them, from the articles' own words and names."""
    rng = random.Random(seed)
    frequency: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    names: Counter[str] = Counter()
    for article in articles:
        text = f"{article.title} {article.summary}"
        words = term_words(text, is_exact=False)
        frequency.update({word for word in words if len(word) > 3 and not word.isdigit()})
        pairs.update({f"{a} {b}" for a, b in itertools.pairwise(words) if min(len(a), len(b)) > 3})
        names.update(re.findall(r"(?<=[a-zé,] )[A-Z][a-zéèë]+(?: [A-Z][a-zéèë]+)?", text))
    vocabulary = sorted(word for word, seen in frequency.items() if seen >= 2)
    weights = [frequency[word] for word in vocabulary]  # common words come up often
    phrases = sorted(phrase for phrase, seen in pairs.items() if seen >= 2)
    actors = tuple(
        Actor(
            f"actor-{index}",
            name,
            ("person", "org", "place")[index % 3],
            tuple(
                dict.fromkeys(alias for alias in (name.split()[-1], fold(name)) if alias != name)
            ),
            require_entity=index % 10 == 0,
            fuzzy=0.85 if index % 17 == 0 else None,
        )
        for index, (name, _) in enumerate(sorted(names.most_common(80)))
    )

    def term(weight: float = 1.0) -> Term:
        roll = rng.random()
        if roll < 0.2 and phrases:
            return Term(rng.choice(phrases), weight=weight)
        if roll < 0.25:
            return Term(rng.choice(vocabulary).upper(), is_exact=True, weight=weight)
        return Term(rng.choices(vocabulary, weights)[0], weight=weight)

    def leaf(weight: float = 1.0) -> Term | ActorRef:
        if rng.random() < 0.3:
            return ActorRef(rng.choice(actors).id, weight=weight)
        return term(weight)

    def any_of(size: int) -> Clause:
        return Clause("any", tuple(leaf() for _ in range(size)))

    rules = []
    for index in range(count):
        shape, options = rng.random(), {}
        if shape < 0.35:
            items = [any_of(rng.randint(1, 4)), any_of(rng.randint(1, 3))]
        elif shape < 0.55:
            nested = Clause("all", (leaf(), leaf()))
            items = [Clause("any", (nested, *any_of(2).items)), any_of(rng.randint(1, 3))]
        elif shape < 0.8:
            weighted = tuple(leaf(rng.choice([0.5, 1.0, 2.0, 3.0])) for _ in range(5))
            items = [Clause("any", weighted)]
            options["min_score"] = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0])
        elif shape < 0.95:
            items = [any_of(rng.randint(1, 3)) for _ in range(3)]
        else:
            items = [Clause("any", (any_of(2), Clause("none", (term(),))))]  # nothing required
        if rng.random() < 0.2:
            items.append(Clause("none", (term(),)))
        if rng.random() < 0.25:
            options["near"] = rng.choice(["sentence", 8, 20])
        if rng.random() < 0.1:
            options["languages"] = (rng.choice(["fr", "en"]),)
        rule = Rule(id=f"r{index:04}", name=f"r{index}", clause=Clause("all", tuple(items)))
        rules.append(replace(rule, **options))
    return RuleSet(tuple(rules), actors)


def matching_ids(articles, notes, compiled) -> list[set[str]]:
    return [
        {match.rule_id for match in evaluate(article, note, compiled)}
        for article, note in zip(articles, notes, strict=True)
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_presearch_never_misses_a_rule_that_matches(articles, notes, frequencies, seed):
    rules = desk_rules(articles, 250, seed)
    everything = matching_ids(articles, notes, EveryRule(rules, frequencies=frequencies))
    woken = Metrics()
    counted = compile_rules(rules, frequencies=frequencies, observer=woken)
    guessed = compile_rules(rules)  # no counts: anchors guessed from the patterns' length
    assert matching_ids(articles, notes, counted) == everything
    assert matching_ids(articles, notes, guessed) == everything
    matched = sum(len(ids) for ids in everything)
    assert matched > len(articles) / 2, "the generated rules must match for the test to mean much"
    # And it does skip: far fewer rules judged than the rules times the articles.
    judged = woken.rules_woken.collect()[0].samples
    total = next(sample.value for sample in judged if sample.name.endswith("_sum"))
    assert total <= 2 * matched + 10 * len(articles)
    assert total < 0.1 * len(rules.rules) * len(articles)


def test_a_rule_of_common_words_and_one_rare_word_wakes_only_where_the_rare_word_is(
    articles, notes, frequencies
):
    words = [article_words(article) for article in articles]
    common = sorted(frequency_rank(words)[:3])  # e.g. "france", "president"
    rare = next(word for word in frequency_rank(words)[::-1] if len(word) > 6)
    rule = Rule(
        id="rare",
        name="rare",
        clause=Clause(
            "all",
            (Clause("any", tuple(Term(word) for word in common)), Clause("any", (Term(rare),))),
        ),
    )
    metrics = Metrics()
    compiled = compile_rules(RuleSet((rule,)), frequencies=frequencies, observer=metrics)
    anchor = compiled.anchor("rare")
    assert compiled.pattern_texts(anchor.groups[0]) == [rare]
    assert anchor.share < 0.01 < anchor.shares[1]
    for article, note in zip(articles, notes, strict=True):
        evaluate(article, note, compiled)
    woken = metrics.rules_woken.collect()[0].samples
    total = next(sample.value for sample in woken if sample.name.endswith("_sum"))
    having = sum(rare in found and not found.isdisjoint(common) for found in words)
    assert total == having
    assert b"monitor_rules_woken_per_article_count" in metrics.exposition()


def frequency_rank(words: list[set[str]]) -> list[str]:
    counts = Counter(word for found in words for word in found if word.isalpha())
    return [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def test_a_rule_of_common_words_only_wakes_where_both_are_by_a_pair_key(
    articles, notes, frequencies
):
    words = [article_words(article) for article in articles]
    first, second = [word for word in frequency_rank(words) if len(word) > 5][:2]
    rule = Rule(id="pair", name="pair", clause=Clause("all", (Term(first), Term(second))))
    rules = RuleSet((rule,))
    compiled = compile_rules(rules, frequencies=frequencies)
    assert compiled.anchor("pair").share > 0.05
    assert compiled.summary().common == ("pair",)
    woken = [bool(compiled.candidates(compiled.index.find(note))) for note in notes]
    # Without `near`, both words found is both what wakes the rule and what makes it match.
    assert woken == [bool(ids) for ids in matching_ids(articles, notes, EveryRule(rules))]
    assert 0 < sum(woken) < sum(first in found for found in words)


def test_with_min_score_the_leaves_the_score_needs_wake_the_rule(frequencies):
    weighted = Clause(
        "any",
        (
            Term("france", weight=1.0),
            Term("gouvernement", weight=1.0),
            Term("narcotrafic", weight=3.0),
        ),
    )
    rule = Rule(id="w", name="w", clause=Clause("all", (weighted,)), min_score=3.0)
    compiled = compile_rules(RuleSet((rule,)), frequencies=frequencies)
    # France and gouvernement reach 2 at most: without narcotrafic the score cannot reach 3.
    assert compiled.pattern_texts(compiled.anchor("w").groups[0]) == ["narcotrafic"]
    # At 2, France alone cannot reach it: one of gouvernement and narcotrafic must be found.
    lower = replace(rule, min_score=2.0)
    compiled = compile_rules(RuleSet((lower,)), frequencies=frequencies)
    assert compiled.pattern_texts(compiled.anchor("w").groups[0]) == ["gouvernement", "narcotrafic"]


def test_rules_that_require_nothing_are_reported_in_the_always_bucket():
    alone = Rule(id="none-only", name="n", clause=Clause("all", (Clause("none", (Term("x"),)),)))
    usual = Rule(id="usual", name="u", clause=Clause("all", (Term("maroc"),)))
    summary = compile_rules(RuleSet((alone, usual))).summary()
    assert (summary.rules, summary.always) == (2, ("none-only",))


def test_the_store_gives_the_newest_article_texts_first(tmp_path, articles):
    store = Store(tmp_path / "monitor.db")
    kept = store.add_articles(
        articles[:30], NOW, linker=NearDuplicates(), story_since=NOW - STORY_WINDOW
    )
    texts = store.recent_article_texts(5)
    newest = kept[-5:][::-1]
    assert texts == [f"{a.title}\n{a.summary}\n{a.body}" for a in newest]
    assert len(store.recent_article_texts(1_000)) == len(kept)


def test_the_analyser_anchors_on_stored_frequencies_and_counts_rules_woken(tmp_path, articles):
    store = Store(tmp_path / "monitor.db")
    later = NOW + timedelta(hours=1)
    store.add_articles(articles, NOW, linker=NearDuplicates(), story_since=NOW - STORY_WINDOW)
    rules = desk_rules(articles, 50, seed=3)
    metrics = Metrics()
    analyser = analyse.Analyser(
        store=store, annotator=shared_annotator(), rules=rules, feeds=(), metrics=metrics
    )
    matched = asyncio.run(analyser.match_pending(later))
    exposed = metrics.exposition().decode()
    count = re.search(r"^monitor_rules_woken_per_article_count (\S+)$", exposed, re.M)
    assert count is not None and float(count.group(1)) >= len(articles) * 0.9
    total = re.search(r"^monitor_rules_matched_per_article_sum (\S+)$", exposed, re.M)
    assert total is not None and float(total.group(1)) == matched > 0
    # The anchors came from the stored articles' counts, not the length guess.
    informed = compile_rules(rules, frequencies=term_frequencies(store.recent_article_texts(5_000)))
    assert analyser._compiled.summary() == informed.summary()
    assert analyser._compiled.frequencies.documents == len(store.recent_article_texts(5_000))


def named_actors(rule: Rule) -> set[str]:
    found, clauses = set(), [rule.clause]
    while clauses:
        for item in clauses.pop().items:
            if isinstance(item, ActorRef):
                found.add(item.actor_id)
            elif isinstance(item, Clause):
                clauses.append(item)
    return found


def test_recompiling_after_an_edit_keeps_the_plans_of_the_rules_left_alone(
    articles, notes, frequencies
):
    rules = desk_rules(articles, 200, seed=4)
    before = compile_rules(rules, frequencies=frequencies)
    edited = replace(rules.rules[7], clause=Clause("all", (Term("narcotrafic"),)))
    changed = RuleSet((*rules.rules[:7], edited, *rules.rules[8:]), rules.actors)
    after = compile_rules(changed, previous=before)
    kept = [old is new for old, new in zip(before.plans, after.plans, strict=True)]
    assert kept == [position != 7 for position in range(200)]
    assert after.frequencies is frequencies and after.index is before.index
    fresh = compile_rules(changed, frequencies=frequencies)
    assert matching_ids(articles, notes, after) == matching_ids(articles, notes, fresh)
    # An actor given one more alias: the rules naming it are planned again, with the alias.
    actor = next(actor for actor in rules.actors if not actor.fuzzy and not actor.require_entity)
    grown = replace(actor, aliases=(*actor.aliases, "Zorglub"))
    actors = tuple(grown if a.id == actor.id else a for a in rules.actors)
    again = compile_rules(RuleSet(changed.rules, actors), previous=after)
    naming = [actor.id in named_actors(rule) for rule in changed.rules]
    assert any(naming)
    assert [old is not new for old, new in zip(after.plans, again.plans, strict=True)] == naming
    rule_id = changed.rules[naming.index(True)].id
    aliases = {
        text
        for leaf in again.plan(rule_id).leaves
        for text in again.pattern_texts(leaf.pattern_ids)
    }
    assert "Zorglub" in aliases


def test_an_index_grown_by_many_edits_is_built_afresh():
    rule = Rule(id="r", name="r", clause=Clause("all", (Term("maroc"),)))
    compiled = compile_rules(RuleSet((rule,)))
    first = compiled.index
    for word in ("rabat", "paris", "lyon", "nice"):
        edited = replace(rule, clause=Clause("all", (Term(word),)))
        compiled = compile_rules(RuleSet((edited,)), previous=compiled)
    assert compiled.index is not first
    assert len(compiled.index.patterns) <= 2
