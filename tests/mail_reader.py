"""Read a received email the way a mail client does: defects, and the text part un-flowed.

`plain_text` joins format=flowed soft breaks back into paragraphs (RFC 3676 4.1-4.4,
DelSp=no), as mutt or Thunderbird show them; a test that looks for a sentence in the text
part reads it through here, not through the raw 72-column lines.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage


def parse_received(data: bytes) -> EmailMessage:
    """`data` parsed by the stdlib with the default (strict, modern) policy."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def all_defects(message: EmailMessage) -> list[object]:
    """Every defect the parser found, in the message and in each of its parts and headers."""
    found: list[object] = []
    for part in message.walk():
        found.extend(part.defects)
        for name, value in part.items():
            found.extend((name, defect) for defect in getattr(value, "defects", ()))
    return found


def unflow(text: str) -> str:
    """The paragraphs of a format=flowed body (DelSp=no): soft breaks joined, unstuffed."""
    paragraphs: list[str] = []
    current: str | None = None
    for raw in text.splitlines():
        line = raw[1:] if raw.startswith(" ") else raw  # RFC 3676 4.4: remove the stuffing
        current = line if current is None else current + line
        if line.endswith(" ") and line != "-- ":
            continue  # a soft break: the paragraph goes on
        paragraphs.append(current)
        current = None
    if current is not None:
        paragraphs.append(current)
    return "\n".join(paragraphs) + "\n"


def plain_text(message: EmailMessage) -> str:
    """The text part as a format=flowed reader shows it."""
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    text = part.get_content()
    assert isinstance(text, str)
    if part.get_param("format") == "flowed":
        return unflow(text)
    return text
