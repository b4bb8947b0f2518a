"""Inflected forms of a rule term's words, from the lemma tables of spacy-lookups-data.

The French and English lookup tables (form → lemma) are inverted once per process, lazily, on
the first rule that needs the language, into lemma → forms; `inflections` then answers from
memory. Words are folded like everything the matcher compares. Reads package data only: no
spaCy, no network, no clock.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from monitor.text import fold

_fold_uncached = fold.__wrapped__

# Languages whose lookup table ships in spacy-lookups-data and that rules are expanded with.
LANGUAGES = frozenset({"fr", "en"})
# Rules without `languages:` are read as French, the annotator's default language.
DEFAULT_LANGUAGE = "fr"
# Shorter words are mostly articles and prepositions ("le" → "la", "les"; "des" → "un"):
# expanding them would let a phrase match other phrases. The article's own lemma still applies.
MIN_LETTERS = 4
# Auxiliaries whose forms are everywhere ("avoir" → "a", "ont"; "have" → "has", "had").
_NEVER_EXPANDED = frozenset({"avoir", "etre", "have"})
# The gender and number endings of French (and English plural) nouns and adjectives, folded:
# "policière(s)", "interpellé(e)(s)", "jeux". Two words with the same stem are one paradigm cell.
_NOMINAL_ENDING = re.compile(r"e{0,2}[sx]?$")
_WORD = re.compile(r"[^\W_]+")
_ENTRY = re.compile(r'"([^"]+)":\s*(\[[^\]]*\]|"[^"]*")')
_STRING = re.compile(r'"([^"]*)"')


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """One language's table, folded both ways, compact: 35,000 French lemmas, 217,000 forms."""

    forms: dict[str, str]  # lemma → its forms, space-separated
    lemmas: dict[str, str]  # form → its lemmas (nearly always one), space-separated


def inflections(word: str, language: str) -> tuple[str, ...]:
    """The folded forms `word` (folded) also stands for in `language`, `word` first.

    A lemma stands for its whole paradigm ("interpeller" → "interpelle", "interpellait", …);
    an inflected form for the forms with its own stem ("policière" → "policier", "policiers",
    "policières", but "force" not for "forçait"). Words the table does not know, short words
    and auxiliaries stand for themselves.
    """
    if language not in LANGUAGES or len(word) < MIN_LETTERS or word in _NEVER_EXPANDED:
        return (word,)
    lexicon = _load(language)
    found = dict.fromkeys((word, *lexicon.forms.get(word, "").split()))
    stem = _stem(word)
    for lemma in lexicon.lemmas.get(word, "").split():
        if lemma in _NEVER_EXPANDED:
            continue
        for form in (lemma, *lexicon.forms.get(lemma, "").split()):
            if _stem(form) == stem:
                found[form] = None
    return tuple(found)


def _stem(word: str) -> str:
    return _NOMINAL_ENDING.sub("", word, count=1)


@functools.cache
def _load(language: str) -> _Lexicon:
    # Cached: every compile in the process shares one copy (measured in docs/rules.md,
    # "Inflected forms").
    path = resources.files("spacy_lookups_data") / "data" / f"{language}_lemma_lookup.json.gz"
    forms: dict[str, list[str]] = {}
    lemmas: dict[str, str] = {}
    folded: dict[str, str] = {}  # lemmas repeat: fold each once
    for raw_form, raw_lemmas in _entries(gzip.decompress(path.read_bytes()).decode()):
        form = _fold(raw_form)
        if not _WORD.fullmatch(form):
            continue  # "d'", "aujourd'hui": the matcher never sees such a word whole
        for raw_lemma in raw_lemmas:
            lemma = folded.get(raw_lemma) or folded.setdefault(raw_lemma, _fold(raw_lemma))
            if lemma == form or not _WORD.fullmatch(lemma):
                continue
            known = lemmas.get(form)
            if known is None:
                lemmas[form] = lemma
            elif lemma in known.split():
                continue  # "interpelle" and "interpellé" fold alike: one form, one lemma
            else:
                lemmas[form] = f"{known} {lemma}"
            forms.setdefault(lemma, []).append(form)
    return _Lexicon(
        forms={lemma: " ".join(dict.fromkeys(found)) for lemma, found in forms.items()},
        lemmas=lemmas,
    )


def _entries(text: str) -> Iterator[tuple[str, list[str]]]:
    """(form, lemmas) for each entry of a lookup table: `{"form": "lemma"}` or `["lemma"]`."""
    if "\\" in text:  # escapes: rare enough to afford the whole parsed table in memory
        for form, lemma in json.loads(text).items():
            yield form, [lemma] if isinstance(lemma, str) else lemma
        return
    # Entry by entry: json.loads would hold 217,000 keys and lists at once (+80 MB at peak).
    for found in _ENTRY.finditer(text):
        yield found.group(1), _STRING.findall(found.group(2))


def _fold(text: str) -> str:
    # Most table words are plain lower-case ASCII, which folding leaves as they are; the rest
    # go through the uncached fold, since 250,000 table words would flush the cache that
    # article words rely on.
    return text if text.isascii() and text.islower() else _fold_uncached(text)
