"""The relevance set scored: hand labels × the real pipeline path → per-rule P, R, TP/FP/FN.

Owns reading `labels.yaml`, running the labelled corpus items through parse → normalize →
annotate (the real French model, one batch) → compile → evaluate, and the per-rule table.
The corpus lives beside the repository (`../shared/corpus/fr-feeds/`), as in CI.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ruamel.yaml import YAML

from monitor.ingest import normalize_entries, parse_feed
from monitor.match import compile_rules, evaluate
from monitor.model import Article, Feed, FetchResult, RuleSet
from monitor.nlp import Annotator
from monitor.rules import load_rules

HERE = Path(__file__).parent
REPO = HERE.parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "fr-feeds"
LABELS = HERE / "labels.yaml"
RULE_FOLDERS = (REPO / "rules", HERE / "rules")
NOW = datetime(2025, 2, 10, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Item:
    feed: str
    guid: str
    title: str
    relevant: Mapping[str, bool]
    why: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    item: Item
    matched: frozenset[str]  # rule ids the engine matched


@dataclass(frozen=True, slots=True)
class RuleScore:
    rule_id: str
    tp: int
    fp: int
    fn: int
    false_positives: tuple[Item, ...]
    false_negatives: tuple[Item, ...]

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def load_items(path: Path = LABELS) -> list[Item]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [
        Item(
            feed=entry["feed"],
            guid=entry["guid"],
            title=entry["title"],
            relevant=dict(entry["relevant"]),
            why=dict(entry.get("why") or {}),
        )
        for entry in data["items"]
    ]


def load_rule_set() -> RuleSet:
    """The shipped rules and the three briefs, loaded from one folder as the daemon would."""
    with tempfile.TemporaryDirectory() as folder:
        for source in RULE_FOLDERS:
            for path in source.glob("*.yaml"):
                shutil.copy(path, folder)
        return load_rules(Path(folder))


def feed_articles(feed_file: Path) -> list[Article]:
    """Every entry of a saved feed file, parsed and normalized as a poll would."""
    feed = Feed(id=feed_file.stem, url=feed_file.as_uri(), language="fr")
    fetched = FetchResult(
        feed_id=feed.id,
        url=feed_file.as_uri(),
        status=200,
        body=feed_file.read_bytes(),
        headers=(),
        fetched_at=NOW,
    )
    return normalize_entries(parse_feed(fetched), feed, NOW, max_entries=10_000)


def labelled_articles(items: Sequence[Item], corpus: Path = CORPUS) -> list[Article]:
    """The article of each item, in order; a label that names no entry is an error."""
    by_guid: dict[tuple[str, str], Article] = {}
    for feed in sorted({item.feed for item in items}):
        for article in feed_articles(corpus / feed):
            if article.guid is not None:
                by_guid[(feed, article.guid)] = article
    missing = [item for item in items if (item.feed, item.guid) not in by_guid]
    if missing:
        names = "; ".join(f"{item.feed} {item.guid}" for item in missing[:5])
        raise LookupError(
            f"{len(missing)} labelled items are not in the corpus ({names}): "
            "relabel them or restore the feed files"
        )
    return [by_guid[(item.feed, item.guid)] for item in items]


def run(items: Sequence[Item], annotator: Annotator, rules: RuleSet) -> list[Outcome]:
    """What the engine matches on each labelled item: one batch through the real model."""
    articles = labelled_articles(items)
    compiled = compile_rules(rules)
    notes = annotator.annotate(articles, with_entities=compiled.needs_entities)
    return [
        Outcome(item, frozenset(m.rule_id for m in evaluate(article, note, compiled)))
        for item, article, note in zip(items, articles, notes, strict=True)
    ]


def scores(outcomes: Iterable[Outcome], rule_ids: Iterable[str]) -> dict[str, RuleScore]:
    outcomes = list(outcomes)
    table = {}
    for rule_id in rule_ids:
        fps = tuple(
            o.item for o in outcomes if rule_id in o.matched and not o.item.relevant[rule_id]
        )
        fns = tuple(
            o.item for o in outcomes if rule_id not in o.matched and o.item.relevant[rule_id]
        )
        tp = sum(1 for o in outcomes if rule_id in o.matched and o.item.relevant[rule_id])
        table[rule_id] = RuleScore(rule_id, tp, len(fps), len(fns), fps, fns)
    return table


def _figure(value: float | None) -> str:
    return "  –  " if value is None else f"{value:.3f}"


def format_table(table: Mapping[str, RuleScore], items: int) -> str:
    lines = [
        f"relevance set: {items} hand-labelled items",
        f"{'rule':<26} {'P':>6} {'R':>6} {'TP':>4} {'FP':>4} {'FN':>4}",
    ]
    for score in table.values():
        lines.append(
            f"{score.rule_id:<26} {_figure(score.precision):>6} {_figure(score.recall):>6} "
            f"{score.tp:>4} {score.fp:>4} {score.fn:>4}"
        )
    return "\n".join(lines)


def format_errors(table: Mapping[str, RuleScore]) -> str:
    lines = []
    for score in table.values():
        for kind, found in (("FP", score.false_positives), ("FN", score.false_negatives)):
            for item in found:
                why = item.why.get(score.rule_id, "")
                lines.append(f"{score.rule_id} {kind} {item.feed}: {item.title}")
                if why:
                    lines.append(f"    label: {why}")
    return "\n".join(lines)
