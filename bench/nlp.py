"""NLP throughput and memory on real French articles: the annotator against raw spaCy.

    python -m bench.nlp [--quick]

Articles are `bench.workload.long_articles` (~500 words joined from the items of one real
feed). The reference is raw `nlp.pipe` with exactly the daemon's components, on 2 processes
forked from the same preloaded server, each given half the texts; the `Annotator` with 2
workers does the same work plus turning Docs into `Annotations` and shipping them back (target:
>= 0.8 of raw). Three ways of running NER: on every article, never, and through the entity gate
of a `bench.workload.rule_set` (its share of articles that ran NER is printed). Figures are wall
times (two processes: CPU time of one would hide the other), medians of the rounds with min
and max. Memory is the peak over the run of RSS and of PSS summed over this process, the fork
server and the workers (PSS splits pages shared copy-on-write between those sharing them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from bench.report import Result, record
from bench.workload import long_articles, rule_set
from monitor.match import entity_gate
from monitor.model import FIELDS, Article
from monitor.nlp import ENTITY_COMPONENTS, Annotator, load_pipeline
from monitor.pipeline.analyse import annotate_gated
from monitor.text import truncate

BATCH_SIZE = 8
MAX_CHARS = 20_000
WORKERS = 2
RULES = 1_000
PRELOAD = "monitor.nlp.preload"  # the module the annotator's fork server preloads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.nlp", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 articles, 3 rounds")
    args = parser.parse_args(argv)
    articles = long_articles(40 if args.quick else 120)
    rounds = 3 if args.quick else 5
    texts = _texts(articles)
    words = sum(len(text.split()) for text in texts)
    n = len(articles)
    gate = entity_gate(rule_set(RULES))
    gated_share = sum(map(gate.needs_entities, articles)) / len(articles)
    print(f"{len(articles)} articles, {words / len(articles):.0f} words each; {WORKERS} workers,")
    print(f"batch_size {BATCH_SIZE}; medians of {rounds} rounds (min-max), wall time")
    print(f"gate of {RULES} workload rules: {len(gate.keys)} keys, NER on {gated_share:.0%}\n")
    with _peak_memory() as peak:
        raw = {ner: _raw(texts, ner, rounds) for ner in (True, False)}
        with Annotator(max_chars=MAX_CHARS, batch_size=BATCH_SIZE, workers=WORKERS) as annotator:
            annotator.warm_up()
            timed = {
                "ner on every article": _rounds(
                    lambda: annotator.annotate(articles, with_entities=True), rounds
                ),
                "no ner": _rounds(
                    lambda: annotator.annotate(articles, with_entities=False), rounds
                ),
                "ner where the gate says": _rounds(
                    lambda: annotate_gated(annotator, articles, gate), rounds
                ),
            }
    results = [
        _throughput("raw nlp.pipe, ner", raw[True], len(articles)),
        _throughput("raw nlp.pipe, no ner", raw[False], len(articles)),
        _versus("Annotator, ner on every article", timed["ner on every article"], raw[True], n),
        _versus("Annotator, no ner", timed["no ner"], raw[False], n),
        _versus("Annotator, gated ner vs raw ner", timed["ner where the gate says"], raw[True], n),
        _cost("gated ner cost vs no ner", timed["ner where the gate says"], timed["no ner"]),
        Result("nlp", "share of articles that ran ner (gate)", f"{gated_share:.0%}"),
        Result(
            "nlp",
            f"peak memory, fork server + {WORKERS} workers",
            f"PSS {peak.pss_mb:.0f} MB, RSS {peak.rss_mb:.0f} MB",
            "PSS <= 500 MB",
            peak.pss_mb <= 500,
        ),
        Result(
            "nlp",
            "peak memory, this process (rules, gate, corpus)",
            f"PSS {peak.own_pss_mb:.0f} MB, RSS {peak.own_rss_mb:.0f} MB",
        ),
    ]
    for result in results:
        print(f"{result.metric:<44} {result.value:<40} {result.target}")
    record(*results)


def _texts(articles: list[Article]) -> list[str]:
    return [
        text
        for article in articles
        for name in FIELDS
        if (text := truncate(article.field_text(name), MAX_CHARS)).strip()
    ]


def _raw(texts: list[str], with_entities: bool, rounds: int) -> list[float]:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])
    halves = [texts[index::WORKERS] for index in range(WORKERS)]
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        list(pool.map(_pipe, [[]] * WORKERS, [with_entities] * WORKERS))  # start both
        return _rounds(lambda: list(pool.map(_pipe, halves, [with_entities] * WORKERS)), rounds)


def _pipe(texts: list[str], with_entities: bool) -> int:
    nlp = load_pipeline("fr")
    disabled = [] if with_entities else [n for n in ENTITY_COMPONENTS if n in nlp.pipe_names]
    count = 0
    with nlp.memory_zone():
        for _doc in nlp.pipe(texts, batch_size=BATCH_SIZE, disable=disabled):
            count += 1
    return count


def _rounds(work: Callable[[], object], rounds: int) -> list[float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _throughput(metric: str, seconds: list[float], articles: int) -> Result:
    rates = [articles / s for s in seconds]
    return Result("nlp", metric, f"{_spread(rates)} art/s")


def _versus(metric: str, seconds: list[float], raw: list[float], articles: int) -> Result:
    ratio = statistics.median(raw) / statistics.median(seconds)
    rates = _spread([articles / s for s in seconds])
    return Result("nlp", metric, f"x{ratio:.2f} of raw, {rates} art/s", ">= x0.8", ratio >= 0.8)


def _cost(metric: str, seconds: list[float], baseline: list[float]) -> Result:
    ratio = statistics.median(seconds) / statistics.median(baseline)
    return Result("nlp", metric, f"x{ratio:.2f} the time of no ner")


class _Peak:
    pss_mb = rss_mb = 0.0  # the descendants: fork server and workers
    own_pss_mb = own_rss_mb = 0.0


@contextmanager
def _peak_memory(every_s: float = 0.2) -> Iterator[_Peak]:
    """The peaks over the block of PSS and RSS: summed over this process's descendants, and
    of this process alone."""
    peak = _Peak()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every_s):
            own, *descendants = _family(multiprocessing.current_process().pid or 0)
            pss = rss = 0
            for pid in descendants:
                memory = _memory_kb(pid)
                pss, rss = pss + memory.get("Pss", 0), rss + memory.get("Rss", 0)
            peak.pss_mb, peak.rss_mb = max(peak.pss_mb, pss / 1024), max(peak.rss_mb, rss / 1024)
            memory = _memory_kb(own)
            peak.own_pss_mb = max(peak.own_pss_mb, memory.get("Pss", 0) / 1024)
            peak.own_rss_mb = max(peak.own_rss_mb, memory.get("Rss", 0) / 1024)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def _family(pid: int) -> list[int]:
    """`pid` and its descendants (the fork server's workers are its children, not ours)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _family(int(child))
    return found


def _memory_kb(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return {}  # a process that ended between the listing and the read
    return {line.split()[0].rstrip(":"): int(line.split()[1]) for line in lines}


if __name__ == "__main__":
    main()
