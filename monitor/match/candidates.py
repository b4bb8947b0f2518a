"""Which stored articles a rule preview must annotate: those whose text may hold one of the
rule's items, decided on the raw text, before spaCy.

A match needs at least one of the rule's items (outside `none`) found, and so does a near miss
(near_miss.py): an article whose folded text contains no key of any of them is skipped. The
keys err on the side of annotating: a word stands for the stem its inflected forms share, a
fuzzy name for the pieces a misspelling leaves intact, and the text is compared without spaces
or punctuation. Pure: no spaCy, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from monitor.match.compiled import CompiledRules
from monitor.match.fuzzy import allowed_edits
from monitor.match.patterns import Pattern
from monitor.match.plan import RulePlan
from monitor.model import FIELDS, Article
from monitor.text import fold

__all__ = ["CandidateTest", "candidate_test"]

# The text test compares letters and digits only, so "DGSN-DGST" meets "dgsndgst".
_NOT_LETTERS = re.compile(r"[\W_]+")
# A stem shorter than this would be shared by unrelated words: keep each form whole instead.
MIN_STEM_LETTERS = 4
# A fuzzy piece shorter than this tells nothing: such a name makes every article a candidate.
MIN_PIECE_LETTERS = 3
# Cyrillic stems carry this mark in patterns (text.py); it is never in an article.
_STEM_MARK = "~"
# Arabic article words lose their clitic prefixes (text.py): "للمديرية" is ل + المديرية, so a
# key keeps what follows the article's own "ال".
_ARABIC_ARTICLE = "ال"


class CandidateTest:
    """The text test of one rule: `is_candidate(article)`, or every article when `is_always`."""

    __slots__ = ("_search", "is_always", "keys")

    def __init__(self, keys: frozenset[str], *, is_always: bool) -> None:
        self.keys = keys
        self.is_always = is_always or not keys
        # Longest first: a regex alternation stops at its first branch that matches.
        ordered = sorted(keys, key=lambda key: (-len(key), key))
        self._search = re.compile("|".join(map(re.escape, ordered))).search if keys else None

    def is_candidate(self, article: Article) -> bool:
        """Whether `article` may hold one of the rule's items (a match or a near miss)."""
        if self.is_always or self._search is None:
            return True
        text = "\n".join(article.field_text(name) for name in FIELDS)
        return self._search(_NOT_LETTERS.sub("", fold(text))) is not None


def candidate_test(compiled: CompiledRules, rule_id: str) -> CandidateTest:
    """The text test for the items of `rule_id` that a match or a near miss needs."""
    plan = compiled.plan(rule_id)
    if plan is None:
        raise KeyError(rule_id)
    keys: set[str] = set()
    is_always = False
    for pattern_id in _evidence_patterns(plan):
        pattern = compiled.index.patterns[pattern_id]
        spellings = compiled.index.forms[pattern_id]
        for key in _pattern_keys(pattern, spellings):
            if key is None:
                is_always = True
            else:
                keys.add(key)
    return CandidateTest(frozenset(keys), is_always=is_always)


def _evidence_patterns(plan: RulePlan) -> Iterator[int]:
    for leaf in plan.evidence:
        yield from leaf.pattern_ids


def _pattern_keys(
    pattern: Pattern, spellings: list[tuple[tuple[str, ...], ...]]
) -> Iterator[str | None]:
    """Strings one of which an article holding `pattern` contains (None: cannot tell).

    One word per spelling suffices, since all of a phrase's words must be found: the longest.
    """
    for spelling in spellings:
        forms = max(spelling, key=lambda choices: max(len(form) for form in choices))
        folded = [_letters(form) for form in forms]
        if pattern.fuzzy is not None:
            yield from _fuzzy_pieces(folded[0], pattern.fuzzy)
        else:
            yield from _stems(folded)


def _stems(forms: list[str]) -> Iterator[str | None]:
    """The start all `forms` share, or each form when that start is too short to tell."""
    forms = [form for form in forms if form]
    if not forms:
        yield None
        return
    shared = _shared_start(forms)
    if len(shared) >= min(MIN_STEM_LETTERS, min(map(len, forms))):
        yield shared
    else:
        yield from forms


def _shared_start(forms: list[str]) -> str:
    first, last = min(forms), max(forms)
    length = 0
    while length < len(first) and first[length] == last[length]:
        length += 1
    return first[:length]


def _fuzzy_pieces(word: str, fuzzy: float) -> Iterator[str | None]:
    """k edits leave one of k + 1 pieces of `word` intact."""
    edits = allowed_edits(word, fuzzy)
    size = -(-len(word) // (edits + 1))
    if size < MIN_PIECE_LETTERS and edits:
        yield None
        return
    for start in range(0, len(word), max(size, 1)):
        yield word[start : start + size]


def _letters(form: str) -> str:
    letters = _NOT_LETTERS.sub("", fold(form.lstrip(_STEM_MARK)))
    if letters.startswith(_ARABIC_ARTICLE) and len(letters) > len(_ARABIC_ARTICLE) + 2:
        return letters[len(_ARABIC_ARTICLE) :]
    return letters
