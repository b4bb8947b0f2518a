"""Per-article matching cost as the rule set grows from 10 to 100,000 rules.

    python -m bench.match [--quick]

Articles are annotated once with the real French model; then only `match.evaluate` is timed,
against generated rule sets (actors with aliases, phrases, exact acronyms, weights; any/all/
none/near) of each size. Prints compile time, compiled memory, the median cost per article,
its ratio to the 10-rule cost (target <= 2x at 100k), and how many rules each article woke
(candidates) and matched.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

from bench.corpus import actor_pool, make_articles, make_rules
from bench.report import Result, record
from monitor.match.evaluate import compile_rules, evaluate
from monitor.model import Annotations, Article
from monitor.nlp import Annotator

SIZES = (10, 100, 1_000, 10_000, 100_000)
QUICK_SIZES = (10, 100, 1_000, 10_000)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.match", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer articles, up to 10k rules")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    rounds = 3 if args.quick else 5
    pool = actor_pool()
    articles = make_articles(20 if args.quick else 60, pool)
    started = time.perf_counter()
    with Annotator() as annotator:
        notes = annotator.annotate(articles, with_entities=True)
    words = sum(len(a.body.split()) for a in articles) / len(articles)
    print(
        f"{len(articles)} articles of ~{words:.0f} words, annotated once in "
        f"{time.perf_counter() - started:.1f} s; {rounds} timed rounds per size\n"
    )
    print(
        f"{'rules':>8} {'compile s':>10} {'memory MB':>10} {'ms/article':>11} {'ratio':>6} "
        f"{'pass ms':>8} {'ratio':>6} {'candidates':>11} {'matches':>8}"
    )
    first: dict[str, float] = {}
    for size in sizes:
        row = _measure(size, pool, articles, notes, rounds)
        first = first or row
        print(
            f"{size:>8} {row['compile_s']:>10.2f} {row['memory_mb']:>10.1f} "
            f"{row['ms']:>11.3f} {row['ms'] / first['ms']:>5.2f}x "
            f"{row['pass_ms']:>8.3f} {row['pass_ms'] / first['pass_ms']:>5.2f}x "
            f"{row['candidates']:>11.1f} {row['matches']:>8.1f}"
        )
        ratio = row["ms"] / first["ms"]
        record(
            Result("match", f"{size:,} rules: ms/article", f"{row['ms']:.2f}"),
            Result(
                "match",
                f"{size:,} rules: cost vs 10 rules",
                f"x{ratio:.2f} (pass x{row['pass_ms'] / first['pass_ms']:.2f})",
                "<= x2" if size == max(sizes) else "",
                ratio <= 2 if size == max(sizes) else None,
            ),
        )
    print(
        "\nms/article: all of match.evaluate; pass ms: the multi-pattern pass and the choice of"
        "\ncandidate rules only. candidates: rules woken per article; matches: rules matched."
    )


def _measure(
    size: int,
    pool: tuple,
    articles: list[Article],
    notes: list[Annotations],
    rounds: int,
) -> dict[str, float]:
    rules = make_rules(size, pool)
    gc.collect()
    started = time.perf_counter()
    compiled = compile_rules(rules)
    compile_s = time.perf_counter() - started
    del compiled
    gc.collect()
    tracemalloc.start()
    compiled = compile_rules(rules)
    memory_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    pairs = list(zip(articles, notes, strict=True))
    matches = sum(len(evaluate(a, n, compiled)) for a, n in pairs)  # also warms the caches
    candidates = sum(len(compiled.candidates(compiled.index.find(n))) for n in notes)
    timings, passes = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for article, note in pairs:
            evaluate(article, note, compiled)
        timings.append((time.perf_counter() - started) / len(pairs) * 1000)
        started = time.perf_counter()
        for note in notes:
            compiled.candidates(compiled.index.find(note))
        passes.append((time.perf_counter() - started) / len(pairs) * 1000)
    return {
        "compile_s": compile_s,
        "memory_mb": memory_mb,
        "ms": statistics.median(timings),
        "pass_ms": statistics.median(passes),
        "candidates": candidates / len(pairs),
        "matches": matches / len(pairs),
    }


if __name__ == "__main__":
    main()
