"""Turn where a pattern was found into a `Hit`: the words, their field and offsets, a snippet.

The snippet is the sentence around the hit on one line, cut to about SNIPPET_CHARS between
words, with the hit's place in it. Pure; one `HitMaker` serves one article and reuses the hits
it has already made.
"""

from __future__ import annotations

from monitor.match.patterns import Pattern, Spot
from monitor.match.plan import Wanted
from monitor.model import Annotations, Hit

SNIPPET_CHARS = 300


class HitMaker:
    """Hits for one annotated article."""

    __slots__ = ("_hits", "_notes", "_patterns", "_snippets")

    def __init__(self, notes: Annotations, patterns: list[Pattern]) -> None:
        self._notes = notes
        self._patterns = patterns
        # Rules share their leaves, so many matches show the very same hit: build it once.
        self._hits: dict[tuple[Wanted, Spot], Hit] = {}
        # Leaves that differ only by their clause or weight are found at the same spots: the
        # snippet depends on the spot alone.
        self._snippets: dict[Spot, tuple[str, tuple[int, int]]] = {}

    def hit(self, wanted: Wanted, spot: Spot) -> Hit:
        """The hit for `wanted` found at `spot`."""
        known = self._hits.get((wanted, spot))
        if known is None:
            known = self._hits[wanted, spot] = self._make(wanted, spot)
        return known

    def _make(self, wanted: Wanted, spot: Spot) -> Hit:
        annotated = self._notes.field(spot.field)
        text = annotated.text if annotated is not None else ""
        snippet, (mark_start, mark_end) = self._snippet(spot, text)
        return Hit(
            wanted=wanted.label,
            matched=text[spot.start : spot.end],
            field=spot.field,
            start=spot.start,
            end=spot.end,
            snippet=snippet,
            actor_id=wanted.actor_id,
            clause=wanted.clause,
            alias=self._patterns[spot.pattern_id].text,
            weight=wanted.weight,
            snippet_start=mark_start,
            snippet_end=mark_end,
        )

    def _snippet(self, spot: Spot, text: str) -> tuple[str, tuple[int, int]]:
        known = self._snippets.get(spot)
        if known is None:
            annotated = self._notes.field(spot.field)
            sentences = annotated.sentences if annotated else ()
            whole = (0, len(text))
            start, end = sentences[spot.sentence] if spot.sentence < len(sentences) else whole
            known = snippet_around(text, start, end, spot.start, spot.end)
            self._snippets[spot] = known
        return known


def snippet_around(
    text: str, start: int, end: int, hit_start: int, hit_end: int
) -> tuple[str, tuple[int, int]]:
    """The sentence `text[start:end]` on one line, cut to about SNIPPET_CHARS around the hit
    between words, and where the hit lies in it."""
    if end - start <= SNIPPET_CHARS:
        return _one_line_with_mark(text, start, end, hit_start, hit_end, prefix="", suffix="")
    middle = (hit_start + hit_end) // 2
    cut_start = max(start, min(middle - SNIPPET_CHARS // 2, end - SNIPPET_CHARS))
    cut_end = min(end, cut_start + SNIPPET_CHARS)
    # Cut between words, never inside the hit itself.
    cut_start = _next_space(text, cut_start, limit=hit_start)
    cut_end = _previous_space(text, cut_end, limit=hit_end)
    prefix = "…" if cut_start > start else ""
    suffix = "…" if cut_end < end else ""
    return _one_line_with_mark(text, cut_start, cut_end, hit_start, hit_end, prefix, suffix)


def _one_line_with_mark(
    text: str, start: int, end: int, hit_start: int, hit_end: int, prefix: str, suffix: str
) -> tuple[str, tuple[int, int]]:
    # The same line as " ".join(text[start:end].split()), built in three parts so the hit's
    # place in it is known rather than searched for.
    raw_before, raw_after = text[start:hit_start], text[hit_end:end]
    before = " ".join(raw_before.split())
    if before and raw_before[-1].isspace():
        before += " "
    hit = " ".join(text[hit_start:hit_end].split())
    after = " ".join(raw_after.split())
    if after and raw_after[0].isspace():
        after = " " + after
    mark_start = len(prefix) + len(before)
    return prefix + before + hit + after + suffix, (mark_start, mark_start + len(hit))


def _next_space(text: str, index: int, *, limit: int) -> int:
    space = text.find(" ", index, limit)
    return index if space < 0 else space + 1


def _previous_space(text: str, index: int, *, limit: int) -> int:
    space = text.rfind(" ", limit, index)
    return index if space < 0 else space
