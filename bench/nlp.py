"""NLP throughput: articles/s and words/s for the configured pipeline, 1 and 2 workers.

    python -m bench.nlp [--quick]

About 200 French articles of ~500 words (generated from the seed article and a newsroom
vocabulary) go through `Annotator.annotate`, with and without the entity recognizer (it runs
only when a rule has `require_entity`). The reference is raw `nlp.pipe` over the same texts
with the same components in one process: the ratio (target >= 0.8) is what converting Docs to
`Annotations` and the worker pool cost. Models are loaded before timing starts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from pathlib import Path

from bench.corpus import actor_pool, make_articles
from bench.report import Result, record
from monitor.model import FIELDS, Article
from monitor.nlp import ENTITY_COMPONENTS, Annotator, load_pipeline
from monitor.text import truncate

BATCH_SIZE = 8
MAX_CHARS = 20_000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.nlp", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 articles instead of 200")
    args = parser.parse_args(argv)
    articles = make_articles(40 if args.quick else 200, actor_pool(), french_share=1.0)
    texts = [
        text
        for article in articles
        for name in FIELDS
        if (text := truncate(article.field_text(name), MAX_CHARS)).strip()
    ]
    words = sum(len(text.split()) for text in texts)
    print(f"{len(articles)} French articles, {words / len(articles):.0f} words each on average")
    print(f"batch_size {BATCH_SIZE}; each figure is the best of 3 runs\n")
    print(
        f"{'pipeline':<36} {'workers':>7} {'articles/s':>11} {'words/s':>9} "
        f"{'vs raw':>7} {'RSS MB':>7}"
    )
    for with_entities in (True, False):
        label = "senter+lemmas+ner" if with_entities else "senter+lemmas (no ner)"
        raw_s = _raw_pipe(texts, with_entities)
        _row(f"raw nlp.pipe {label}", 1, len(articles), words, raw_s, raw_s, _own_rss_mb())
        for workers in (1, 2):
            seconds, rss = _annotator(articles, workers, with_entities)
            _row(f"Annotator {label}", workers, len(articles), words, seconds, raw_s, rss)
    print(
        "\nvs raw: throughput over raw nlp.pipe in one process (for 2 workers, over twice"
        "\nthat: the ideal). RSS: this process, plus the workers when there are any."
    )


def _row(
    label: str, workers: int, articles: int, words: int, seconds: float, raw_s: float, rss: float
) -> None:
    ideal = raw_s / workers
    record(
        Result(
            "nlp",
            f"{label}, {workers} worker{'s' if workers > 1 else ''}",
            f"{articles / seconds:.1f} art/s, {words / seconds:,.0f} words/s, "
            f"x{ideal / seconds:.2f}",
            ">= x0.8 of raw" if label.startswith("Annotator") else "",
            ideal / seconds >= 0.8 if label.startswith("Annotator") else None,
        )
    )
    print(
        f"{label:<36} {workers:>7} {articles / seconds:>11.1f} {words / seconds:>9.0f} "
        f"{ideal / seconds:>6.2f}x {rss:>7.0f}"
    )


def _raw_pipe(texts: list[str], with_entities: bool) -> float:
    nlp = load_pipeline("fr")
    disabled = [] if with_entities else [n for n in ENTITY_COMPONENTS if n in nlp.pipe_names]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with nlp.memory_zone():
            for _doc in nlp.pipe(texts, batch_size=BATCH_SIZE, disable=disabled):
                pass
        best = min(best, time.perf_counter() - started)
    return best


def _annotator(articles: list[Article], workers: int, with_entities: bool) -> tuple[float, float]:
    with Annotator(max_chars=MAX_CHARS, batch_size=BATCH_SIZE, workers=workers) as annotator:
        annotator.warm_up()
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            annotator.annotate(articles, with_entities=with_entities)
            best = min(best, time.perf_counter() - started)
        rss = _own_rss_mb() + sum(_rss_mb(p.pid) for p in multiprocessing.active_children())
    return best, rss


def _own_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb(pid: int | None) -> float:
    status = Path(f"/proc/{pid}/status")
    for line in status.read_text().splitlines() if status.exists() else ():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
