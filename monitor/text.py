"""Text primitives every stage shares, one copy each, and the words a rule compares.

`fold`, `truncate`, `one_line`, `drop_invisible` and `language_code` are the only
implementations in the package (docs/decisions.md, "One folding"). Rule terms and annotated
fields go through the same word forms (docs/rules.md, "How a term is compared"): folding,
elisions, splits on joiners and between letters and digits, dotted acronyms collapsed.
Pure: no spaCy, no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

from monitor.model import AnnotatedField, Token

# Invisible format characters (Unicode category Cf): soft hyphen, zero-width space and
# (non-)joiners, word joiner, byte order mark, and the bidi marks, embeddings and isolates.
# They never change what a word says, yet would split it for the matcher ("sécu\u00adrité").
INVISIBLE_CHARS = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_DROP_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE_CHARS))
# Every apostrophe look-alike the press uses for an elision: ' ’ ʼ ′ ` ´ ‘ ‛ ＇ ʹ ʻ.
APOSTROPHES = "'’ʼ′`´‘‛＇ʹʻ"
_LETTER = r"[^\W\d_ʹʻʼ]"  # ʼ, ʹ and ʻ are letters to Unicode, apostrophes to a reader
_MARK = r"[\u0300-\u036f\u0610-\u061a\u064b-\u065f]"  # combining accents, harakat
_INSIDE = f"[{INVISIBLE_CHARS}]"
# A word: a run of letters or a run of digits, with their combining accents and any invisible
# character inside; "-", "/", "_", the rest, and a change from letters to digits split
# ("JO2024" is "JO" and "2024", like "JO 2024" and "JO-2024").
_WORD = re.compile(rf"(?:{_LETTER}|{_MARK})(?:{_LETTER}|{_MARK}|{_INSIDE})*|\d(?:\d|{_INSIDE})*")
# French elided articles and pronouns glued to the next word: l'Olympique, d'Hammouchi, qu'il.
_ELISION = re.compile(rf"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)[{APOSTROPHES}]", re.I)
# Initials with dots are one acronym: "D.G.S.T." and "D.G.S.T" are "DGST", "U.S.A." is "USA".
_DOTTED_ACRONYM = re.compile(rf"(?:{_LETTER}\.)+{_LETTER}\.?")
# Punctuation that joins the parts of one name (DGSN-DGST, DGSN / DGST) rather than separating
# phrases: a pattern may run across these but not across a comma, a full stop or a bracket.
_JOINERS = frozenset("-‐‑–/_&·+" + APOSTROPHES)


_WHITESPACE = re.compile(r"\s+")
_LANGUAGE_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_]|\s*$)")
# ISO 639-2 codes some feeds use instead of ISO 639-1.
_THREE_LETTER_LANGUAGES = {
    "ara": "ar", "deu": "de", "dut": "nl", "eng": "en", "fra": "fr", "fre": "fr",
    "ger": "de", "ita": "it", "nld": "nl", "por": "pt", "rus": "ru", "spa": "es",
}  # fmt: skip


@functools.lru_cache(maxsize=65_536)
def fold(text: str) -> str:
    """Case-folded, compatibility-decomposed, accents dropped: 'Sécurité' -> 'securite'.

    The result may differ in length from `text` ('ß' -> 'ss', ligatures expand), so
    offsets into folded text do not map back one to one. Invisible format characters are
    dropped: "sécu\u00adrité" -> "securite".
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_DROP_INVISIBLE))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def drop_invisible(text: str) -> str:
    """`text` without soft hyphens, zero-width and bidi control characters."""
    return text.translate(_DROP_INVISIBLE)


def truncate(text: str, max_chars: int, *, marker: str = "") -> str:
    """`text` cut to at most `max_chars` (`marker` included), between words when one is near.

    A cut falls on the last space unless that would throw away more than half of what is
    kept: a 300-character token is cut through rather than lose everything after it.
    """
    if len(text) <= max_chars:
        return text
    room = max(max_chars - len(marker), 0)
    cut = text[:room]
    if not text[room].isspace():
        boundary = max(cut.rfind(" "), cut.rfind("\n"))
        if boundary > room // 2:
            cut = cut[:boundary]
    return cut.rstrip() + marker


def one_line(text: str) -> str:
    """Text without control characters or line breaks, whitespace collapsed."""
    if text.isprintable() and "  " not in text and text.strip(" ") == text:
        return text  # already one clean line: the common case, at C speed
    # Invisible format characters sit inside words: dropping them keeps "sécu\u00adrité" whole.
    visible = "".join(
        " " if unicodedata.category(char).startswith("C") else char for char in drop_invisible(text)
    )
    return _WHITESPACE.sub(" ", visible).strip()


def language_code(tag: str | None) -> str | None:
    """'fr-FR' -> 'fr', 'fre' -> 'fr'; None when `tag` is not a recognisable language tag."""
    if not tag:
        return None
    found = _LANGUAGE_TAG.match(tag)
    if found is None:
        return None
    code = found.group(1).lower()
    if len(code) == 2:
        return code
    return _THREE_LETTER_LANGUAGES.get(code)


def term_words(text: str, *, is_exact: bool) -> tuple[str, ...]:
    """The words of a rule term: folded unless `is_exact`, elisions dropped."""
    words: list[str] = []
    for chunk in text.split():
        chunk = _ELISION.sub("", chunk)
        if _DOTTED_ACRONYM.fullmatch(chunk):
            chunk = chunk.replace(".", "")
        words.extend(_WORD.findall(chunk if is_exact else fold(chunk)))
    return tuple(words)


def term_variants(words: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Other spellings of a folded term's words that articles use for the same thing.

    Two neighbouring words written as one ("cyber attaque" as "cyberattaque"; the article side
    joins its neighbours in `PatternIndex.find`).
    """
    variants = [
        (*words[:index], words[index] + words[index + 1], *words[index + 2 :])
        for index in range(len(words) - 1)
    ]
    return tuple(dict.fromkeys(variant for variant in variants if variant != words))


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
        if whole_word(text) and token.folded:
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
    if _DOTTED_ACRONYM.fullmatch(token.text):
        raw = token.text.replace(".", "")
        folded = fold(raw)
        word = Word(
            raw, folded, folded, token.start, token.end, token.sentence, is_joined, (folded,)
        )
        append(word)
        return True
    offset = _ELISION.match(token.text)
    pieces = [
        piece
        for piece in _WORD.finditer(token.text, offset.end() if offset else 0)
        if fold(piece.group())
    ]
    if not pieces:
        # Elisions and joiners keep a phrase going; any other punctuation ends it.
        return is_joined and (offset is not None or set(token.text) <= _JOINERS)
    lemmas = _WORD.findall(_ELISION.sub("", token.lemma))
    for index, piece in enumerate(pieces):
        folded = fold(piece.group())
        lemma = fold(lemmas[index]) if len(lemmas) == len(pieces) else folded
        forms: tuple[str, ...] = (folded,) if lemma == folded or not lemma else (folded, lemma)
        start = token.start + piece.start()
        end = token.start + piece.end()
        append(Word(piece.group(), folded, lemma, start, end, token.sentence, is_joined, forms))
        is_joined = True
    return is_joined
