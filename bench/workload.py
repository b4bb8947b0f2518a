"""The realistic workload every benchmark shares: real French feed items, ~500-word bodies
made from them, and watch rules written the way desks write them, drawn from the same corpus.

Articles go through the project's own parser and normaliser (`monitor.ingest`), so their
text is what the daemon sees. Rules are YAML files loaded by `monitor.rules.load_rules`; what
they contain is bench.rulegen's job, the corpus statistics bench.vocabulary's. Nothing here
downloads anything or writes inside the repository.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.rulegen import MIX, RuleWriter
from bench.vocabulary import corpus_entities, vocabulary
from monitor.ingest import normalize_entries, parse_feed
from monitor.model import Article, Feed, FetchResult, RuleSet
from monitor.rules import load_rules

__all__ = [
    "CORPUS_DIR",
    "MIX",
    "feed_ids",
    "feed_items",
    "long_articles",
    "rule_set",
    "write_rule_set",
]

CORPUS_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "fr-feeds"
# The corpus was captured in February 2025: "now" for every article, so runs are identical.
NOW = datetime(2025, 2, 10, 12, 0, tzinfo=UTC)


def _require_corpus() -> None:
    if not CORPUS_DIR.is_dir():
        raise FileNotFoundError(
            f"the shared corpus is not beside the repository: '{CORPUS_DIR}' is missing "
            "(check out 'shared/' next to the repository, see shared/corpus/README.md)"
        )


def feed_ids() -> tuple[str, ...]:
    """The corpus feeds' ids (file names without '.xml'), the ids `sources:` may name."""
    _require_corpus()
    return tuple(path.stem for path in sorted(CORPUS_DIR.glob("*.xml")))


@functools.cache
def _items_by_feed() -> tuple[tuple[str, tuple[Article, ...]], ...]:
    _require_corpus()
    feeds = []
    for path in sorted(CORPUS_DIR.glob("*.xml")):
        result = FetchResult(path.stem, path.as_uri(), 200, path.read_bytes(), (), NOW)
        feed = Feed(id=path.stem, url=path.as_uri(), language="fr")
        articles = normalize_entries(parse_feed(result), feed, NOW, max_entries=10_000)
        feeds.append((path.stem, tuple(articles)))
    return tuple(feeds)


def feed_items() -> list[Article]:
    """Every corpus item as the daemon stores it (title, summary, body), feed by feed; keys are
    the normaliser's (stable across runs and unique in the corpus)."""
    return [article for _, articles in _items_by_feed() for article in articles]


def long_articles(count: int | None = None, *, words: int = 500) -> list[Article]:
    """Bodies of about `words` words, each joining consecutive items of one feed (one block per
    item: its title, then its summary and body); the title is the first item's.

    Feeds take turns (the first body of every feed, then the second...), so a small `count`
    still spans many outlets. Without `count`, every body the corpus makes at that length; a
    larger `count` starts again three items further on in every feed, which gives new bodies
    from the same text.
    """
    feeds = [articles for _, articles in _items_by_feed()]
    made: list[Article] = []
    shift = 0
    while count is None or len(made) < count:
        rounds = [_bodies(items[shift:] + items[:shift], words) for items in feeds]
        batch = [body for turn in _take_turns(rounds) for body in turn]
        made += [_numbered(body, len(made) + index) for index, body in enumerate(batch)]
        if count is None or not batch:
            break
        shift += 3
    return made if count is None else made[:count]


def _bodies(items: tuple[Article, ...], words: int) -> list[list[Article]]:
    groups: list[list[Article]] = []
    current: list[Article] = []
    size = 0
    for item in items:
        current.append(item)
        size += len(_block(item).split())
        if size >= words:
            groups.append(current)
            current, size = [], 0
    return groups


def _take_turns(rounds: list[list[list[Article]]]) -> list[list[list[Article]]]:
    longest = max((len(bodies) for bodies in rounds), default=0)
    return [[bodies[turn] for bodies in rounds if turn < len(bodies)] for turn in range(longest)]


def _block(item: Article) -> str:
    return "\n".join(part for part in (item.title, item.summary, item.body) if part)


def _numbered(group: list[Article], index: int) -> Article:
    first = group[0]
    body = "\n\n".join(_block(item) for item in group)
    return Article(
        key=f"long-{index:04d}-{first.key}",
        feed_id=first.feed_id,
        url=first.url,
        guid=None,
        title=first.title,
        summary="",
        body=body,
        published_at=first.published_at,
        fetched_at=first.fetched_at,
        language=first.language,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
    )


@functools.cache
def _writer() -> RuleWriter:
    items = feed_items()
    return RuleWriter(vocabulary(items), corpus_entities(items), feed_ids())


def write_rule_set(folder: Path, size: int, *, seed: int = 0) -> Path:
    """Write `size` rules, one rule per file, under `folder`/"rules", plus the actors they use
    in rules/actors.yaml; return the rules folder. Same `size` and `seed`, same bytes.

    The loader reads one rule per file (docs/rules.md), so 100,000 rules are 100,000 files
    (about 10 s to write). The mix of shapes is `bench.rulegen.MIX` (its docstring gives it).
    """
    if size < 1:
        raise ValueError(f"a rule set needs at least one rule, got size {size}")
    return _writer().write(folder / "rules", size, seed=seed)


@functools.cache
def rule_set(size: int, *, seed: int = 0) -> RuleSet:
    """The rules `write_rule_set(size, seed=seed)` writes, loaded by `monitor.rules.load_rules`
    (loaded once per process: 100,000 files take minutes to load)."""
    with tempfile.TemporaryDirectory(prefix="monitor-bench-rules-") as folder:
        return load_rules(write_rule_set(Path(folder), size, seed=seed))
