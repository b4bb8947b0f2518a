"""Text primitives every stage shares, one copy each, and the words a rule compares.

`fold`, `truncate`, `one_line`, `drop_invisible` and `language_code` are the only
implementations in the package (docs/decisions.md, "One folding"). Rule terms and annotated
fields go through the same word forms (docs/rules.md, "How a term is compared"): folding,
elisions, splits on joiners and between letters and digits, dotted acronyms collapsed, and
the Arabic clitic and Cyrillic case-ending variants of a word. Pure: no spaCy, no I/O.
"""

from __future__ import annotations

import functools
import itertools
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
# Folding also drops the Arabic tatweel (kashida), a visible stretch inside a word: "المـديرية".
_FOLD_DROPS = {**_DROP_INVISIBLE, ord("\u0640"): None}
# Every apostrophe look-alike the press uses for an elision: ' ’ ʼ ′ ` ´ ‘ ‛ ＇ ʹ ʻ.
APOSTROPHES = "'’ʼ′`´‘‛＇ʹʻ"
_LETTER = r"[^\W\d_ʹʻʼ]"  # ʼ, ʹ and ʻ are letters to Unicode, apostrophes to a reader
_MARK = r"[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670]"  # combining accents, harakat
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
    offsets into folded text do not map back one to one. Invisible format characters and the
    Arabic tatweel are dropped, and so are harakat (combining marks): "المُـدير" -> "المدير".
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD_DROPS))
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
    joins its neighbours in `PatternIndex.find`), and Cyrillic words without their
    nominative ending, to meet the article words' stems ("Москва" meets "Москве").
    """
    variants = [
        (*words[:index], words[index] + words[index + 1], *words[index + 2 :])
        for index in range(len(words) - 1)
    ]
    if any(_is_cyrillic(word) for word in words):
        stems = [(word, *_stems(word, _NOMINATIVE_ENDINGS)) for word in words]
        variants.extend(itertools.islice(itertools.product(*stems), 1, _MAX_STEM_VARIANTS))
    return tuple(dict.fromkeys(variant for variant in variants if variant != words))


def has_words(text: str) -> bool:
    """True when `text` holds at least one letter or digit to look for."""
    return bool(term_words(text, is_exact=True))


def word_variants(folded: str) -> tuple[str, ...]:
    """Forms of an article word that a term may be written as, besides the word itself.

    Arabic: the clitic prefixes و ف (and) ب ك ل (by, like, for) and the article ال, alone or
    combined (وبال, لل = ل + ال), each taken off only when at least three letters remain
    ("وطن" is never "طن"), and a bare preposition only when four remain ("بحار" is never
    "حار"). Cyrillic: a case ending taken off, as the word a masculine name is written as
    ("Путина" -> "путин") and as a stem that meets a term's stem ("Москве" -> "~москв").
    """
    if not folded or folded[0] < "\u0400":  # the common case: Latin script, nothing to add
        return ()
    if _is_arabic(folded):
        return _arabic_variants(folded)
    if _is_cyrillic(folded):
        stems = [folded[: -len(end)] for end in _CASE_ENDINGS if _has_stem(folded, end)]
        return (*stems, *(_STEM + stem for stem in stems))
    return ()


def _folded_endings(*endings: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(map(fold, endings)))


# Arabic letters: the conjunctions, the prepositions that attach to a word, and the article.
_CONJUNCTIONS = "وف"
_PREPOSITIONS = "بكل"
_ARTICLE = "ال"
_MIN_ARABIC_STEM = 3  # letters left after a clitic: Arabic roots have three
_MIN_AFTER_PREPOSITION = 4  # a bare ب ك ل starts many words ("بلد", "بحار"): be stricter
# Case endings of Russian and Ukrainian nouns, adjectives and surnames, folded when the module
# loads as the words they are compared with are ("й" folds to "и").
_CASE_ENDINGS = _folded_endings(
    "ого", "его", "ому", "ему", "ыми", "ими", "ами", "ями", "ой", "ей", "ом", "ем", "ым", "им",
    "ую", "юю", "ая", "яя", "ое", "ее", "ых", "их", "ов", "ев", "ам", "ям", "ах", "ях",
    "а", "я", "у", "ю", "е", "ы", "и", "о",
)  # fmt: skip
# What a name or noun ends with as a rule writes it (nominative): Москва, Игорь, Зеленский.
_NOMINATIVE_ENDINGS = _folded_endings("ий", "ый", "ой", "ая", "яя", "а", "я", "ь", "й")
# Marks a stem, so a term's stem meets only article stems: "Россия" ("~росси") must meet
# "России" ("~росси") but not the surname "Росси" ("росси"). "~" is never part of a word.
_STEM = "~"
_MIN_CYRILLIC_STEM = 3
_MAX_STEM_VARIANTS = 16  # a long Cyrillic term must not multiply into hundreds of patterns


def _is_arabic(word: str) -> bool:
    return "\u0600" <= word[0] <= "\u06ff"


def _is_cyrillic(word: str) -> bool:
    return bool(word) and "\u0400" <= word[0] <= "\u04ff"


def _has_stem(word: str, ending: str) -> bool:
    return word.endswith(ending) and len(word) - len(ending) >= _MIN_CYRILLIC_STEM


def _stems(word: str, endings: tuple[str, ...]) -> tuple[str, ...]:
    """`word`'s marked stems, one per ending it has (Cyrillic only)."""
    if not _is_cyrillic(word):
        return ()
    return tuple(_STEM + word[: -len(end)] for end in endings if _has_stem(word, end))


def _arabic_variants(word: str) -> tuple[str, ...]:
    variants: list[str] = []
    bases = [word]
    if word[0] in _CONJUNCTIONS and len(word) - 1 >= _MIN_ARABIC_STEM:
        bases.append(word[1:])
    for base in bases:
        if base is not word:
            variants.append(base)
        if base.startswith("لل") and len(base) - 2 >= _MIN_ARABIC_STEM:
            # ل before the article drops its alef: "للأمن" is ل + "الأمن".
            variants += [_ARTICLE + base[2:], base[2:]]
            continue
        rest = base
        if base[0] in _PREPOSITIONS and len(base) - 1 >= _MIN_ARABIC_STEM:
            rest = base[1:]
            if not rest.startswith(_ARTICLE) and len(rest) < _MIN_AFTER_PREPOSITION:
                continue
            variants.append(rest)
        if rest.startswith(_ARTICLE) and len(rest) - 2 >= _MIN_ARABIC_STEM:
            variants.append(rest[2:])
    return tuple(dict.fromkeys(variants))


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
    forms: tuple[str, ...]  # folded, the lemma when it differs, variants: what terms compare


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
            if folded[0] >= "\u0400":
                forms = _with_variants(forms)
            append(Word(text, folded, lemma, token.start, token.end, sentence, is_joined, forms))
            is_joined = True
            continue
        is_joined = _split_token(token, is_joined, append)
    return words


def _with_variants(forms: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*forms, *word_variants(forms[0]))))


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
        if folded[0] >= "\u0400":
            forms = _with_variants(forms)
        start = token.start + piece.start()
        end = token.start + piece.end()
        append(Word(piece.group(), folded, lemma, start, end, token.sentence, is_joined, forms))
        is_joined = True
    return is_joined
