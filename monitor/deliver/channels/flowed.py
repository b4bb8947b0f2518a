"""Wrap a plain-text body as format=flowed (RFC 3676, DelSp=no) at 72 columns. Pure.

A soft line break is a trailing space, so a flowed reader joins the lines back into the
paragraph and a plain reader still sees short lines. Words longer than a line (URLs) are
never cut: they stay whole on a line of their own.
"""

from __future__ import annotations

import re

WIDTH = 72  # RFC 3676 4.2: lines SHOULD be no more than 78 characters, 72 is recommended
SIGNATURE = "-- "  # RFC 3676 4.3: the signature separator is never flowed

# A word with the spaces after it, or the spaces a line starts with. Only the ASCII space
# separates words: a no-break space (French "dans\u202f:") must neither break nor vanish.
_TOKEN = re.compile(r"[^ ]+ *| +")


def flow_text(text: str, width: int = WIDTH) -> str:
    """`text` with each line wrapped to `width` by soft breaks, space-stuffed where needed."""
    lines: list[str] = []
    for line in text.splitlines():
        if line == SIGNATURE:
            lines.append(line)
            continue
        # A trailing space would read as a soft break: the original line ended there.
        lines.extend(_stuff(piece) for piece in _wrap(line.rstrip(" "), width))
    return "\n".join(lines) + "\n"


def _wrap(line: str, width: int) -> list[str]:
    """`line` cut after spaces into pieces of at most `width` (a longer word stays whole).

    Every piece but the last ends with the space it was cut after: the soft break.
    """
    pieces: list[str] = []
    current = ""
    for token in _TOKEN.findall(line):
        # Counted with the soft-break space after it and the stuffing it may need.
        room = width - 1 - _needs_stuffing(current or token)
        # A break after indentation alone would leave a line of spaces: the word goes on it.
        if current.strip() and len(current) + len(token.rstrip(" ")) > room:
            pieces.append(current)
            current = ""
        current += token
    pieces.append(current)
    return pieces


def _needs_stuffing(piece: str) -> bool:
    """RFC 3676 4.4: a line starting with ' ', '>' or 'From ' gets one more space in front."""
    return piece.startswith((" ", ">", "From "))


def _stuff(piece: str) -> str:
    return " " + piece if _needs_stuffing(piece) else piece
