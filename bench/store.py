"""Insert + near-duplicate linking cost per article as the store grows from 10k to 5M rows.

    python -m bench.store [--quick] [--sizes 10000,100000,1000000,5000000] [--body-words N]

For each size a fresh SQLite store holds that many articles inside the 7-day story window
(the worst case). Half of the real corpus items (bench.workload) are stored through
`Store.add_articles`; the other rows are unrelated articles bulk-inserted by SQL with
`synchronous=OFF`: title and ~50-word summary cut from the corpus text at random word offsets
(real sizes, so the file per million means something), random keys and hashes shaped like
the normaliser's, and a random MinHash signature with its real band keys (the band keys of
unrelated articles are effectively random). A few hundred of those rows carry the real
signature of their text instead, so copies of them can be planted.

Timed, 3 runs of one poller batch through the real `Store.add_articles`: 200 articles, a
tenth copies of stored rows (half corpus items, half bulk rows; a word changed and an agency
tag added), the rest corpus items not stored. One untimed batch first warms the connection,
as a running daemon's is. Prints median, min and max CPU ms per article, the ratio to the
smallest size, the unrelated rows a lookup reads, the pages one batch writes per article
(counted from the WAL, so the machine's load cannot blur it), the copies linked to their
story, the file size per million articles and the fill time.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.report import Result, record
from bench.workload import NOW, feed_items
from monitor.ingest import STORY_WINDOW, NearDuplicates, band_keys, text_signature
from monitor.ingest.fingerprint import SIGNATURE_VALUES, band_keys_of_signatures
from monitor.model import Article
from monitor.store import Store

SIZES = (10_000, 100_000, 1_000_000, 5_000_000)
QUICK_SIZES = (10_000, 100_000)
RUNS = 3
BATCH = 200
COPIES = BATCH // 10
TARGET_RATIO = 1.5
FEEDS = 2_000
# Bulk rows whose real signature is computed, so copies of them can be planted.
PLANTED = 200
_CHUNK = 250_000
_WINDOW_S = int(STORY_WINDOW.total_seconds()) - 3600
_TITLE_WORDS = (8, 15)
_SUMMARY_WORDS = (35, 66)  # mean 50, like the corpus's items


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows only")
    parser.add_argument("--sizes", help="comma-separated row counts (default 10k to 5M)")
    parser.add_argument(
        "--body-words", type=int, default=0, help="words of body on each bulk row (default 0)"
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(n) for n in args.sizes.split(",")) if args.sizes else None
    sizes = sizes or (QUICK_SIZES if args.quick else SIZES)
    items = _distinct(feed_items())
    # Bulk text is cut from the stored half only: the fresh items stay unrelated to it.
    corpus = _Corpus(items[0::2])
    print(
        f"{'rows':>10} {'fill s':>7} {'cpu ms':>7} {'min':>6} {'max':>6} {'wall ms':>8} "
        f"{'ratio':>6} {'rows/lookup':>11} {'pages/article':>13} {'copies linked':>14} "
        f"{'MB/million':>11}"
    )
    first: float | None = None
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="monitor-bench-store-") as folder:
            row = _measure(Path(folder) / "monitor.db", size, items, corpus, args.body_words)
        first = first or row.median_ms
        ratio = row.median_ms / first
        print(
            f"{size:>10,} {row.fill_s:>7.0f} {row.median_ms:>7.3f} {row.min_ms:>6.3f} "
            f"{row.max_ms:>6.3f} {row.wall_ms:>8.3f} {ratio:>6.2f} "
            f"{row.unrelated:>11.2f} {row.pages:>13.1f} {row.linked:>7}/{row.expected:<6} "
            f"{row.mb_per_million:>11.0f}",
            flush=True,
        )
        record(
            Result(
                "store",
                f"insert+dedupe CPU ms/article at {size:,} rows",
                f"{row.median_ms:.3f} ({row.min_ms:.3f}–{row.max_ms:.3f}); {ratio:.2f}x the "
                f"smallest; {row.pages:.1f} pages written/article; "
                f"{row.linked}/{row.expected} copies linked; "
                f"{row.mb_per_million:.0f} MB per million; fill {row.fill_s:.0f} s",
                f"<= {TARGET_RATIO}x the smallest size, every planted copy linked",
                ratio <= TARGET_RATIO and row.linked == row.expected,
                median=row.median_ms,
                min=row.min_ms,
                max=row.max_ms,
                unit="ms",
                runs=RUNS,
            )
        )


@dataclass(frozen=True, slots=True)
class _Row:
    fill_s: float
    median_ms: float
    min_ms: float
    max_ms: float
    wall_ms: float
    unrelated: float
    linked: int
    expected: int
    mb_per_million: float
    pages: float


def _measure(path: Path, size: int, items: list[Article], corpus: _Corpus, body: int) -> _Row:
    rng = random.Random(size)
    stored, fresh = items[0::2], items[1::2]
    linker = NearDuplicates()
    since = NOW - STORY_WINDOW
    started = time.perf_counter()
    store = Store(path)
    try:
        at = NOW - timedelta(days=3)
        store.add_articles(stored, at, linker=linker, story_since=at - STORY_WINDOW)
        # The corpus items join their stories among themselves: a copy must join the story
        # its original is in, not necessarily the original's key.
        story = {a.key: (store.article(a.key) or a).story_id for a in stored}
        store.close()
        planted = _fill(path, size - len(stored), corpus, np.random.default_rng(size), body)
        story.update((a.key, a.key) for a in planted)
        fill_s = time.perf_counter() - started
        store = Store(path)
        warm, _ = _batch(-1, stored, planted, corpus.articles(BATCH, rng), rng)
        store.add_articles(warm, NOW, linker=linker, story_since=since)
        cpu_ms, wall_ms, unrelated, linked, expected = [], [], [], 0, 0
        for run in range(RUNS):
            share = BATCH - COPIES
            batch, copied = _batch(run, stored, planted, fresh[run * share :][:share], rng)
            unrelated += [
                len(store.candidates_for(band_keys(a.signature), since)) - (a.key in copied)
                for a in batch
            ]
            cpu, wall = time.process_time(), time.perf_counter()
            added = store.add_articles(batch, NOW, linker=linker, story_since=since)
            cpu_ms.append((time.process_time() - cpu) * 1000 / len(batch))
            wall_ms.append((time.perf_counter() - wall) * 1000 / len(batch))
            linked += sum(
                1 for a in added if a.key in copied and a.story_id == story[copied[a.key]]
            )
            expected += len(copied)
        pages = _pages_written(path, store, corpus.articles(BATCH, rng), since)
    finally:
        store.close()
    return _Row(
        fill_s=fill_s,
        median_ms=statistics.median(cpu_ms),
        min_ms=min(cpu_ms),
        max_ms=max(cpu_ms),
        wall_ms=statistics.median(wall_ms),
        unrelated=statistics.mean(unrelated),
        linked=linked,
        expected=expected,
        mb_per_million=_file_bytes(path) / size,
        pages=pages,
    )


def _distinct(items: list[Article]) -> list[Article]:
    """The corpus items the store would keep: one per URL and per text."""
    seen: set[str | None] = set()
    kept = []
    for item in items:
        if item.url in seen or item.content_hash in seen:
            continue
        seen.update((item.url, item.content_hash))
        kept.append(item)
    return kept


def _batch(
    run: int,
    stored: list[Article],
    planted: list[Article],
    fresh: list[Article],
    rng: random.Random,
) -> tuple[list[Article], dict[str, str]]:
    """One poller batch: COPIES edited copies of stored rows, then `fresh`."""
    copied: dict[str, str] = {}
    batch = []
    originals = rng.sample(stored, COPIES // 2) + rng.sample(planted, COPIES - COPIES // 2)
    for number, original in enumerate(originals):
        words = original.summary.split() or original.title.split()
        words[rng.randrange(len(words))] = "notamment"
        summary = " ".join(words) + " (avec AFP)"
        copy = replace(
            original,
            key=f"copy-{run}-{number}",
            feed_id=f"regional-{number}",
            url=f"https://regional{number}.example/{run}/{number}",
            guid=None,
            summary=summary,
            content_hash=f"copy-{run}-{number}",
            signature=text_signature(f"{original.title} {summary} {original.body}"),
        )
        copied[copy.key] = original.key
        batch.append(copy)
    return batch + fresh, copied


class _Corpus:
    """The corpus items' words as one text, cut at random word offsets into new texts."""

    def __init__(self, items: list[Article]) -> None:
        self.text = " ".join(f"{a.title}. {a.summary}" for a in items) + " "
        # Where each word starts, plus the text's end: words n to m are
        # text[starts[n]:starts[m] - 1].
        spaces = np.flatnonzero(np.frombuffer(self.text.encode("utf-32-le"), "<u4") == 32)
        self.starts = np.concatenate([[0], spaces + 1])
        self.serial = 0

    def cuts(self, count: int, words: tuple[int, int], rng: np.random.Generator) -> list[str]:
        """`count` runs of `words` (low, high) consecutive words at random offsets."""
        lengths = rng.integers(*words, count)
        first = rng.integers(0, len(self.starts) - words[1] - 1, count)
        begin = self.starts[first].tolist()
        end = (self.starts[first + lengths] - 1).tolist()
        return [self.text[b:e] for b, e in zip(begin, end, strict=True)]

    def articles(self, count: int, rng: random.Random) -> list[Article]:
        """New signed articles of cut text (the untimed warm-up batch)."""
        generator = np.random.default_rng(rng.getrandbits(32))
        titles = self.cuts(count, _TITLE_WORDS, generator)
        summaries = self.cuts(count, _SUMMARY_WORDS, generator)
        made = []
        for title, summary in zip(titles, summaries, strict=True):
            self.serial += 1
            key = f"warm-{self.serial}"
            made.append(_article(key, f"feed-{self.serial % FEEDS}", title, summary, "", key))
        return made


def _article(key: str, feed: str, title: str, summary: str, body: str, digest: str) -> Article:
    return Article(
        key=key,
        feed_id=feed,
        url=f"https://www.news-{feed}.example/actualites/{key}.html",
        guid=key,
        title=title,
        summary=summary,
        body=body,
        published_at=NOW,
        fetched_at=NOW,
        language="fr",
        content_hash=digest,
        signature=text_signature(f"{title} {summary} {body}"),
    )


def _fill(
    path: Path, count: int, corpus: _Corpus, rng: np.random.Generator, body: int
) -> list[Article]:
    """Bulk-insert `count` unrelated articles with their sketches and band rows; return the
    PLANTED of them that carry their text's real signature."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -1000000")  # 1 GB: the fill's B-trees stay in memory
        db.execute("PRAGMA temp_store = MEMORY")
        # Indexes are rebuilt once at the end (a sort) rather than row by row.
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'articles' "
            "AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            db.execute(f"DROP INDEX {name}")
        (next_id,) = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM story_sketches").fetchone()
        planted_at = set(rng.choice(count, min(PLANTED, count), replace=False).tolist())
        bands = np.empty(count * 20, np.int64)
        planted: list[Article] = []
        filled = 0
        for start in range(0, count, _CHUNK):
            size = min(_CHUNK, count - start)
            db.execute("BEGIN")
            chunk_bands, chunk_planted = _fill_chunk(
                db, corpus, rng, start, size, next_id + start, planted_at, body
            )
            db.execute("COMMIT")
            bands[filled : filled + len(chunk_bands)] = chunk_bands
            filled += len(chunk_bands)
            planted += chunk_planted
        _fill_bands(db, _sorted_unique(bands[:filled]))
        for _, sql in indexes:
            db.execute(sql)
        # A sampled ANALYZE, as `PRAGMA optimize` would leave it on a long-running store.
        db.execute("PRAGMA analysis_limit = 1000")
        db.execute("ANALYZE")
    finally:
        db.close()
    return planted


def _fill_chunk(
    db: sqlite3.Connection,
    corpus: _Corpus,
    rng: np.random.Generator,
    start: int,
    size: int,
    first_id: int,
    planted_at: set[int],
    body_words: int,
) -> tuple[npt.NDArray[np.int64], list[Article]]:
    """Insert one chunk of articles and their sketches; return the chunk's band rows, each
    (key << 32 | sketch id), and its planted articles."""
    titles = corpus.cuts(size, _TITLE_WORDS, rng)
    summaries = corpus.cuts(size, _SUMMARY_WORDS, rng)
    bodies = corpus.cuts(size, (body_words, body_words + 1), rng) if body_words else [""] * size
    hexes = rng.bytes(48 * size).hex()  # 32 hex digits of key, 64 of content hash
    keys = [f"g:{hexes[96 * n : 96 * n + 32]}" for n in range(size)]
    hashes = [hexes[96 * n + 32 : 96 * n + 96] for n in range(size)]
    seconds = rng.integers(0, _WINDOW_S, size)
    moments = np.datetime64(NOW.replace(tzinfo=None), "us") - seconds.astype("timedelta64[s]")
    stamps = [f"{s}+00:00" for s in np.datetime_as_string(moments, unit="us")]
    signatures = rng.integers(0, 1 << 16, (size, SIGNATURE_VALUES), dtype=np.uint16)
    planted = []
    for n in sorted(at - start for at in planted_at if start <= at < start + size):
        feed = f"feed-{(start + n) % FEEDS}"
        article = _article(keys[n], feed, titles[n], summaries[n], bodies[n], hashes[n])
        signatures[n] = np.frombuffer(article.signature, "<u2")
        planted.append(article)
    band = band_keys_of_signatures(signatures)
    ids = np.arange(first_id, first_id + size, dtype=np.int64)
    db.executemany(
        "INSERT INTO articles (key, feed_id, url, guid, title, summary, body, published_at, "
        "fetched_at, language, content_hash, fingerprint, story_id, stored_at, matched_at) "
        "VALUES (?1, ?2, ?3, ?1, ?4, ?5, ?6, ?7, ?7, 'fr', ?8, ?9, ?1, ?7, ?7)",
        zip(
            keys,
            [f"feed-{(start + n) % FEEDS}" for n in range(size)],
            [
                f"https://www.news-feed-{(start + n) % FEEDS}.example/actualites/{k}.html"
                for n, k in enumerate(keys)
            ],
            titles,
            summaries,
            bodies,
            stamps,
            hashes,
            rng.integers(-(2**63), 2**63 - 1, size).tolist(),
            strict=True,
        ),
    )
    db.executemany(
        "INSERT INTO story_sketches (id, article_key, story_id, stored_at, signature, "
        "band_keys) VALUES (?1, ?2, ?2, ?3, ?4, ?5)",
        zip(
            ids.tolist(),
            keys,
            stamps,
            [row.tobytes() for row in signatures],
            [row.astype("<i4").tobytes() for row in band],
            strict=True,
        ),
    )
    return (band << 32 | ids[:, None]).ravel(), planted


def _sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # np.unique hashes first (numpy 2.3), several times slower than a sort at 100M values.
    values.sort()
    kept: npt.NDArray[np.int64] = values[np.concatenate([[True], values[1:] != values[:-1]])]
    return kept


def _fill_bands(db: sqlite3.Connection, rows: npt.NDArray[np.int64]) -> None:
    """Insert the band rows in key order (appends, not random B-tree writes); each value
    packs the signed 32-bit key over the sketch id, so its order is the table's."""
    step = 1_000_000
    for start in range(0, len(rows), step):
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO story_bands (key, sketch_id) "
            "SELECT value >> 32, value & 4294967295 FROM json_each(?)",
            ("[" + ",".join(map(str, rows[start : start + step].tolist())) + "]",),
        )
        db.execute("COMMIT")


def _pages_written(path: Path, store: Store, batch: list[Article], since: datetime) -> float:
    """Pages one more (untimed) batch writes per article: the WAL frames of its one commit.

    A figure the machine's load cannot blur: each page written is a WAL frame now and a
    checkpoint write later, the cost that grows once the indexes outgrow the page cache.
    """
    raw = sqlite3.connect(path)
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_bytes,) = raw.execute("PRAGMA page_size").fetchone()
    finally:
        raw.close()
    store.add_articles(batch, NOW, linker=NearDuplicates(), story_since=since)
    wal_bytes = path.with_name(f"{path.name}-wal").stat().st_size
    # The WAL: a 32-byte header, then a 24-byte header and one page per frame; the
    # checkpoint after the commit copies the frames back but leaves the file's length.
    return (wal_bytes - 32) / (page_bytes + 24) / len(batch)


def _file_bytes(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))


if __name__ == "__main__":
    main()
