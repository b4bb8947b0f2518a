"""The per-article CPU cost of event stories and of the spike check, at realistic store sizes:
`python -m bench.stories [--quick]` (or `python -m bench --only stories`).

Real text: the corpus's 1,334 French items, annotated once with the real model (lemmas, no
entities, as most articles are analysed). A SQLite store in a temporary folder is first
filled with N stored stories (1,000 and 20,000: a few days and a few weeks of a desk's feeds),
whose profiles are the real items' event vectors under new ids, spread over the 72 h window
so that every lookup finds full index buckets; then held-out items are placed one by one
through `pipeline.place_one` (term tallies, the candidate read through the term index, the
decision, the write), CPU time per article. The spike check is timed the same way: one
`SpikeWatch.check` per analysed batch of 8 articles for 10 spike rules, the store holding N
(rule, story, outlet) rows spread over the 14-day baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import workload
from bench.report import measured, record
from monitor.ingest import STORY_WINDOW as COPY_WINDOW
from monitor.ingest import NearDuplicates
from monitor.metrics import Metrics
from monitor.model import Annotations, Article, Match, Priority
from monitor.nlp import Annotator
from monitor.pipeline.spikes import SpikeWatch
from monitor.pipeline.stories import place_one
from monitor.rules import load_rules
from monitor.store import Store, StoredStory, TermTally
from monitor.stories import TermCounts, article_terms, event_features, grown

NOW = datetime(2026, 3, 9, 12, tzinfo=UTC)
SIZES = (1_000, 20_000)
QUICK_SIZES = (1_000, 5_000)
PLACED = 200  # held-out articles placed per size
BATCH = 8  # articles per analysed batch (nlp.batch_size's default)
SPIKE_RULES = 10
ROUNDS = 5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stories", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller stores, fewer rounds")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    rounds = 2 if args.quick else ROUNDS
    items = workload.feed_items()
    started = time.process_time()
    with Annotator() as annotator:
        notes = annotator.annotate(items, with_entities=False)
    print(f"{len(items)} corpus items annotated in {time.process_time() - started:.0f} s CPU\n")
    held_out = list(zip(items[-PLACED:], notes[-PLACED:], strict=True))
    prefill = list(zip(items[:-PLACED], notes[:-PLACED], strict=True))
    print(f"{'stories':>8}  {'step':<34} {'median ms':>10} {'min':>8} {'max':>8}")
    for size in sizes:
        placing = _placement_ms(size, prefill, held_out, rounds)
        spikes = [_spike_check_ms(size, held_out) for _ in range(rounds)]
        for name, samples in (
            ("event placement, per article", placing),
            ("spike check, per article", spikes),
        ):
            print(
                f"{size:>8}  {name:<34} {_median(samples):>10.2f} {min(samples):>8.2f} "
                f"{max(samples):>8.2f}"
            )
            record(measured("stories", f"{size} stored stories: {name}", samples, "ms"))


def _placement_ms(
    size: int,
    prefill: list[tuple[Article, Annotations]],
    held_out: list[tuple[Article, Annotations]],
    rounds: int,
) -> list[float]:
    """Per round, the median CPU ms to place one held-out article in a store of `size`
    stories (filled once: each round adds only its few hundred articles)."""
    with tempfile.TemporaryDirectory(prefix="monitor-bench-stories-") as folder:
        store = Store(Path(folder) / "monitor.db")
        try:
            _fill_stories(store, size, prefill)
            return [_place_round(store, held_out, run) for run in range(rounds)]
        finally:
            store.close()


def _place_round(store: Store, held_out: list[tuple[Article, Annotations]], run: int) -> float:
    fresh = [
        replace(article, key=f"new-{run}-{n}", story_id=None, published_at=NOW)
        for n, (article, _) in enumerate(held_out)
    ]
    # The same texts each round: the near-duplicate index would join them, so they are
    # stored without fingerprints and every one goes through the event placement.
    fresh = [replace(article, signature=b"") for article in fresh]
    store.add_articles(fresh, NOW, linker=NearDuplicates(), story_since=NOW - COPY_WINDOW)
    costs = []
    for article, (_, note) in zip(fresh, held_out, strict=True):
        start = time.thread_time()
        place_one(store, article, note, NOW)
        costs.append((time.thread_time() - start) * 1000)
    return _median(costs)


def _fill_stories(store: Store, size: int, prefill: list[tuple[Article, Annotations]]) -> None:
    """`size` stories from the real items' vectors, their last articles spread over 72 h."""
    for n in range(size):
        article, note = prefill[n % len(prefill)]
        found = article_terms(note)
        everywhere, in_feed = store.term_tallies(article.feed_id, found.terms)
        features = event_features(found, _counts(everywhere), _counts(in_feed))
        seen = NOW - timedelta(hours=72 * n / size)
        profile = grown(None, f"story-{n}", features, seen)
        stored = StoredStory(profile.story_id, profile.terms, profile.names, 1, seen, seen)
        store.save_placement(f"old-{n}", article.feed_id, stored, profile.keys, found.terms, seen)


def _counts(tally: TermTally) -> TermCounts:
    return TermCounts(tally.articles, tally.holding)


def _spike_check_ms(size: int, held_out: list[tuple[Article, Annotations]]) -> float:
    """The median CPU ms per article of one spike check per batch of `BATCH` articles."""
    with tempfile.TemporaryDirectory(prefix="monitor-bench-spikes-") as folder:
        rules = load_rules(_spike_rules(Path(folder)))
        store = Store(Path(folder) / "monitor.db")
        try:
            history = [
                replace(
                    held_out[n % len(held_out)][0],
                    key=f"old-{n}",
                    story_id=f"story-{n}",
                    feed_id=f"feed-{n % 40}",
                    published_at=NOW - timedelta(days=14 * n / size),
                )
                for n in range(size)
            ]
            store.record_rule_stories(history, [_match(a, n) for n, a in enumerate(history)])
            watch = SpikeWatch(store=store, metrics=Metrics())
            costs = []
            for start in range(0, len(held_out), BATCH):
                batch = [
                    replace(article, key=f"new-{start + i}", story_id=f"new-{start + i}")
                    for i, (article, _) in enumerate(held_out[start : start + BATCH])
                ]
                matches = [_match(a, start + i) for i, a in enumerate(batch)]
                began = time.thread_time()
                watch.check(rules, batch, matches, NOW)
                costs.append((time.thread_time() - began) * 1000 / len(batch))
            return _median(costs)
        finally:
            store.close()


def _spike_rules(folder: Path) -> Path:
    rules = folder / "rules"
    rules.mkdir()
    for n in range(SPIKE_RULES):
        (rules / f"topic-{n}.yaml").write_text(
            f"id: topic-{n}\nname: Topic {n}\nmatch:\n  any: [mot{n}]\nspike: true\n", "utf-8"
        )
    return rules


def _match(article: Article, n: int) -> Match:
    rule = n % SPIKE_RULES
    return Match(f"topic-{rule}", f"Topic {rule}", article.key, Priority.NORMAL, 1.0, ())


def _median(values: list[float]) -> float:
    return statistics.median(values)


if __name__ == "__main__":
    main()
