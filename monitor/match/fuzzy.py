"""Misspelt-name lookup: which opted-in actor words a text word is a near spelling of.

A symmetric-deletion index (every spelling with up to k letters removed) finds candidates with
a few dict lookups per text word, whatever the vocabulary size; a bounded edit distance then
confirms them. Pure and stdlib only; only rules whose actors opt in with `fuzzy:` pay for it.
"""

from __future__ import annotations

import itertools

# Two edits cover the misspellings of names seen in the press (Hammouchi/Hamouchi,
# Abdellatif/Abdelatif); more would make short words match nearly anything.
MAX_EDITS = 2
# Words shorter than this are compared exactly: one edit in four letters is another word.
MIN_FUZZY_LENGTH = 5
_CACHE_LIMIT = 200_000


def similarity(first: str, second: str) -> float:
    """1 - edit distance / length of the longer word: 'hammouchi' vs 'hamouchi' -> 0.889."""
    longest = max(len(first), len(second))
    if longest == 0:
        return 1.0
    return 1.0 - edit_distance(first, second, longest) / longest


def edit_distance(first: str, second: str, limit: int) -> int:
    """Levenshtein distance, or `limit + 1` as soon as it is known to exceed `limit`."""
    if abs(len(first) - len(second)) > limit:
        return limit + 1
    previous = list(range(len(second) + 1))
    for row, char in enumerate(first, start=1):
        current = [row]
        for column, other in enumerate(second, start=1):
            cost = 0 if char == other else 1
            current.append(min(previous[column] + 1, current[-1] + 1, previous[column - 1] + cost))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _deletions(word: str, edits: int) -> set[str]:
    variants = {word}
    for count in range(1, edits + 1):
        for positions in itertools.combinations(range(len(word)), count):
            variants.add("".join(c for i, c in enumerate(word) if i not in positions))
    return variants


def allowed_edits(word: str, threshold: float) -> int:
    """How many edits a spelling of `word` may differ by and still reach `threshold`."""
    if len(word) < MIN_FUZZY_LENGTH:
        return 0
    # A longer variant may have one more letter: allow for it, `similarity` decides.
    return min(MAX_EDITS, int((len(word) + 1) * (1.0 - threshold) + 1e-9))


class FuzzyVocabulary:
    """The folded words of fuzzy aliases, indexed by their deletion variants."""

    __slots__ = ("_by_variant", "_cache", "_edits", "_edits_by_length", "_threshold")

    def __init__(self) -> None:
        self._edits: dict[str, int] = {}
        self._threshold: dict[str, float] = {}
        self._by_variant: dict[str, set[str]] = {}
        self._edits_by_length: dict[int, int] = {}
        self._cache: dict[str, dict[str, float]] = {}

    def add(self, word: str, threshold: float) -> None:
        """Accept spellings of `word` whose similarity reaches `threshold`."""
        edits = allowed_edits(word, threshold)
        if edits == 0:
            return
        self._threshold[word] = min(threshold, self._threshold.get(word, 1.0))
        self._cache.clear()
        if self._edits.get(word, 0) >= edits:
            return
        self._edits[word] = edits
        for variant in _deletions(word, edits):
            self._by_variant.setdefault(variant, set()).add(word)
        for length in range(len(word) - edits, len(word) + edits + 1):
            self._edits_by_length[length] = max(edits, self._edits_by_length.get(length, 0))

    def similar(self, word: str) -> dict[str, float]:
        """Vocabulary words `word` is a near spelling of (itself excluded), with similarities."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        found: dict[str, float] = {}
        edits = self._edits_by_length.get(len(word), 0)
        if edits:
            candidates = set().union(
                *(self._by_variant.get(variant, ()) for variant in _deletions(word, edits))
            )
            for candidate in candidates - {word}:
                score = similarity(word, candidate)
                if score >= self._threshold[candidate]:
                    found[candidate] = score
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = found
        return found
