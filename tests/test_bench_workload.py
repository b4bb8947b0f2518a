"""The shared benchmark workload (bench/workload.py): real corpus items, and generated rule
sets that load, keep their stated mix, repeat by seed and speak the corpus's language."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from bench import workload
from bench.rulegen import MIX
from bench.vocabulary import corpus_entities, vocabulary
from monitor.model import ActorRef, Clause, Rule, RuleSet, Term
from monitor.rules import load_rules
from monitor.text import fold
from tests.conftest import run_cli

pytestmark = pytest.mark.skipif(
    not workload.CORPUS_DIR.is_dir(),
    reason=f"the shared corpus is not beside the repository ({workload.CORPUS_DIR})",
)
SIZE = 200
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@pytest.fixture(scope="module")
def rules_folder(tmp_path_factory) -> Path:
    return workload.write_rule_set(tmp_path_factory.mktemp("workload"), SIZE)


@pytest.fixture(scope="module")
def loaded(rules_folder) -> RuleSet:
    return load_rules(rules_folder)


@pytest.fixture(scope="module")
def corpus_words():
    return vocabulary(workload.feed_items())


def _leaves(clause: Clause) -> list[Term | ActorRef]:
    found: list[Term | ActorRef] = []
    for item in clause.items:
        found += _leaves(item) if isinstance(item, Clause) else [item]
    return found


def _is_nested(rule: Rule) -> bool:
    # rule.clause is the implicit `all` of `match`; its parts are what the file wrote.
    return any(
        isinstance(item, Clause)
        for part in rule.clause.items
        if isinstance(part, Clause)
        for item in part.items
    )


def test_feed_items_are_every_corpus_item_as_the_daemon_reads_it():
    items = workload.feed_items()
    assert len(items) == 1334  # shared/corpus/README.md
    assert len({item.key for item in items}) == len(items)
    assert {item.feed_id for item in items} == set(workload.feed_ids())
    # The normaliser's work: plain text, no markup left.
    assert not any("<p>" in item.summary or "&amp;" in item.title for item in items)
    assert 30 <= statistics.mean(len(f"{i.title} {i.summary}".split()) for i in items) <= 80


def test_long_articles_join_items_of_one_feed_into_bodies_of_about_500_words():
    articles = workload.long_articles(150)
    assert len(articles) == 150
    assert len({article.key for article in articles}) == 150
    assert len({article.body for article in articles}) == 150
    lengths = [len(article.body.split()) for article in articles]
    assert min(lengths) >= 500
    assert statistics.median(lengths) <= 650
    items = {(item.feed_id, item.title): item for item in workload.feed_items()}
    for article in articles:
        first = items[(article.feed_id, article.title)]  # the title is one of its feed's
        assert article.body.startswith(first.title)
    assert len({article.feed_id for article in articles[:40]}) >= 30  # feeds take turns
    assert workload.long_articles(5) == workload.long_articles(150)[:5]


def test_every_generated_rule_loads_and_monitor_check_accepts_the_set(rules_folder, loaded):
    assert len(loaded.rules) == SIZE
    project = rules_folder.parent
    feeds = "".join(
        f"  - {{id: {feed_id}, url: {workload.CORPUS_DIR / feed_id}.xml, language: fr}}\n"
        for feed_id in workload.feed_ids()
    )
    (project / "config.yaml").write_text(
        f"store: {project / 'monitor.db'}\nrules: rules\ntemplates: {TEMPLATES}\n"
        f"feeds:\n{feeds}"
        "subscriptions:\n  - {id: desk, rules: ['*'], immediate: high, to: {folder: outbox}}\n",
        encoding="utf-8",
    )
    result = run_cli(project, "check")
    assert result.returncode == 0, result.stderr


def test_the_mix_is_the_one_the_generator_states(loaded):
    rules = loaded.rules

    def share(test) -> float:
        return sum(1 for rule in rules if test(rule)) / len(rules)

    def tagged(shape: str):
        return lambda rule: shape in rule.tags

    measured = {
        **{
            name: share(tagged(name.removeprefix("shape "))) for name in MIX if name[:6] == "shape "
        },
        "near: sentence": share(lambda rule: rule.near == "sentence"),
        "near: N": share(lambda rule: isinstance(rule.near, int)),
        "min_score": share(lambda rule: rule.min_score is not None),
        "nested clause": share(_is_nested),
        "languages": share(lambda rule: bool(rule.languages)),
        "sources": share(lambda rule: bool(rule.sources)),
    }
    persons = [actor for actor in loaded.actors if actor.kind == "person"]
    measured["require_entity (persons)"] = sum(a.require_entity for a in persons) / len(persons)
    for name, stated in MIX.items():
        count = len(persons) if name.startswith("require_entity") else len(rules)
        # Shapes are dealt exactly per 20 rules; the rest are drawn: allow 3 standard errors.
        tolerance = 3 * math.sqrt(stated * (1 - stated) / count) + 0.005
        assert abs(measured[name] - stated) <= tolerance, (name, measured[name], stated)


def test_the_same_seed_writes_the_same_files_and_another_seed_other_ones(tmp_path, rules_folder):
    again = workload.write_rule_set(tmp_path / "again", SIZE)
    other = workload.write_rule_set(tmp_path / "other", SIZE, seed=1)

    def files(folder: Path) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}

    assert files(again) == files(rules_folder)
    theirs = [text for name, text in files(other).items() if name != "actors.yaml"]
    assert not set(theirs) & set(files(rules_folder).values())
    # A rule is the same in every size of its set: the 20 first are the 200's first 20.
    small = workload.write_rule_set(tmp_path / "small", 20)
    assert all(
        files(rules_folder)[name] == text
        for name, text in files(small).items()
        if name != "actors.yaml"
    )


def test_terms_are_corpus_words_drawn_at_their_corpus_frequency(loaded, corpus_words):
    known = {fold(entry.text) for entry in (*corpus_words.words, *corpus_words.phrases)}
    known |= {fold(entry.text) for entry in corpus_words.acronyms}
    df = {fold(entry.text): entry.df for entry in corpus_words.words}
    terms = [
        leaf for rule in loaded.rules for leaf in _leaves(rule.clause) if isinstance(leaf, Term)
    ]
    assert all(fold(term.text) in known for term in terms)
    words = [fold(term.text) for term in terms if fold(term.text) in df]
    # Common words sit in many rules, as desks write them: the 20 commonest corpus words
    # ("France", "gouvernement"...) are mostly there, and a rule word is far commoner than
    # a word drawn uniformly from the vocabulary.
    commonest = [fold(entry.text) for entry in corpus_words.words[:20]]
    assert sum(word in words for word in commonest) >= 12
    assert statistics.mean(df[word] for word in words) >= 2.5 * statistics.mean(df.values())
    phrases = [term for term in terms if " " in term.text]
    assert len(phrases) >= SIZE // 4


def test_actors_are_the_corpus_s_named_entities_with_one_to_four_aliases(loaded):
    items = workload.feed_items()
    entities = {fold(e.text) for found in corpus_entities(items).values() for e in found}
    text = fold(" ".join(f"{i.title} {i.summary} {i.body}" for i in items))
    assert len(loaded.actors) >= 50
    for actor in loaded.actors:
        assert fold(actor.name) in entities, actor
        assert fold(actor.name) in text, actor
        assert 1 <= len(actor.aliases) <= 4, actor
    kinds = {actor.kind for actor in loaded.actors}
    assert kinds == {"person", "org", "place"}
    persons = [actor for actor in loaded.actors if actor.kind == "person" and " " in actor.name]
    # A person is also found by the surname alone, as the press names them on second mention.
    assert all(
        actor.name.split()[-1] in actor.aliases
        for actor in persons
        if len(actor.name.split()[-1]) >= 4
    )
