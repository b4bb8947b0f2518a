"""What issue 11's matching costs on real French news, each change against itself turned off.

    python -m bench.realnews [--quick]

All 1,334 items of ../shared/corpus/fr-feeds/ (title + summary, as the feeds carry them) go
through the project's parser and normaliser, then the French model; the rules are the ones
analysts wrote: the shipped rules and the three briefs of the hand-labelled relevance set
(tests/relevance/rules/). Each figure is the median of several rounds with its min–max, and
each ratio compares two runs of this same process on the same articles:

- normalisation with language detection (no language declared) against a declared language;
- the spaCy pipeline with the block-boundary component against the same pipeline without it;
- matching with rule terms expanded to their inflected forms against plain terms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Result, record
from monitor.ingest import normalize_entries, parse_feed
from monitor.match import compile_rules, evaluate, patterns
from monitor.model import Annotations, Article, Feed, FetchResult, RuleSet
from monitor.nlp import HARD_BREAKS_COMPONENT, Annotator, load_pipeline
from monitor.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "fr-feeds"
RULE_FOLDERS = (ROOT / "rules", ROOT / "tests" / "relevance" / "rules")
NOW = datetime(2025, 2, 10, tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.realnews")
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 7
    if not CORPUS.is_dir():
        raise SystemExit(f"bench.realnews: the corpus is not beside the repository ({CORPUS})")
    results = [
        *_normalisation(rounds),
        *_sentence_boundaries(rounds),
        *_matching(rounds),
    ]
    record(*results)


def _documents() -> list[tuple[FetchResult, Feed]]:
    documents = []
    for path in sorted(CORPUS.glob("*.xml")):
        result = FetchResult(path.stem, path.as_uri(), 200, path.read_bytes(), (), NOW)
        documents.append((result, Feed(id=path.stem, url=path.as_uri())))
    return documents


def _articles(*, language: str | None) -> list[Article]:
    articles: list[Article] = []
    for result, feed in _documents():
        feed = Feed(id=feed.id, url=feed.url, language=language)
        articles += normalize_entries(parse_feed(result), feed, NOW, max_entries=1_000)
    return articles


def _normalisation(rounds: int) -> list[Result]:
    parsed = [(parse_feed(result), feed) for result, feed in _documents()]
    count = sum(len(document.entries) for document, _ in parsed)

    def normalise(language: str | None) -> Callable[[], None]:
        def run() -> None:
            for document, feed in parsed:
                declared = Feed(id=feed.id, url=feed.url, language=language)
                normalize_entries(document, declared, NOW, max_entries=1_000)

        return run

    normalise(None)()  # the detector's model loads once, outside the timing
    declared = _rounds(normalise("fr"), rounds)
    detected = _rounds(normalise(None), rounds)
    return [
        _report("normalise, language declared", declared, count, "ms/article"),
        _report("normalise, language detected", detected, count, "ms/article"),
        _ratio("language detection cost", detected, declared),
    ]


def _sentence_boundaries(rounds: int) -> list[Result]:
    texts = [
        text for article in _articles(language="fr") for text in (article.title, article.summary)
    ]
    nlp = load_pipeline("fr")
    words = sum(len(text.split()) for text in texts)
    disabled = ("ner", HARD_BREAKS_COMPONENT)

    def pipe(excluded: Sequence[str]) -> Callable[[], None]:
        def run() -> None:
            with nlp.select_pipes(disable=[name for name in excluded if name in nlp.pipe_names]):
                for _ in nlp.pipe(texts, batch_size=64):
                    pass

        return run

    with_breaks = _rounds(pipe(("ner",)), rounds)
    without = _rounds(pipe(disabled), rounds)
    return [
        _report("spaCy with block boundaries", with_breaks, words / 1000, "ms/1k words"),
        _report("spaCy without them", without, words / 1000, "ms/1k words"),
        _ratio("block-boundary cost", with_breaks, without),
    ]


def _matching(rounds: int) -> list[Result]:
    articles = _articles(language="fr")
    rules = _rule_set()
    with Annotator(workers=1) as annotator:
        notes = annotator.annotate(articles, with_entities=False)
    inflected_compile, inflected = _compile_and_match(rules, articles, notes, rounds)
    # The same rules with their terms standing for themselves only: expansion switched off
    # where the pattern index asks for it.
    real_inflections = patterns.inflections
    patterns.inflections = lambda word, language: (word,)  # type: ignore[assignment]
    try:
        plain_compile, plain = _compile_and_match(rules, articles, notes, rounds)
    finally:
        patterns.inflections = real_inflections  # type: ignore[assignment]
    count = len(articles)
    return [
        _report(f"match {len(rules.rules)} real rules, inflected", inflected, count, "ms/article"),
        _report(f"match {len(rules.rules)} real rules, plain", plain, count, "ms/article"),
        _ratio("inflected forms, match cost", inflected, plain),
        _report("compile, inflected (table loaded)", inflected_compile, 1, "ms"),
        _report("compile, plain", plain_compile, 1, "ms"),
    ]


def _rule_set() -> RuleSet:
    sets = [load_rules(folder) for folder in RULE_FOLDERS]
    return RuleSet(
        rules=tuple(rule for loaded in sets for rule in loaded.rules),
        actors=sets[0].actors,
    )


def _compile_and_match(
    rules: RuleSet, articles: list[Article], notes: list[Annotations], rounds: int
) -> tuple[list[float], list[float]]:
    compile_rules(rules)  # the lexicon loads once, outside the timing
    compiling = _rounds(lambda: compile_rules(rules), rounds)
    compiled = compile_rules(rules)

    def run() -> None:
        for article, note in zip(articles, notes, strict=True):
            evaluate(article, note, compiled)

    return compiling, _rounds(run, rounds)


def _rounds(work: Callable[[], None], rounds: int) -> list[float]:
    work()  # warm caches and allocators: the first round is never counted
    times = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return times


def _report(name: str, seconds: list[float], per: float, unit: str) -> Result:
    scaled = [1000 * value / per for value in seconds]
    median = statistics.median(scaled)
    spread = f"{min(scaled):.3f}–{max(scaled):.3f}"
    print(f"{name:<40} {median:9.3f} {unit:<12} ({spread}, {len(scaled)} rounds)", flush=True)
    return Result("realnews", name, f"{median:.3f} {unit} ({spread})")


def _ratio(name: str, measured: list[float], baseline: list[float]) -> Result:
    ratio = statistics.median(measured) / statistics.median(baseline)
    print(f"{name:<40} {ratio:9.3f} ×", flush=True)
    return Result("realnews", name, f"{ratio:.3f}x (medians of this run)")


if __name__ == "__main__":
    main()
