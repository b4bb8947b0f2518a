"""Insert + near-duplicate linking cost per article as the store grows from 10k to 1M rows.

    python -m bench.store [--quick] [--sizes 10000,100000,1000000]

For each size, a fresh SQLite store is filled with that many synthetic articles (random
64-bit fingerprints, all inside the story window: the worst case) by bulk SQL, then
`Store.add_articles` stores batches of new articles the way the poller does (dedupe,
band lookup, pick, insert), a tenth of them near-duplicates of stored rows. Prints the
median, min and max cost per article over 3 runs, its ratio to the smallest size, the
candidates read per lookup, whether every near-duplicate joined its story, and for
comparison the scan the store used before the band index (5,000 recent rows per article).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.report import Result, record
from monitor.ingest import STORY_WINDOW, NearDuplicates, band_keys, probe_keys
from monitor.model import Article
from monitor.store import Store

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
RUNS = 3
BATCH = 200
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FEEDS = 1_000
_OLD_SCAN_ROWS = 5_000
_OLD_THRESHOLD_BITS = 10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows only")
    parser.add_argument("--sizes", help="comma-separated row counts (default 10k,100k,1M)")
    args = parser.parse_args(argv)
    sizes = _sizes(args)
    print(
        f"{'rows':>9} {'fill s':>7} {'median ms':>10} {'min':>6} {'max':>6} {'ratio':>6} "
        f"{'candidates':>11} {'dups linked':>12} {'old scan ms':>12}"
    )
    first: float | None = None
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="monitor-bench-store-") as folder:
            row = _measure(Path(folder) / "monitor.db", size, random.Random(size))
        first = first or row["median_ms"]
        ratio = row["median_ms"] / first
        print(
            f"{size:>9,} {row['fill_s']:>7.1f} {row['median_ms']:>10.3f} {row['min_ms']:>6.3f} "
            f"{row['max_ms']:>6.3f} {ratio:>6.2f} {row['candidates']:>11.0f} "
            f"{row['linked']:>6}/{row['expected']:<5} {row['old_scan_ms']:>12.1f}",
            flush=True,
        )
        record(
            Result(
                "store",
                f"insert+dedupe ms/article at {size:,} rows",
                f"{row['median_ms']:.3f} ({ratio:.1f}x the smallest)",
                f"every copy linked, under the old scan ({row['old_scan_ms']:.0f} ms)",
                row["linked"] == row["expected"] and row["median_ms"] < row["old_scan_ms"],
            )
        )


def _sizes(args: argparse.Namespace) -> tuple[int, ...]:
    if args.sizes:
        return tuple(int(size) for size in args.sizes.split(","))
    return QUICK_SIZES if args.quick else SIZES


def _measure(path: Path, size: int, rng: random.Random) -> dict[str, float]:
    Store(path).close()  # creates the schema
    started = time.perf_counter()
    stored = _fill(path, size, rng)
    fill_s = time.perf_counter() - started
    store = Store(path)
    linker = NearDuplicates()
    try:
        per_article_ms, linked, expected = [], 0, 0
        for run in range(RUNS):
            batch, copies = _new_articles(run, stored, rng)
            started = time.perf_counter()
            added = store.add_articles(batch, NOW, linker=linker, story_since=NOW - STORY_WINDOW)
            per_article_ms.append((time.perf_counter() - started) * 1000 / len(batch))
            linked += sum(1 for a in added if copies.get(a.key) == a.story_id)
            expected += len(copies)
        candidates = statistics.mean(
            len(store.candidates_for(probe_keys(rng.getrandbits(64)), NOW - STORY_WINDOW))
            for _ in range(50)
        )
    finally:
        store.close()
    return {
        "fill_s": fill_s,
        "median_ms": statistics.median(per_article_ms),
        "min_ms": min(per_article_ms),
        "max_ms": max(per_article_ms),
        "candidates": candidates,
        "linked": linked,
        "expected": expected,
        "old_scan_ms": _old_scan_ms(path, rng),
    }


def _fill(path: Path, size: int, rng: random.Random) -> list[tuple[str, int]]:
    """Bulk-insert `size` articles and their band rows; return (key, fingerprint) of each."""
    window_s = int(STORY_WINDOW.total_seconds()) - 3600
    fingerprints = [
        (
            f"fill-{n}",
            rng.getrandbits(64) or 1,
            _iso(NOW - timedelta(seconds=rng.randrange(window_s))),
        )
        for n in range(size)
    ]
    db = sqlite3.connect(path)
    try:
        with db:
            db.executemany(
                "INSERT INTO articles (key, feed_id, url, guid, title, summary, body, "
                "published_at, fetched_at, language, content_hash, fingerprint, story_id, "
                "stored_at, matched_at) VALUES (?, ?, ?, ?, ?, '', '', ?, ?, 'fr', ?, ?, ?, ?, ?)",
                (
                    (
                        key,
                        f"feed-{n % FEEDS}",
                        f"https://news.example/{key}",
                        key,
                        f"title {key}",
                        stamp,
                        stamp,
                        f"hash-{key}",
                        _signed64(fingerprint),
                        key,
                        stamp,
                        stamp,
                    )
                    for n, (key, fingerprint, stamp) in enumerate(fingerprints)
                ),
            )
            db.executemany(
                "INSERT INTO fingerprint_bands (band, key, article_key, fingerprint, story_id, "
                "stored_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (band, value, key, _signed64(fingerprint), key, stamp)
                    for key, fingerprint, stamp in fingerprints
                    for band, value in enumerate(band_keys(fingerprint))
                ),
            )
        db.execute("ANALYZE")
    finally:
        db.close()
    return [(key, fingerprint) for key, fingerprint, _ in fingerprints]


def _new_articles(
    run: int, stored: list[tuple[str, int]], rng: random.Random
) -> tuple[list[Article], dict[str, str]]:
    """A batch of new articles, a tenth of them copies (<= 10 bits) of stored ones."""
    batch: list[Article] = []
    copies: dict[str, str] = {}
    for n in range(BATCH):
        key = f"new-{run}-{n}"
        if n % 10 == 0:
            original_key, original = rng.choice(stored)
            fingerprint = original
            for bit in rng.sample(range(64), rng.randint(1, 10)):
                fingerprint ^= 1 << bit
            copies[key] = original_key
        else:
            fingerprint = rng.getrandbits(64) or 1
        batch.append(
            Article(
                key=key,
                feed_id=f"feed-{n % FEEDS}",
                url=f"https://news.example/{key}",
                guid=key,
                title=f"title {key}",
                summary="",
                body="",
                published_at=NOW,
                fetched_at=NOW,
                language="fr",
                content_hash=f"hash-{key}",
                fingerprint=fingerprint,
            )
        )
    return batch, copies


def _old_scan_ms(path: Path, rng: random.Random) -> float:
    """What one lookup cost before the band index: the newest 5,000 rows, compared in Python."""
    db = sqlite3.connect(path)
    try:
        timings = []
        for _ in range(20):
            fingerprint = rng.getrandbits(64)
            started = time.perf_counter()
            rows = db.execute(
                "SELECT fingerprint, story_id FROM articles ORDER BY stored_at DESC LIMIT ?",
                (_OLD_SCAN_ROWS,),
            ).fetchall()
            for other, _story in rows:
                if ((other & 0xFFFFFFFFFFFFFFFF) ^ fingerprint).bit_count() <= _OLD_THRESHOLD_BITS:
                    break
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)
    finally:
        db.close()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


if __name__ == "__main__":
    main()
