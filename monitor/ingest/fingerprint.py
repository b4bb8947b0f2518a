"""Near-duplicate copies of one story: the MinHash signature, its band keys, the pick.

Owns how text becomes a signature (and the older 64-bit SimHash kept on each article),
which band keys index a signature, how similar two signatures are, and which stored story
a new copy joins. Pure: the store persists signatures and band rows and reads candidates;
it never decides (see docs/decisions.md, band index).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from monitor.text import fold

FINGERPRINT_BITS = 64
# Copies of one story arrive within days (wire, then regional papers, then weeklies); a copy
# of something older is a new story for the reader, and the window bounds each lookup.
STORY_WINDOW = timedelta(days=7)
_SHINGLE_WORDS = 3
_WORD = re.compile(r"\w+")

# MinHash LSH (Broder 1997; Leskovec, Rajaraman & Ullman, Mining of Massive Datasets ch. 3):
# the signature holds, for each of BANDS * ROWS hash functions, the smallest hash of the
# text's word 3-shingles; two texts agree on one value with probability their Jaccard
# similarity J. Each band of ROWS values is hashed into one 32-bit key, so two texts share a
# band key with probability 1 - (1 - J^3)^20: 0.93 at J = 0.5, 0.99 at 0.6, 0.05 at 0.2,
# 2.5e-6 for the J of unrelated articles (mean J^3 = 1.25e-7 over the cross-feed pairs of
# the French corpus), so the unrelated candidates of a lookup stay near zero whatever the
# store holds. 32-bit keys: a chance collision costs 20 * N / 2^32 candidates, 0.02 at 5M.
BANDS = 20
ROWS = 3
# The bands use the first 60 values; all 128 estimate the similarity (standard error 0.044
# at J = 0.5 instead of 0.065), so fewer articles that only share a feed's boilerplate join.
# Each value keeps the high 16 bits of its 32-bit min (b-bit minwise hashing, Li & König
# 2010): two unrelated values agree by chance 1 time in 65,536; the signature is 256 bytes.
SIGNATURE_VALUES = 128
# A copy joins a story when its estimated Jaccard similarity reaches this. Measured on the
# 1,263 distinct items of the French corpus, whose real copies are retitled pages sharing
# one summary (BFMTV's article, video and live pages): 15 of 20 copies join and none of the
# 796,933 other pairs (the 64-bit SimHash within 10 bits joined 3 of 20). At 0.5, 17 of 20,
# but episodes of one series sharing a summary (J = 0.45) join as the hashing noise falls;
# see docs/decisions.md, band index.
NEAR_DUPLICATE_SIMILARITY = 0.55

# Fixed seeds: a signature must mean the same thing in every process and every release
# (changing them means re-indexing the store).
_RANDOM = np.random.default_rng(20_260_602)
_MULTIPLIERS = _RANDOM.integers(0, 2**31, SIGNATURE_VALUES, dtype=np.uint32) * np.uint32(2) + 1
_OFFSETS = _RANDOM.integers(0, 2**32, SIGNATURE_VALUES, dtype=np.uint32)
_BAND_SALTS = _RANDOM.integers(0, 2**63, BANDS, dtype=np.uint64)
_BAND_MULTIPLIERS = _RANDOM.integers(0, 2**63, ROWS, dtype=np.uint64) * np.uint64(2) + 1
_SHINGLE_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))

# (signature, story_id, stored_at) of a stored article that shares a band key.
StoryCandidate = tuple[bytes, str, datetime]


def text_signature(text: str) -> bytes:
    """The MinHash signature of the word 3-shingles of folded `text` (SIGNATURE_VALUES
    little-endian uint16); empty for text without words, which never joins a story."""
    words = _WORD.findall(fold(text))
    if not words:
        return b""
    hashes = np.fromiter((word_hash(word) for word in words), dtype=np.uint64, count=len(words))
    signature: bytes = signatures_of_word_hashes(hashes[None, :])[0].tobytes()
    return signature


def signatures_of_word_hashes(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
    """The signatures of texts of one length, given each word's `word_hash` (one text per
    row); what `text_signature` computes, for a benchmark that signs millions of texts."""
    if hashes.shape[1] < _SHINGLE_WORDS:
        padding = np.zeros((hashes.shape[0], _SHINGLE_WORDS - hashes.shape[1]), np.uint64)
        hashes = np.concatenate([hashes, padding], axis=1)
    shingles = (_shingle_hashes(hashes) >> np.uint64(32)).astype(np.uint32)
    # About 4 million values at a time: big enough for numpy, small enough for the cache.
    chunk = max(1, 4_000_000 // (SIGNATURE_VALUES * shingles.shape[1]))
    signatures = np.empty((len(hashes), SIGNATURE_VALUES), dtype="<u2")
    for start in range(0, len(hashes), chunk):
        part = shingles[start : start + chunk, None, :]
        # Multiply-shift hashing (Dietzfelbinger et al. 1997): the high bits of a*x + b mod
        # 2^32 for odd a are a universal family; uint32 arithmetic wraps as it needs to, at
        # half the memory traffic of uint64. The min is taken on 32 bits, its high 16 kept.
        values = _MULTIPLIERS[None, :, None] * part + _OFFSETS[None, :, None]
        signatures[start : start + chunk] = values.min(axis=2) >> np.uint32(16)
    return signatures


def _shingle_hashes(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    first, second = _SHINGLE_MIX
    mixed = hashes[:, :-2] * first + hashes[:, 1:-1] * second + hashes[:, 2:]
    # splitmix64's finaliser: every input bit reaches every output bit before the min.
    mixed ^= mixed >> np.uint64(30)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(27)
    mixed *= np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    return mixed


@lru_cache(maxsize=1 << 16)
def word_hash(word: str) -> int:
    """The 64-bit hash a folded word contributes to signatures (stable across runs, unlike
    Python's hash(); cached, since news reuses a small vocabulary)."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "big")


def band_keys(signature: bytes) -> tuple[int, ...]:
    """The signed 32-bit key of each band of `signature`; empty for an empty signature.

    The band's number is mixed into its key, so one index holds every band.
    """
    if not signature:
        return ()
    values = np.frombuffer(signature, dtype="<u2")[None, :]
    return tuple(int(key) for key in band_keys_of_signatures(values)[0])


def band_keys_of_signatures(signatures: npt.NDArray[np.uint16]) -> npt.NDArray[np.int64]:
    """`band_keys` of many signatures at once (one per row), for a benchmark's bulk fill."""
    values = signatures[:, : BANDS * ROWS].astype(np.uint64).reshape(-1, BANDS, ROWS)
    key = np.broadcast_to(_BAND_SALTS, values.shape[:2]).copy()
    for row in range(ROWS):
        key = (key ^ values[:, :, row]) * _BAND_MULTIPLIERS[row]
        key ^= key >> np.uint64(29)
    keys: npt.NDArray[np.int64] = (key >> np.uint64(32)).astype(np.int64) - 2**31
    return keys


def similarity(one: bytes, other: bytes) -> float:
    """The estimated Jaccard similarity of the shingles of two signed texts (0 to 1)."""
    if not one or len(one) != len(other):
        return 0.0
    return float(np.mean(np.frombuffer(one, "<u2") == np.frombuffer(other, "<u2")))


def pick_story(signature: bytes, candidates: Sequence[StoryCandidate]) -> str | None:
    """The story of the most similar candidate at NEAR_DUPLICATE_SIMILARITY or more; ties
    go to the oldest."""
    best: tuple[float, datetime, str] | None = None
    for other, story_id, stored_at in candidates:
        score = similarity(signature, other)
        if score < NEAR_DUPLICATE_SIMILARITY:
            continue
        ranked = (-score, stored_at, story_id)
        if best is None or ranked < best:
            best = ranked
    return best[2] if best else None


def content_fingerprint(text: str) -> int:
    """64-bit SimHash of the word 3-shingles of folded `text`; 0 for text without words.

    Kept on each article as an 8-byte summary of its text; stories are linked by the
    MinHash signature, whose index stays selective as the store grows.
    """
    words = _WORD.findall(fold(text))
    if not words:
        return 0
    shingles = [
        " ".join(words[start : start + _SHINGLE_WORDS])
        for start in range(max(1, len(words) - _SHINGLE_WORDS + 1))
    ]
    bit_strings = [format(_shingle_hash(shingle), f"0{FINGERPRINT_BITS}b") for shingle in shingles]
    fingerprint = 0
    # zip(*) walks the bit columns in C; a bit is set when most shingles set it.
    for column in zip(*bit_strings, strict=True):
        fingerprint = (fingerprint << 1) | (2 * column.count("1") > len(shingles))
    return fingerprint


def _shingle_hash(shingle: str) -> int:
    # A stable hash: Python's hash() changes between runs.
    digest = hashlib.blake2b(shingle.encode("utf-8"), digest_size=FINGERPRINT_BITS // 8).digest()
    return int.from_bytes(digest, "big")


class NearDuplicates:
    """The band scheme and the pick as one object, for the store that persists the index.

    The store declares what it calls (`monitor.store.StoryLinker`); stages never import
    each other, so the pipeline hands this over.
    """

    def band_keys(self, signature: bytes) -> tuple[int, ...]:
        return band_keys(signature)

    def pick_story(self, signature: bytes, candidates: Sequence[StoryCandidate]) -> str | None:
        return pick_story(signature, candidates)
