"""How common each word and word pair is in recent articles: the presearch's cost model.

`term_frequencies(texts)` counts, over a sample of stored article texts, in how many texts
each folded word occurs, and each adjacent pair of common words; `pattern_share` turns those
counts into the share of articles a pattern (its `patterns.spelling_forms`) can occur in.
Units are the pattern index's: words as `text.term_words` folds them. Pure: the caller reads
the texts from the store.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.match.patterns import Pattern
from monitor.text import fold, term_words

# Articles sampled to estimate frequencies: enough for a word in 0.1% of articles to be seen
# about five times, few enough to read and count in a second or two at start-up.
SAMPLE_ARTICLES = 5_000
# Characters read per article: a long full-text body adds little to which words are common.
MAX_SAMPLE_CHARS = 4_000
# Pairs are counted only between words in at least this share of the sample: a pair of rarer
# words is already bounded by its rarer word, and counting every pair would cost memory.
PAIR_MIN_SHARE = 0.01
# Below this many sampled articles the counts say little: patterns get the length heuristic.
MIN_SAMPLE = 100
# The share of articles a plain word or a phrase is guessed to occur in, without counts.
GUESS_WORD, GUESS_PHRASE = 1.0, 0.2


@dataclass(frozen=True, slots=True, eq=False)
class TermFrequencies:
    """Document frequencies of folded words and of adjacent pairs of common words."""

    documents: int
    words: Mapping[str, int] = field(default_factory=dict)
    pairs: Mapping[tuple[str, str], int] = field(default_factory=dict)
    pair_words: frozenset[str] = frozenset()  # the common words whose pairs were counted

    @property
    def is_informed(self) -> bool:
        """Whether enough articles were counted to trust the shares over the guess."""
        return self.documents >= MIN_SAMPLE

    def word_share(self, word: str) -> float:
        """The share of sampled articles holding `word`; an unseen word counts half a text."""
        return (self.words.get(word, 0) + 0.5) / (self.documents + 1)

    def pair_share(self, first: str, second: str) -> float | None:
        """The share holding `first second` side by side; None when that pair was not counted."""
        if first not in self.pair_words or second not in self.pair_words:
            return None
        return (self.pairs.get((first, second), 0) + 0.5) / (self.documents + 1)


NO_FREQUENCIES = TermFrequencies(0)


def term_frequencies(texts: Iterable[str]) -> TermFrequencies:
    """Count in how many of `texts` each word occurs, then each adjacent pair of common words."""
    documents: list[tuple[str, ...]] = []
    words: Counter[str] = Counter()
    for text in texts:
        tokens = term_words(text[:MAX_SAMPLE_CHARS], is_exact=False)
        documents.append(tokens)
        words.update(set(tokens))
    count = len(documents)
    common = frozenset(word for word, seen in words.items() if seen >= PAIR_MIN_SHARE * count)
    pairs: Counter[tuple[str, str]] = Counter()
    for tokens in documents:
        pairs.update({pair for pair in itertools.pairwise(tokens) if common.issuperset(pair)})
    return TermFrequencies(count, dict(words), dict(pairs), common)


def pattern_share(
    pattern: Pattern, forms: Iterable[tuple[tuple[str, ...], ...]], frequencies: TermFrequencies
) -> float:
    """The share of articles that may hold `pattern`, an upper estimate (at most 1).

    Each spelling costs its rarest word, or its rarest counted pair of neighbouring words,
    summed over the forms a position may take; the spellings add up. Without counts: a plain
    word is guessed common, anything longer or exact much rarer.
    """
    if not frequencies.is_informed:
        return GUESS_WORD if len(pattern.words) == 1 and not pattern.is_exact else GUESS_PHRASE
    total = 0.0
    for positions in forms:
        # Exact patterns keep their case; the counts are of folded words.
        folded = [tuple(dict.fromkeys(fold(form) for form in forms)) for forms in positions]
        share = min(sum(frequencies.word_share(form) for form in forms) for forms in folded)
        for left, right in itertools.pairwise(folded):
            pair = [frequencies.pair_share(a, b) for a in left for b in right]
            if None not in pair:
                share = min(share, sum(value for value in pair if value is not None))
        total += share
        if total >= 1.0:
            return 1.0
    return total
