"""The words a rule compares: a rule term split into folded words, an annotated field into a stream.

Both sides go through the same folding (lower case, accents stripped), elision stripping and
splitting on hyphens, slashes and underscores, so "DGSN / DGST", "DGSN-DGST" and "dgsn_dgst"
are the same two words. Pure: no spaCy, no rules, no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

from monitor.model import AnnotatedField, Token

# A word: letters and digits (with their combining accents); "-", "/", "_" and the rest split.
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f\u0610-\u061a\u064b-\u065f])+")
# French elided articles and pronouns glued to the next word: l'Olympique, d'Hammouchi, qu'il.
_ELISION = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)['’]", re.IGNORECASE)
# Punctuation that joins the parts of one name (DGSN-DGST, DGSN / DGST) rather than separating
# phrases: a pattern may run across these but not across a comma, a full stop or a bracket.
_JOINERS = frozenset("-‐‑–/_&·'’+")


@functools.lru_cache(maxsize=65_536)
def fold(text: str) -> str:
    """Lower case, accents stripped: 'Sécurité' -> 'securite'; the same folding as nlp.py."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def term_words(text: str, *, is_exact: bool) -> tuple[str, ...]:
    """The words of a rule term: folded unless `is_exact`, elisions dropped."""
    words: list[str] = []
    for chunk in text.split():
        chunk = _ELISION.sub("", chunk)
        words.extend(_WORD.findall(chunk if is_exact else fold(chunk)))
    return tuple(words)


def has_words(text: str) -> bool:
    """True when `text` holds at least one letter or digit to look for."""
    return bool(term_words(text, is_exact=True))


class Word(NamedTuple):
    """One word of an article field: a token, or a piece of one (DGSN-DGST is two words).

    A NamedTuple rather than a frozen dataclass: an article makes hundreds of them per
    evaluation, and tuples are built several times faster.
    """

    raw: str
    folded: str
    lemma: str
    start: int  # characters into the field text
    end: int
    sentence: int
    is_joined: bool  # may continue a phrase started on the previous word
    forms: tuple[str, ...]  # folded, then the lemma when it differs: what non-exact terms compare


def field_words(annotated: AnnotatedField) -> list[Word]:
    """The field's words in text order, with offsets, sentences and joins."""
    words: list[Word] = []
    append = words.append
    is_joined = False
    previous_sentence = -1
    whole_word = _WORD.fullmatch
    for token in annotated.tokens:
        sentence = token.sentence
        if sentence != previous_sentence:
            is_joined, previous_sentence = False, sentence
        text = token.text
        if whole_word(text):
            # Most tokens are one plain word that nlp.py has folded already.
            folded, lemma = token.folded, token.lemma
            if lemma == folded:
                forms: tuple[str, ...] = (folded,)
            elif whole_word(lemma):
                forms = (folded, lemma)
            else:
                lemma, forms = folded, (folded,)
            append(Word(text, folded, lemma, token.start, token.end, sentence, is_joined, forms))
            is_joined = True
            continue
        is_joined = _split_token(token, is_joined, append)
    return words


def _split_token(token: Token, is_joined: bool, append: Callable[[Word], None]) -> bool:
    """Append the words inside `token` (d'Hammouchi, DGSN-DGST); return the join state after."""
    offset = _ELISION.match(token.text)
    pieces = list(_WORD.finditer(token.text, offset.end() if offset else 0))
    if not pieces:
        # Elisions and joiners keep a phrase going; any other punctuation ends it.
        return is_joined and (offset is not None or set(token.text) <= _JOINERS)
    lemmas = _WORD.findall(_ELISION.sub("", token.lemma))
    for index, piece in enumerate(pieces):
        folded = fold(piece.group())
        lemma = fold(lemmas[index]) if len(lemmas) == len(pieces) else folded
        forms = (folded,) if lemma == folded else (folded, lemma)
        start = token.start + piece.start()
        end = token.start + piece.end()
        append(Word(piece.group(), folded, lemma, start, end, token.sentence, is_joined, forms))
        is_joined = True
    return is_joined
