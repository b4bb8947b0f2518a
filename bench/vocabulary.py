"""What the real French corpus says about its own words: document frequencies of words and
phrases, and the named entities the French model finds in it (cached under the temp folder).

Feeds bench.workload's rule generator; it knows nothing of rules. Reads the corpus only
through the Articles it is given, and never writes inside the repository.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spacy.lang.fr.stop_words import STOP_WORDS

from monitor.model import Article
from monitor.nlp import Annotator
from monitor.text import fold

# A word: letters, inner hyphens, and a leading elision kept with it ("l’Intérieur").
_WORD = re.compile(r"(?:[A-Za-zÀ-ÿ]['’])?[^\W\d_]+(?:-[^\W\d_]+)*")
# Phrases never span these: a comma breaks a phrase in the matcher too (docs/rules.md#phrases).
_BREAKS = re.compile(r"[.,;:!?()\[\]«»\"“”—–…|/]+|\s-\s")
_ELISION = re.compile(r"^[A-Za-zÀ-ÿ]['’]")
# Dates are every item's boilerplate ("dimanche 9 février"): no desk watches for a month.
_CALENDAR = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
    "lundi mardi mercredi jeudi vendredi samedi dimanche"
).split()
_STOP = frozenset(fold(word) for word in (*STOP_WORDS, *_CALENDAR))
# Entity labels fr_core_news_sm gives that map to actor types; MISC is too mixed to be one.
ENTITY_KINDS = {"PER": "person", "ORG": "org", "LOC": "place"}
# Version of the entity cache's content: bump it when _entities_of changes what it keeps.
_CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Counted:
    """A word, phrase or entity as the corpus spells it most often, and in how many items."""

    text: str
    df: int


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Document frequencies over the corpus items, most frequent first."""

    items: int
    words: tuple[Counted, ...]
    phrases: tuple[Counted, ...]
    acronyms: tuple[Counted, ...]


def item_text(article: Article) -> str:
    return "\n".join(part for part in (article.title, article.summary, article.body) if part)


def vocabulary(articles: Sequence[Article]) -> Vocabulary:
    """Content words (4+ letters, not stop words, in 2+ items) and 2-3 word phrases (3+ items)."""
    word_df: Counter[str] = Counter()
    phrase_df: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    acronym_df: Counter[str] = Counter()
    for article in articles:
        seen_words: set[str] = set()
        seen_phrases: set[str] = set()
        seen_acronyms: set[str] = set()
        for segment in _BREAKS.split(item_text(article)):
            tokens = _WORD.findall(segment)
            seen_acronyms.update(_acronyms(tokens))
            _count_segment(tokens, seen_words, seen_phrases, spellings)
        word_df.update(seen_words)
        phrase_df.update(seen_phrases)
        acronym_df.update(seen_acronyms)
    for acronym in acronym_df:
        spellings.setdefault(acronym, Counter())[acronym] += 1

    def ranked(counts: Counter[str], least: int) -> tuple[Counted, ...]:
        kept = [(key, df) for key, df in counts.items() if df >= least]
        kept.sort(key=lambda pair: (-pair[1], pair[0]))
        return tuple(Counted(spellings[key].most_common(1)[0][0], df) for key, df in kept)

    return Vocabulary(
        len(articles), ranked(word_df, 2), ranked(phrase_df, 3), ranked(acronym_df, 2)
    )


def _acronyms(tokens: list[str]) -> set[str]:
    # "RN", "SNCF": upper case, 2-6 letters; a shouted headline word ("ALERTE") is longer.
    return {token for token in tokens if token.isupper() and 2 <= len(token) <= 6}


def _count_segment(
    tokens: list[str],
    seen_words: set[str],
    seen_phrases: set[str],
    spellings: dict[str, Counter[str]],
) -> None:
    bare = [_ELISION.sub("", token) for token in tokens]
    for index, word in enumerate(bare):
        key = fold(word)
        if _is_content(key):
            seen_words.add(key)
            spellings.setdefault(key, Counter())[word] += 1
        for length in (2, 3):
            # A phrase starts and ends on content words: "ministre de l'Intérieur" is one.
            if index + length > len(bare) or not _is_content(key):
                continue
            if _is_content(fold(bare[index + length - 1])):
                spelled = " ".join([word, *tokens[index + 1 : index + length]])
                phrase = fold(spelled)
                seen_phrases.add(phrase)
                spellings.setdefault(phrase, Counter())[spelled] += 1


def _is_content(folded: str) -> bool:
    return len(folded) >= 4 and folded not in _STOP


# --- named entities ------------------------------------------------------------------------


def corpus_entities(articles: Sequence[Article]) -> dict[str, tuple[Counted, ...]]:
    """PER, ORG and LOC entities the French model finds in `articles`, by label, most frequent
    first; computed once per corpus content and cached in the system temp folder."""
    digest = hashlib.sha256(str(_CACHE_VERSION).encode())
    for article in articles:
        digest.update(item_text(article).encode())
    cache = Path(tempfile.gettempdir()) / f"monitor-bench-entities-{digest.hexdigest()[:16]}.json"
    if cache.is_file():
        raw = json.loads(cache.read_text(encoding="utf-8"))
    else:
        raw = _entities_of(articles)
        partial = cache.with_suffix(".tmp")
        partial.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        partial.replace(cache)  # atomic: a concurrent benchmark never reads half a file
    return {
        label: tuple(Counted(text, df) for text, df in entries) for label, entries in raw.items()
    }


def _entities_of(articles: Sequence[Article]) -> dict[str, list[tuple[str, int]]]:
    with Annotator() as annotator:
        notes = annotator.annotate(articles, with_entities=True)
    counts: dict[str, Counter[str]] = {label: Counter() for label in ENTITY_KINDS}
    for note in notes:
        found = {
            (entity.label, name)
            for field in note.fields
            for entity in field.entities
            if entity.label in ENTITY_KINDS and (name := _entity_name(entity.text))
        }
        for label, name in found:
            counts[label][name] += 1
    return {
        label: sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))
        for label, counter in counts.items()
    }


def _entity_name(text: str) -> str | None:
    """The entity as an analyst would write it, or None for fragments not worth an actor."""
    name = " ".join(text.replace("’", "'").strip(" '\"-«»").split())
    words = name.split()
    if not 1 <= len(words) <= 5 or len(name) < 3 or not name[0].isupper():
        return None
    if any(char.isdigit() for char in name) or fold(words[0]) in _STOP or fold(name) in _STOP:
        return None
    return name


def acronym_of(name: str, known: frozenset[str]) -> str | None:
    """The initials of `name`'s capitalised words when the corpus uses them ("RN")."""
    initials = "".join(word[0] for word in name.split() if word[0].isupper())
    return initials if len(initials) >= 2 and initials in known else None
