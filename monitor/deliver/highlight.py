"""Pick the snippet that best shows why an article matched, and mark the words that hit.

Owns snippet choice, clipping and the marked runs templates wrap in <mark> or *…*.
Pure: returns plain-text runs and adds no markup, so escaping stays the template's job.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.model import Article, Hit

MAX_SNIPPET_CHARS = 320
_CONTEXT_CHARS = 120
# The title is shown anyway, so a sentence from the summary or body says more.
_FIELD_PREFERENCE = ("summary", "body", "title")

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SnippetPart:
    """A run of snippet text; `is_marked` runs are the words the rule matched."""

    text: str
    is_marked: bool


def highlight_snippet(article: Article, hits: Sequence[Hit]) -> tuple[SnippetPart, ...]:
    """The best snippet of the hits, split into plain and marked runs."""
    chosen = _choose_hit(hits)
    if chosen is None:
        return ()
    same_sentence = [h for h in hits if h.field == chosen.field and h.snippet == chosen.snippet]
    spans = _merge(
        span for span in (_span_in_snippet(article, hit) for hit in same_sentence) if span
    )
    text, spans = _flatten(chosen.snippet, spans)
    text, spans = _clip(text, spans)
    return _split(text, spans)


def _choose_hit(hits: Sequence[Hit]) -> Hit | None:
    for field in _FIELD_PREFERENCE:
        for hit in hits:
            if hit.field == field and hit.snippet.strip():
                return hit
    return None


def _span_in_snippet(article: Article, hit: Hit) -> Span | None:
    """Where the hit lies in its snippet: Hit offsets count from the field, not the snippet."""
    snippet = hit.snippet
    if 0 <= hit.snippet_start < hit.snippet_end <= len(snippet):
        return hit.snippet_start, hit.snippet_end
    # Hits stored before they kept their place in the snippet.
    try:
        field_text = article.field_text(hit.field)
    except ValueError:
        field_text = ""
    offset = field_text.find(snippet, max(0, hit.end - len(snippet)))
    if 0 <= offset <= hit.start and hit.end <= offset + len(snippet):
        return hit.start - offset, hit.end - offset
    # The snippet was cleaned or cut: fall back to the matched words themselves.
    found = snippet.find(hit.matched) if hit.matched else -1
    if found < 0:
        return None
    return found, found + len(hit.matched)


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _flatten(text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
    """One line of text (control characters and whitespace runs become one space).

    The spans are moved with the characters, so the marks stay on the matched words.
    """
    if text.isprintable() and "  " not in text and text.strip(" ") == text:
        return text, list(spans)  # already one clean line: the common case, at C speed
    kept: list[str] = []
    new_index: list[int] = []  # new_index[i]: where old character i lands (or would land)
    for char in text:
        new_index.append(len(kept))
        is_blank = char.isspace() or unicodedata.category(char).startswith("C")
        if not is_blank:
            kept.append(char)
        elif kept and kept[-1] != " ":
            kept.append(" ")
    new_index.append(len(kept))
    flat = "".join(kept)
    stripped = flat.rstrip()
    moved = [(new_index[start], min(new_index[end], len(stripped))) for start, end in spans]
    return stripped, [(start, end) for start, end in moved if start < end]


def _clip(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """Cut a long snippet to a window around its first highlight, with ellipses."""
    if len(text) <= MAX_SNIPPET_CHARS:
        return text, spans
    first = spans[0][0] if spans else 0
    start = max(0, first - _CONTEXT_CHARS)
    end = min(len(text), start + MAX_SNIPPET_CHARS)
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    shift = len(prefix) - start
    kept = [(max(s, start) + shift, min(e, end) + shift) for s, e in spans if s < end and e > start]
    return prefix + text[start:end] + suffix, kept


def _split(text: str, spans: Sequence[Span]) -> tuple[SnippetPart, ...]:
    parts: list[SnippetPart] = []
    cursor = 0
    for start, end in spans:
        if start > cursor:
            parts.append(SnippetPart(text[cursor:start], is_marked=False))
        parts.append(SnippetPart(text[start:end], is_marked=True))
        cursor = end
    if cursor < len(text):
        parts.append(SnippetPart(text[cursor:], is_marked=False))
    return tuple(parts)
