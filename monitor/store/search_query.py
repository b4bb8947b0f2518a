"""The archive search's query language: what an analyst types → a small AST, and where the
query's words fall in a text (the offsets a page highlights).

Words, "phrases", -exclusions (or NOT), OR between alternatives and a trailing * for a
prefix; case and accents fold as the index folds them (SQLite's unicode61 with
remove_diacritics 2). Where an index also stems words (PostgreSQL's french), the caller
passes each word's lexeme and the spans mark what stemming matched. Pure: renders no SQL,
so FTS5 and tsquery (`fulltext.py`) read the same AST, and nothing typed reaches the index.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

MAX_QUERY_CHARS = 500
MAX_TERMS = 32
SNIPPET_CHARS = 240
# Letters and digits, as unicode61 reads tokens by default (categories L*, N*): everything
# else (spaces, punctuation, apostrophes, hyphens, symbols) separates them.
_TOKEN = re.compile(r"[^\W_]+")
_OPERATOR_OR = "OR"
_OPERATORS_AND = ("AND",)
_OPERATOR_NOT = "NOT"

Span = tuple[int, int]
# A folded word → the lexeme the index keeps for it; a word missing from it is its own lexeme.
Lexemes = Mapping[str, str]
_AS_TYPED: Lexemes = {}


def _(message: str) -> str:
    """Mark a message for the catalog; the web page translates it when it shows it."""
    return message


# English msgids: `SearchSyntaxError.template`, translated by whoever shows it.
UNCLOSED_QUOTE = _(
    "the quotation mark before '%(fragment)s' is not closed: end the phrase with another \""
)
DANGLING_OR = _("OR needs something to look for on each side, as in: Hammouchi OR DGST")
OR_EXCLUSION = _("OR cannot join an exclusion ('%(fragment)s'): exclude it on its own")
ONLY_EXCLUSIONS = _("say what to look for: an exclusion like -word only removes articles")
NO_WORDS = _("'%(fragment)s' has nothing to look for: search for words made of letters or digits")
TOO_LONG = _("the search is too long: at most %(limit)s characters and %(terms)s words or phrases")


class SearchSyntaxError(ValueError):
    """A query the search cannot run, with a message the user can act on."""

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values
        super().__init__(template % values if values else template)


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One word, or a phrase of words in order, each folded like the index folds it."""

    words: tuple[str, ...]
    is_prefix: bool = False  # the last word is a prefix ("sécu*")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Every group must hold (a group holds when any of its terms occurs), and no excluded
    term may occur. No group: nothing to search."""

    groups: tuple[tuple[SearchTerm, ...], ...] = ()
    excluded: tuple[SearchTerm, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.groups

    def wanted(self) -> tuple[SearchTerm, ...]:
        """The terms a result is found by (the ones to highlight)."""
        return tuple(term for group in self.groups for term in group)


def fold_word(text: str) -> str:
    """Lower case without accents: 'Sécurité' -> 'securite' (unicode61's folding)."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def parse_search(text: str) -> SearchQuery:
    """The query `text` means; raises SearchSyntaxError when it cannot be run as typed."""
    if len(text) > MAX_QUERY_CHARS:
        raise SearchSyntaxError(TOO_LONG, limit=MAX_QUERY_CHARS, terms=MAX_TERMS)
    groups: list[list[SearchTerm]] = []
    excluded: list[SearchTerm] = []
    joins_previous = False  # an OR came after the last term
    last_excluded = False
    count = 0
    for item in _items(text):
        if isinstance(item, str):  # the only operator left is OR
            if joins_previous or not (groups or excluded):
                raise SearchSyntaxError(DANGLING_OR)
            if last_excluded:
                raise SearchSyntaxError(OR_EXCLUSION, fragment=_shown(excluded[-1]))
            joins_previous = True
            continue
        term, is_negated = item
        count += 1
        if count > MAX_TERMS:
            raise SearchSyntaxError(TOO_LONG, limit=MAX_QUERY_CHARS, terms=MAX_TERMS)
        if is_negated:
            if joins_previous:
                raise SearchSyntaxError(OR_EXCLUSION, fragment=_shown(term))
            excluded.append(term)
        elif joins_previous:
            groups[-1].append(term)
        else:
            groups.append([term])
        joins_previous, last_excluded = False, is_negated
    if joins_previous:
        raise SearchSyntaxError(DANGLING_OR)
    if excluded and not groups:
        raise SearchSyntaxError(ONLY_EXCLUSIONS)
    if not groups and text.strip():
        raise SearchSyntaxError(NO_WORDS, fragment=text.strip()[:60])
    return SearchQuery(tuple(tuple(group) for group in groups), tuple(excluded))


def _items(text: str) -> Iterator[str | tuple[SearchTerm, bool]]:
    """The query's terms (with whether each is excluded) and its OR operators, in order."""
    position = 0
    is_negated = False
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if char == "-" and position + 1 < len(text) and not text[position + 1].isspace():
            is_negated, position = True, position + 1
            continue
        if char == '"':
            end = text.find('"', position + 1)
            if end < 0:
                raise SearchSyntaxError(UNCLOSED_QUOTE, fragment=text[position + 1 :][:60])
            chunk, position = text[position + 1 : end], end + 1
            is_prefix = text.startswith("*", position)
            position += is_prefix
        else:
            end = position
            while end < len(text) and not text[end].isspace() and text[end] != '"':
                end += 1
            chunk, position = text[position:end], end
            is_prefix = chunk.endswith("*")
            if chunk == _OPERATOR_OR and not is_negated:
                yield _OPERATOR_OR
                continue
            if chunk in _OPERATORS_AND and not is_negated:
                continue  # words side by side must all occur anyway
            if chunk == _OPERATOR_NOT and not is_negated:
                is_negated = True
                continue
        words = tuple(fold_word(match.group()) for match in _TOKEN.finditer(chunk))
        if words:
            yield SearchTerm(words, is_prefix=is_prefix), is_negated
        is_negated = False


def _shown(term: SearchTerm) -> str:
    return "-" + " ".join(term.words) + ("*" if term.is_prefix else "")


# --- where the words fall -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchSnippet:
    """A stretch of one field around the query's first hit, and the hits' offsets in it."""

    field: str  # "title" | "summary" | "body"
    text: str
    spans: tuple[Span, ...]


def folded_words(text: str) -> set[str]:
    """Every word of `text` as the index reads it (to ask a stemming index their lexemes)."""
    return {fold_word(found.group()) for found in _TOKEN.finditer(text)}


def term_spans(
    text: str, terms: Sequence[SearchTerm], lexemes: Lexemes = _AS_TYPED
) -> tuple[Span, ...]:
    """Where any of `terms` occurs in `text` (start, end), in order, never overlapping.

    A word of the text matches a word of a term when their lexemes are equal: with no
    `lexemes`, when the folded words are. A prefix term compares folded words, the last
    a prefix, as the stemming index reads a prefix among the words as typed.
    """
    if not terms or not text:
        return ()
    tokens = []
    for found in _TOKEN.finditer(text):
        word = fold_word(found.group())
        tokens.append((found.start(), found.end(), word, lexemes.get(word, word)))
    spans: list[Span] = []
    for index in range(len(tokens)):
        for term in terms:
            length = _match_length(tokens, index, term, lexemes)
            if length:
                spans.append((tokens[index][0], tokens[index + length - 1][1]))
                break
    return tuple(_without_overlaps(spans))


def _match_length(
    tokens: Sequence[tuple[int, int, str, str]], index: int, term: SearchTerm, lexemes: Lexemes
) -> int:
    words = term.words
    if index + len(words) > len(tokens):
        return 0
    for offset, word in enumerate(words):
        _, _, folded, lexeme = tokens[index + offset]
        if term.is_prefix:
            is_last = offset == len(words) - 1
            if not (folded == word or (is_last and folded.startswith(word))):
                return 0
        elif lexeme != lexemes.get(word, word):
            return 0
    return len(words)


def _without_overlaps(spans: Sequence[Span]) -> Iterator[Span]:
    end = -1
    for start, stop in spans:
        if start >= end:
            yield start, stop
            end = stop


def search_snippet(
    fields: Sequence[tuple[str, str]], terms: Sequence[SearchTerm], lexemes: Lexemes = _AS_TYPED
) -> SearchSnippet:
    """The first field (name, text) with a hit, cut to about SNIPPET_CHARS around its first
    hit at word boundaries; the first non-empty field's start when none has one."""
    for name, text in fields:
        spans = term_spans(text, terms, lexemes)
        if spans:
            return _cut(name, text, spans)
    for name, text in fields:
        if text.strip():
            return _cut(name, text, ())
    return SearchSnippet(fields[0][0] if fields else "body", "", ())


def _cut(name: str, text: str, spans: Sequence[Span]) -> SearchSnippet:
    start = 0
    if spans and spans[0][1] > SNIPPET_CHARS:
        start = _word_start(text, max(0, spans[0][0] - SNIPPET_CHARS // 3))
    while start < len(text) and text[start].isspace():
        start += 1
    end = len(text)
    if end - start > SNIPPET_CHARS:
        end = _word_end(text, start + SNIPPET_CHARS)
        if end <= start:  # one word longer than the snippet: cut it
            end = start + SNIPPET_CHARS
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    shift = len(prefix) - start
    inside = tuple(
        (span_start + shift, span_end + shift)
        for span_start, span_end in spans
        if span_start >= start and span_end <= end
    )
    return SearchSnippet(name, prefix + text[start:end] + suffix, inside)


def _word_start(text: str, position: int) -> int:
    """`position`, moved forward past the word it falls in (so no word is cut at the left)."""
    while 0 < position < len(text) and not text[position - 1].isspace():
        position += 1
    return position


def _word_end(text: str, position: int) -> int:
    while 0 < position < len(text) and not text[position].isspace():
        position -= 1
    return position
