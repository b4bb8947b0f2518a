"""Near-duplicate copies of one story: the SimHash fingerprint, its band index, the pick.

Owns how text becomes a 64-bit fingerprint, which band keys index it, which keys a
lookup reads, and which stored story a new copy joins. Pure: the store persists the
band rows and reads candidates; it never decides (see docs/decisions.md, band index).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import combinations

from monitor.text import fold

FINGERPRINT_BITS = 64
# Copies of one story (wire copies, light edits) sit within this many differing bits.
NEAR_DUPLICATE_BITS = 10
# Copies of one story arrive within days (wire, then regional papers, then weeklies); a copy
# of something older is a new story for the reader, and the window bounds each lookup.
STORY_WINDOW = timedelta(days=7)
_SHINGLE_WORDS = 3
_WORD = re.compile(r"\w+")

# Multi-index hashing (Norouzi, Punjani & Fleet 2012): cut the 64 bits into BANDS bands and
# read, in each band, every key within PROBE_RADIUS bits of the new fingerprint's key. Two
# fingerprints within NEAR_DUPLICATE_BITS share some band within PROBE_RADIUS bits, because
# BANDS * (PROBE_RADIUS + 1) - 1 = 11 >= 10 (pigeonhole): recall is 100% by construction.
# What each scheme that guarantees it costs per lookup, with N stored fingerprints in the
# window (random 64-bit fingerprints; unrelated articles' SimHashes are close to that):
#   bands × bits   radius   keys read   unrelated candidates
#   11 × 5–6       0          11        0.20 N     (20,000 at 100k: a scan in disguise)
#    6 × 10–11     1          70        0.045 N    (4,500 at 100k)
#    4 × 16        2         548        0.0084 N   (840 at 100k, 8,400 at 1M)
#    3 × 21–22     3       4,918        0.0019 N   (190 at 100k, but 5k index seeks)
# 4 × 16 is the paper's optimum (64 / log2 N bands) for 10k-1M rows; bench/store.py measures it.
BANDS = 4
BAND_BITS = FINGERPRINT_BITS // BANDS
PROBE_RADIUS = 2
_BAND_MASK = (1 << BAND_BITS) - 1
_PROBE_FLIPS: tuple[int, ...] = tuple(
    sum(1 << bit for bit in bits)
    for radius in range(PROBE_RADIUS + 1)
    for bits in combinations(range(BAND_BITS), radius)
)

# (fingerprint, story_id, stored_at) of a stored article that shares a probed band key.
StoryCandidate = tuple[int, str, datetime]


def content_fingerprint(text: str) -> int:
    """64-bit SimHash of the word 3-shingles of folded `text`; 0 for text without words."""
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


def band_keys(fingerprint: int) -> tuple[int, ...]:
    """The key the fingerprint is stored under in each band (band 0 is the high bits).

    Empty for 0, the fingerprint of text without words: such articles never join a story.
    """
    if fingerprint == 0:
        return ()
    return tuple(
        (fingerprint >> (BAND_BITS * (BANDS - 1 - band))) & _BAND_MASK for band in range(BANDS)
    )


def probe_keys(fingerprint: int) -> tuple[tuple[int, ...], ...]:
    """Per band, the keys a lookup reads: every key within PROBE_RADIUS bits of the band's."""
    return tuple(tuple(key ^ flip for flip in _PROBE_FLIPS) for key in band_keys(fingerprint))


def pick_story(fingerprint: int, candidates: Sequence[StoryCandidate]) -> str | None:
    """The story of the nearest candidate within NEAR_DUPLICATE_BITS; ties go to the oldest."""
    if fingerprint == 0:
        return None
    best: tuple[int, datetime, str] | None = None
    for other, story_id, stored_at in candidates:
        distance = (other ^ fingerprint).bit_count()
        if other == 0 or distance > NEAR_DUPLICATE_BITS:
            continue
        ranked = (distance, stored_at, story_id)
        if best is None or ranked < best:
            best = ranked
    return best[2] if best else None


class NearDuplicates:
    """The band scheme and the pick as one object, for the store that persists the index.

    The store declares what it calls (`monitor.store.StoryLinker`); stages never import
    each other, so the pipeline hands this over.
    """

    def band_keys(self, fingerprint: int) -> tuple[int, ...]:
        return band_keys(fingerprint)

    def probe_keys(self, fingerprint: int) -> tuple[tuple[int, ...], ...]:
        return probe_keys(fingerprint)

    def pick_story(self, fingerprint: int, candidates: Sequence[StoryCandidate]) -> str | None:
        return pick_story(fingerprint, candidates)
