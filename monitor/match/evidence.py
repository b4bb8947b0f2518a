"""Turn where a pattern was found into a `Hit`: the words, their field and offsets, a snippet.

The snippet is the sentence around the hit, cut to about SNIPPET_CHARS between words. Pure;
one `HitMaker` serves one article and reuses the snippets of sentences it has already cut.
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
        self._snippets: dict[tuple[str, int], str] = {}
        # Rules share their leaves, so many matches show the very same hit: build it once.
        self._hits: dict[tuple[Wanted, Spot], Hit] = {}

    def hit(self, wanted: Wanted, spot: Spot) -> Hit:
        """The hit for `wanted` found at `spot`."""
        known = self._hits.get((wanted, spot))
        if known is None:
            known = self._hits[wanted, spot] = self._make(wanted, spot)
        return known

    def _make(self, wanted: Wanted, spot: Spot) -> Hit:
        annotated = self._notes.field(spot.field)
        text = annotated.text if annotated is not None else ""
        return Hit(
            wanted=wanted.label,
            matched=text[spot.start : spot.end],
            field=spot.field,
            start=spot.start,
            end=spot.end,
            snippet=self._snippet(text, annotated.sentences if annotated else (), spot),
            actor_id=wanted.actor_id,
            clause=wanted.clause,
            alias=self._patterns[spot.pattern_id].text,
            weight=wanted.weight,
        )

    def _snippet(self, text: str, sentences: tuple[tuple[int, int], ...], spot: Spot) -> str:
        start, end = sentences[spot.sentence] if spot.sentence < len(sentences) else (0, len(text))
        if end - start > SNIPPET_CHARS:
            return snippet_around(text, start, end, spot.start, spot.end)
        key = (spot.field, spot.sentence)
        found = self._snippets.get(key)
        if found is None:
            found = self._snippets[key] = " ".join(text[start:end].split())
        return found


def snippet_around(text: str, start: int, end: int, hit_start: int, hit_end: int) -> str:
    """About SNIPPET_CHARS of the sentence `text[start:end]` around the hit, cut between words."""
    middle = (hit_start + hit_end) // 2
    cut_start = max(start, min(middle - SNIPPET_CHARS // 2, end - SNIPPET_CHARS))
    cut_end = min(end, cut_start + SNIPPET_CHARS)
    # Cut between words, never inside the hit itself.
    cut_start = _next_space(text, cut_start, limit=hit_start)
    cut_end = _previous_space(text, cut_end, limit=hit_end)
    prefix = "…" if cut_start > start else ""
    suffix = "…" if cut_end < end else ""
    return prefix + " ".join(text[cut_start:cut_end].split()) + suffix


def _next_space(text: str, index: int, *, limit: int) -> int:
    space = text.find(" ", index, limit)
    return index if space < 0 else space + 1


def _previous_space(text: str, index: int, *, limit: int) -> int:
    space = text.rfind(" ", limit, index)
    return index if space < 0 else space
