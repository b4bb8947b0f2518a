"""Repair double-encoded text ("contrÃ´le" → "contrôle") with ftfy; ftfy stays here.

Owns which of ftfy's fixes run: only the ones that undo a wrong decoding. Everything else
ftfy can do (uncurling quotes, NFC/NFKC, ligatures, widths, HTML entities) would change
text that was right. Pure: text in, text out.
"""

from __future__ import annotations

import ftfy

# On the 1,334 items of ../shared/corpus/fr-feeds, ftfy's defaults change 776 titles,
# summaries or bodies by uncurling typographic quotes, 7 by unescaping entities and 1 by
# NFC; with only the decoding fixes on, none changes (tests/test_mojibake.py).
_DECODING_ONLY = ftfy.TextFixerConfig(
    unescape_html=False,  # html_to_text decodes entities, once
    remove_terminal_escapes=False,
    fix_encoding=True,
    restore_byte_a0=True,  # "Ã " is "à" whose 0xA0 byte became a space
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,  # one garbled word in an otherwise correct title
    fix_c1_controls=True,  # cp1252 punctuation read as Latin-1 controls (\x92 → ’)
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=True,  # a lone surrogate cannot even be stored as UTF-8
    remove_control_chars=False,  # normalize.py owns which invisible characters go
    normalization=None,
    explain=False,
)


def repair_mojibake(text: str) -> str:
    """`text` with UTF-8 that was decoded as Latin-1 or cp1252 (once or more) undone;
    text that was decoded right comes back unchanged."""
    if text.isascii():  # mojibake needs non-ASCII characters: skip ftfy's work
        return text
    return ftfy.fix_text(text, _DECODING_ONLY)
