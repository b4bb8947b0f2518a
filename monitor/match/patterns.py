"""The multi-pattern index: every term and alias of a rule set, found in one walk over an article.

Patterns are word tuples in a prefix table (a word-level trie whose nodes are dict keys), so
the cost of a walk depends on the article and the longest phrase, not on how many patterns
there are. Exact terms compare the words as written, fuzzy aliases also accept near spellings,
the others also their variants (two words written as one, Cyrillic stems; `text.term_variants`)
and their inflected forms. Pure: no spaCy, no rules, no I/O (lexicon.py reads its package data
once per process).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from monitor.match.fuzzy import FuzzyVocabulary
from monitor.match.lexicon import inflections
from monitor.model import Annotations
from monitor.text import Word, field_words, term_variants, term_words

# A prefix table: each proper prefix of a pattern maps to (), each pattern to its ids.
_Table = dict[tuple[str, ...], tuple[int, ...]]
_Forms = Callable[[Word], list[tuple[str, float]]]
# A phrase stands for at most this many word tuples ("interpeller des manifestants": 37 x 4);
# past it the later words keep only their own form.
MAX_VARIANTS = 512
# Word index -> the forms of that word and the next written as one ("cyber attaque").
_Joined = dict[int, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Pattern:
    """The words of one term or alias, as the walk compares them."""

    words: tuple[str, ...]
    is_exact: bool
    fuzzy: float | None  # similarity threshold per word; None: the words themselves
    text: str  # the term or alias as first written
    inflect: tuple[str, ...] = ()  # the languages whose inflected forms it stands for


class Spot(NamedTuple):
    """Where one pattern was found (a NamedTuple: articles make many, tuples build fast)."""

    field: str
    first_word: int
    start: int
    end: int
    sentence: int
    pattern_id: int


Found = dict[int, list[Spot]]


class PatternIndex:
    """Every pattern of a rule set; `add` while compiling, then `find` per article."""

    __slots__ = (
        "_asked",
        "_exact",
        "_folded",
        "_fuzzy",
        "_fuzzy_starts",
        "_ids",
        "_joinable",
        "_vocabulary",
        "forms",
        "patterns",
    )

    def __init__(self) -> None:
        self.patterns: list[Pattern] = []
        #: Per pattern, `spelling_forms(pattern)`: what frequency.py estimates its share from.
        self.forms: list[list[tuple[tuple[str, ...], ...]]] = []
        self._ids: dict[tuple[tuple[str, ...], bool, float | None, tuple[str, ...]], int] = {}
        self._asked: dict[tuple[str, bool, float | None, tuple[str, ...]], int | None] = {}
        self._folded: _Table = {}
        self._exact: _Table = {}
        self._fuzzy: _Table = {}
        self._fuzzy_starts: set[str] = set()
        self._joinable: set[str] = set()  # non-exact pattern words an article may write as two
        self._vocabulary = FuzzyVocabulary()

    def add(
        self,
        text: str,
        *,
        is_exact: bool = False,
        fuzzy: float | None = None,
        inflect: tuple[str, ...] = (),
    ) -> int | None:
        """The id of the pattern for `text` (None when it has no words); shared when repeated.

        With `inflect` languages, a plain (not exact, not fuzzy) pattern also stands for the
        inflected forms of its words in those languages (lexicon.py).
        """
        fuzzy = None if is_exact else fuzzy
        inflect = () if is_exact or fuzzy is not None else inflect
        # Rule sets repeat their terms: the text as written skips splitting it again.
        asked = (text, is_exact, fuzzy, inflect)
        if asked in self._asked:
            return self._asked[asked]
        words = term_words(text, is_exact=is_exact)
        identity = (words, is_exact, fuzzy, inflect)
        pattern_id = self._ids.get(identity) if words else None
        if pattern_id is not None or not words:
            self._asked[asked] = pattern_id
            return pattern_id
        pattern_id = self._asked[asked] = self._ids[identity] = len(self.patterns)
        pattern = Pattern(words, is_exact, fuzzy, text.strip(), inflect)
        self.patterns.append(pattern)
        spellings = spelling_forms(pattern)
        self.forms.append(spellings)
        table = self._exact if is_exact else self._folded if fuzzy is None else self._fuzzy
        for spelling, forms in zip(_spellings(pattern), spellings, strict=True):
            for variant in itertools.product(*forms):
                if not is_exact and spelling is words:
                    # Only words as written and their forms: a variant glued from two
                    # ("cyberattaque" for "cyber attaque") already meets the two words in the
                    # article, unglued.
                    self._joinable.update(variant)
                for length in range(1, len(variant)):
                    table.setdefault(variant[:length], ())
                table[variant] = (*table.get(variant, ()), pattern_id)
            if fuzzy is not None:
                self._fuzzy_starts.add(spelling[0])
                for word in spelling:
                    self._vocabulary.add(word, fuzzy)
        return pattern_id

    def find(self, notes: Annotations) -> Found:
        """Every occurrence of every pattern in the annotated fields."""
        found: Found = {}
        for annotated in notes.fields:
            words = field_words(annotated)
            joined = self._joined(words)
            walks = [
                _walk(self._folded, words, joined),
                _walk(self._exact, words, None),
            ]
            if self._fuzzy:
                walks.append(self._walk_fuzzy(words))
            for walk in walks:
                for pattern_id, first, last in walk:
                    start, end = words[first].start, words[last].end
                    spot = Spot(
                        annotated.name, first, start, end, words[first].sentence, pattern_id
                    )
                    found.setdefault(pattern_id, []).append(spot)
        return found

    def _joined(self, words: list[Word]) -> _Joined:
        """Neighbouring words that some pattern writes as one ("cyber-attaque", "cyber attaque").

        One concatenation and one set lookup per pair of words, whatever the number of
        patterns: the per-article cost stays flat.
        """
        joinable = self._joinable
        joined: _Joined = {}
        head = ""
        for index, word in enumerate(words):
            forms = word.forms
            # The common cases (a word, a word and its lemma) without building anything.
            if word.is_joined and (
                head + forms[0] in joinable
                or (len(forms) > 1 and (head + forms[1] in joinable or len(forms) > 2))
            ):
                glued = tuple(head + form for form in forms if head + form in joinable)
                if glued:
                    joined[index - 1] = glued
            head = word.folded
        return joined

    def _walk_fuzzy(self, words: list[Word]) -> Iterator[tuple[int, int, int]]:
        """Walk the fuzzy aliases, where a word also stands for its near spellings."""
        similar = self._vocabulary.similar
        near = {word.folded: found for word in words if (found := similar(word.folded))}

        def forms_of(word: Word) -> list[tuple[str, float]]:
            forms = [(form, 1.0) for form in word.forms]
            alternatives = near.get(word.folded)
            return forms + list(alternatives.items()) if alternatives else forms

        for first, word in enumerate(words):
            # Only a word that is, or is near, the first word of a fuzzy alias starts a walk.
            if word.folded in near or not self._fuzzy_starts.isdisjoint(word.forms):
                yield from _walk_fuzzy_from(first, self._fuzzy, words, forms_of, self.patterns)


def _spellings(pattern: Pattern) -> tuple[tuple[str, ...], ...]:
    """An exact term as written; any other also as its variants (`text.term_variants`)."""
    words = pattern.words
    return (words,) if pattern.is_exact else (words, *term_variants(words))


def spelling_forms(pattern: Pattern) -> list[tuple[tuple[str, ...], ...]]:
    """Per spelling of `pattern`, the forms each of its words stands for, as written first.

    The word tuples the index keys the pattern under are the products of these forms.
    """
    return [_forms(spelling, pattern.inflect) for spelling in _spellings(pattern)]


def _forms(words: tuple[str, ...], languages: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Each word with its inflected forms, the later words alone past MAX_VARIANTS tuples."""
    if not languages:
        return tuple((word,) for word in words)
    choices: list[tuple[str, ...]] = []
    count = 1
    for word in words:
        forms = tuple(dict.fromkeys(f for lang in languages for f in inflections(word, lang)))
        if count * len(forms) > MAX_VARIANTS:
            forms = (word,)
        count *= len(forms)
        choices.append(forms)
    return tuple(choices)


def _walk(
    table: _Table, words: list[Word], joined: _Joined | None
) -> Iterator[tuple[int, int, int]]:
    """(pattern id, first word, last word) for each pattern starting at each word.

    `joined` is None for exact patterns: they compare each word as written (`raw`), never
    two words as one.
    """
    if not table:
        return
    count = len(words)
    for first, word in enumerate(words):
        forms = (word.raw,) if joined is None else word.forms
        if len(forms) == 1 and (forms[0],) not in table and (joined is None or first not in joined):
            continue  # the common case, without building a list for nothing
        keys = _steps(table, (), words, first, joined)
        while keys:
            longer: list[tuple[tuple[str, ...], int]] = []
            for key, last in keys:
                for pattern_id in table[key]:
                    yield pattern_id, first, last
                following = last + 1
                if following < count and words[following].is_joined:
                    longer += _steps(table, key, words, following, joined)
            keys = longer


def _steps(
    table: _Table, key: tuple[str, ...], words: list[Word], index: int, joined: _Joined | None
) -> list[tuple[tuple[str, ...], int]]:
    """`key` continued by word `index` (or by it and the next, written as one) where a pattern
    goes on that way, each with the last word it takes."""
    if joined is None:
        longer = (*key, words[index].raw)
        return [(longer, index)] if longer in table else []
    steps = [(longer, index) for form in words[index].forms if (longer := (*key, form)) in table]
    for form in joined.get(index, ()):
        if (longer := (*key, form)) in table:
            steps.append((longer, index + 1))
    return steps


def _walk_fuzzy_from(
    first: int, table: _Table, words: list[Word], forms_of: _Forms, patterns: list[Pattern]
) -> Iterator[tuple[int, int, int]]:
    """The fuzzy patterns starting at word `first`, with the lowest similarity along each."""
    keys: list[tuple[tuple[str, ...], float]] = [
        ((form,), score) for form, score in forms_of(words[first]) if (form,) in table
    ]
    last = first
    while keys:
        for key, score in keys:
            for pattern_id in table[key]:
                if score >= (patterns[pattern_id].fuzzy or 1.0):
                    yield pattern_id, first, last
        last += 1
        if last == len(words) or not words[last].is_joined:
            break
        following = forms_of(words[last])
        keys = [
            (longer, min(score, next_score))
            for key, score in keys
            for form, next_score in following
            if (longer := (*key, form)) in table
        ]
