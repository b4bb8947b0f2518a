"""Which block (paragraph, heading, list item, line) of its field each spot is in.

`near: N` windows stop at block boundaries. Blocks are read off the annotations: normalisation
writes a line break between blocks, and nlp.py starts a sentence after every line break, so a
block is a run of sentences with no line break between them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from monitor.match.patterns import Spot
from monitor.model import AnnotatedField, Annotations

BlockOf = Callable[[Spot], int]
_LINE_BREAK = re.compile("[\n\r\u2028\u2029]")


def block_finder(notes: Annotations) -> BlockOf:
    """The block of a spot, numbered from 0 within its field; each field is read once."""
    known: dict[str, tuple[int, ...]] = {}

    def block_of(spot: Spot) -> int:
        blocks = known.get(spot.field)
        if blocks is None:
            blocks = known[spot.field] = sentence_blocks(notes.field(spot.field))
        return blocks[spot.sentence]

    return block_of


def sentence_blocks(field: AnnotatedField | None) -> tuple[int, ...]:
    """The block of each sentence of `field`."""
    if field is None:
        return ()
    blocks: list[int] = []
    block, previous_end = 0, None
    # Sentences are trimmed, so the line break between two blocks lies between two sentences.
    for start, end in field.sentences:
        if previous_end is not None and _LINE_BREAK.search(field.text, previous_end, start):
            block += 1
        blocks.append(block)
        previous_end = end
    return tuple(blocks)
