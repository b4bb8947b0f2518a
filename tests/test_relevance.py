"""Precision and recall of the shipped rules and three desk briefs on hand-labelled real news.

358 items of ../shared/corpus/fr-feeds/ were labelled by reading them (tests/relevance/
labels.yaml); here they go through parse → normalize → the real French model (one batch) →
compile → evaluate. Each rule must stay at or above the floor the engine reached when the set
was built, minus 0.02. `pytest -s` prints the table; `python -m tests.relevance.report` also
lists every false positive and negative.
"""

import pytest

from tests.fixtures_nlp import shared_annotator
from tests.relevance.scoring import (
    CORPUS,
    Outcome,
    format_table,
    labelled_articles,
    load_items,
    load_rule_set,
    run,
    scores,
)

# (precision, recall) floors: measured on 358 items, minus 0.02. Measured: consumer-scams
# P 0.467 R 1.000 (7/8/0), gaza-war P 0.783 R 1.000 (36/10/0), weather-france P 0.899
# R 0.920 (80/9/7; R was 0.908 before rule terms found their inflected forms, which brought
# in "Intempéries" at the start of a title). Raise a floor when a fix lifts the figure.
FLOORS = {
    "consumer-scams": (0.44, 0.98),
    "gaza-war": (0.76, 0.98),
    "weather-france": (0.87, 0.90),
}
# The corpus holds no story on Games security or Moroccan-French security cooperation: for
# these rules the set can only show that they stay quiet on unrelated news.
NO_POSITIVES = ("jo2024-security", "morocco-france-security")

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus is not beside the repository ({CORPUS})"
)


@pytest.fixture(scope="module")
def items():
    return load_items()


@pytest.fixture(scope="module")
def rules():
    return load_rule_set()


@pytest.fixture(scope="module")
def table(items, rules) -> dict:
    outcomes: list[Outcome] = run(items, shared_annotator(), rules)
    result = scores(outcomes, sorted(r.id for r in rules.rules))
    print("\n" + format_table(result, len(items)))
    return result


def test_every_item_is_labelled_for_every_rule(items, rules):
    rule_ids = {r.id for r in rules.rules}
    assert len(items) >= 300
    assert len({(i.feed, i.guid) for i in items}) == len(items), "an item is labelled twice"
    for item in items:
        assert set(item.relevant) == rule_ids, f"{item.feed} {item.title!r}"


def test_labels_name_the_entries_they_were_written_for(items):
    # A guid that now names another story would silently score the wrong text.
    for item, article in zip(items, labelled_articles(items), strict=True):
        assert article.title == item.title, f"{item.feed} {item.guid}"


def test_each_brief_has_positives_to_measure(items):
    for rule_id in FLOORS:
        assert sum(i.relevant[rule_id] for i in items) >= 7, rule_id


@pytest.mark.parametrize("rule_id", sorted(FLOORS))
def test_precision_and_recall_stay_above_the_floor(table, rule_id):
    score = table[rule_id]
    precision_floor, recall_floor = FLOORS[rule_id]
    assert score.precision is not None and score.precision >= precision_floor, (
        f"{rule_id}: precision {score.precision} < {precision_floor}; false positives: "
        + "; ".join(i.title for i in score.false_positives)
    )
    assert score.recall is not None and score.recall >= recall_floor, (
        f"{rule_id}: recall {score.recall} < {recall_floor}; missed: "
        + "; ".join(i.title for i in score.false_negatives)
    )


@pytest.mark.parametrize("rule_id", NO_POSITIVES)
def test_shipped_rules_raise_no_false_alarm_on_unrelated_news(table, items, rule_id):
    assert not any(i.relevant[rule_id] for i in items)
    assert table[rule_id].fp == 0, "; ".join(i.title for i in table[rule_id].false_positives)
