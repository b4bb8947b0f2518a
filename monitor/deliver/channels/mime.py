"""Build the MIME email for a delivery: multipart/alternative text + HTML, stable ids.

Owns header hygiene: every header value is stripped of control characters and bounded
before it is set, so feed text can neither inject headers nor break the message.
Must not send anything or touch the network.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.model import Delivery

MAX_HEADER_CHARS = 250
MESSAGE_ID_DOMAIN = "monitor.local"

_WHITESPACE = re.compile(r"\s+")
# RFC 5322 3.6.4: the left part of a msg-id is a dot-atom; keep a safe subset of it.
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._+=-]")


def build_email(
    delivery: Delivery, *, from_addr: str, to_addrs: Sequence[str], now: datetime
) -> EmailMessage:
    """The email for `delivery`; its Message-ID is the same on every retry."""
    message = EmailMessage()
    message["Subject"] = clean_header(delivery.message.subject)
    message["From"] = clean_header(from_addr)
    # Bound each address, not the list: a cut list would hold a broken address.
    message["To"] = ", ".join(clean_header(address) for address in to_addrs)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(delivery.id)
    message["X-Monitor-Delivery"] = clean_header(delivery.id)
    message["X-Monitor-Subscription"] = clean_header(delivery.subscription_id)
    # RFC 3834: tells auto-responders not to answer.
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line 7-bit and short, whatever the MTA supports.
    message.set_content(delivery.message.text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(
        delivery.message.html, subtype="html", charset="utf-8", cte="quoted-printable"
    )
    return message


def message_id(delivery_id: str) -> str:
    """The deterministic Message-ID of a delivery, e.g. '<abc123@monitor.local>'."""
    local = _UNSAFE_ID_CHARS.sub("-", delivery_id)[:200] or "delivery"
    return f"<{local}@{MESSAGE_ID_DOMAIN}>"


def clean_header(value: str) -> str:
    """One line of visible text, at most MAX_HEADER_CHARS long."""
    visible = "".join(" " if unicodedata.category(char).startswith("C") else char for char in value)
    text = _WHITESPACE.sub(" ", visible).strip()
    if len(text) > MAX_HEADER_CHARS:
        text = text[: MAX_HEADER_CHARS - 1].rstrip() + "…"
    return text
