"""The store benchmark (bench/store.py): its bulk rows look like stored articles, and the
copies it plants of them are real copies that the real `Store.add_articles` links."""

from __future__ import annotations

import itertools
import random
import sqlite3

import numpy as np
import pytest

from bench import store as bench_store
from bench import workload
from monitor.ingest import band_keys, similarity, text_signature

pytestmark = pytest.mark.skipif(
    not workload.CORPUS_DIR.is_dir(),
    reason=f"the shared corpus is not beside the repository ({workload.CORPUS_DIR})",
)


@pytest.fixture(scope="module")
def items():
    return bench_store._distinct(workload.feed_items())


def test_a_small_run_links_every_planted_copy_and_reads_few_unrelated_rows(tmp_path, items):
    corpus = bench_store._Corpus(items[0::2])
    row = bench_store._measure(tmp_path / "monitor.db", 3_000, items, corpus, 0)
    assert row.expected == bench_store.RUNS * bench_store.COPIES
    assert row.linked == row.expected
    assert row.unrelated < 1
    assert 0.5 < row.pages < 60  # a tiny store: its band pages are shared by the batch
    assert 500 < row.mb_per_million < 5_000


def test_bulk_rows_hold_corpus_text_with_band_keys_of_their_signature(tmp_path, items):
    corpus = bench_store._Corpus(items[0::2])
    path = tmp_path / "monitor.db"
    bench_store.Store(path).close()
    planted = bench_store._fill(path, 2_000, corpus, np.random.default_rng(7), 0)
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT a.key, a.title, a.summary, s.signature, s.band_keys FROM articles a "
            "JOIN story_sketches s ON s.article_key = a.key"
        ).fetchall()
        (bands,) = db.execute("SELECT COUNT(*) FROM story_bands").fetchone()
    finally:
        db.close()
    assert len(rows) == 2_000
    assert bands >= 2_000 * 20 - 5  # a key twice in one sketch is stored once
    words = set(corpus.text.split())
    for key, title, summary, signature, packed in random.Random(1).sample(rows, 50):
        assert key.startswith("g:") and len(key) == 34
        assert 35 <= len(summary.split()) < 66
        assert set(f"{title} {summary}".split()) <= words
        keys = tuple(int(k) for k in np.frombuffer(packed, "<i4"))
        assert keys == band_keys(signature)
    planted_keys = {a.key for a in planted}
    assert len(planted) == bench_store.PLANTED
    stored = {key: signature for key, _, _, signature, _ in rows}
    for article in planted:
        assert stored[article.key] == text_signature(f"{article.title} {article.summary} ")
        assert similarity(stored[article.key], article.signature) == 1.0
    unplanted = [s for k, s in stored.items() if k not in planted_keys][:50]
    assert all(similarity(one, other) < 0.2 for one, other in itertools.pairwise(unplanted))
