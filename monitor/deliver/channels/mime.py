"""Build the MIME email for a delivery: multipart/alternative text + HTML, stable ids, list headers.

Owns header hygiene: every header value is stripped of control characters and bounded
before it is set, so feed text can neither inject headers nor break the message; display
names are Address objects, so the generator writes them as RFC 2047 encoded-words.
Must not send anything or touch the network.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from monitor.deliver.channels.flowed import flow_text
from monitor.model import Delivery

MAX_HEADER_CHARS = 250
# For a sender domain that is no domain name (e.g. 'localhost'): ids must still look global.
MESSAGE_ID_DOMAIN = "monitor.local"
# The placeholder `smtp.unsubscribe_url` names the subscription with.
SUBSCRIPTION_PLACEHOLDER = "{subscription}"

# Runs of white space become one space, except the no-break spaces French typography puts
# before "?" or ":" and inside « », which must stay where the catalog put them.
_WHITESPACE = re.compile(r"[^\S\u00a0\u202f]+")
# RFC 5322 3.6.4: the left part of a msg-id is a dot-atom; keep a safe subset of it.
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._+=-]")
_SPECIALS = re.compile(r'[()<>@,;:\\"\[\]]')


@dataclass(frozen=True, slots=True)
class MailingList:
    """What a subscription's mail says about the list it belongs to.

    `title` is the List-Id phrase; `language` (a BCP 47 tag such as 'fr') is the
    Content-Language header, none when None.
    """

    subscription_id: str
    title: str | None = None
    language: str | None = None


def build_email(
    delivery: Delivery,
    *,
    from_addr: str,
    to_addrs: Sequence[str],
    now: datetime,
    mailing_list: MailingList | None = None,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """The email for `delivery`; its Message-ID is the same on every retry.

    `from_addr` and `to_addrs` may carry display names ('Veille <alerts@example.org>').
    """
    sender = mailbox(from_addr)
    listed = mailing_list or MailingList(delivery.subscription_id)
    message = EmailMessage()
    message["Subject"] = clean_header(delivery.message.subject)
    message["From"] = sender
    # Bound each display name, not the list: a cut list would hold a broken address.
    message["To"] = [mailbox(address) for address in to_addrs]
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(delivery.id, sender.domain)
    message["X-Monitor-Delivery"] = clean_header(delivery.id)
    message["X-Monitor-Subscription"] = clean_header(delivery.subscription_id)
    _set_list_headers(message, listed, sender, unsubscribe_url)
    # RFC 3834: tells auto-responders not to answer.
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line 7-bit and short, whatever the MTA supports, and keeps
    # the trailing spaces format=flowed marks soft breaks with (RFC 3676 4.2).
    message.set_content(
        flow_text(delivery.message.text),
        charset="utf-8",
        cte="quoted-printable",
        params={"format": "flowed"},
    )
    message.add_alternative(
        delivery.message.html, subtype="html", charset="utf-8", cte="quoted-printable"
    )
    # After the content: setting the content drops every Content-* header set before.
    if listed.language:
        message["Content-Language"] = clean_header(listed.language)
    return message


def _set_list_headers(
    message: EmailMessage, listed: MailingList, sender: Address, unsubscribe_url: str | None
) -> None:
    """RFC 2919 List-Id, RFC 2369 List-Unsubscribe and, for an https URL, RFC 8058 one-click."""
    list_id = f"{_UNSAFE_ID_CHARS.sub('-', listed.subscription_id)}.{_id_domain(sender.domain)}"
    # RFC 5322 specials would end the phrase early; an encoded-word cannot sit in quotes.
    phrase = _WHITESPACE.sub(" ", _SPECIALS.sub(" ", listed.title or listed.subscription_id))
    message["List-Id"] = f"{clean_header(phrase)} <{list_id}>"
    subject = quote(f"unsubscribe {listed.subscription_id}", safe="")
    links = [f"<mailto:{quote(sender.addr_spec, safe='@')}?subject={subject}>"]
    if unsubscribe_url:
        page = unsubscribe_url.replace(
            SUBSCRIPTION_PLACEHOLDER, quote(listed.subscription_id, safe="")
        )
        links.insert(0, f"<{page}>")
        if page.lower().startswith("https://"):
            # RFC 8058 3.1: one-click needs an https URI, and a POST with exactly this body.
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["List-Unsubscribe"] = ", ".join(links)


def mailbox(value: str) -> Address:
    """`value` ('name@domain' or 'Name <name@domain>') as an Address with a clean display name."""
    try:
        found = policy.default.header_factory("to", value).addresses
    except (ValueError, IndexError):  # the stdlib parser's two ways of refusing ('a@')
        found = ()
    if len(found) == 1 and found[0].domain:
        (parsed,) = found
        # From parts, not addr_spec: the parts are not parsed (and refused) a second time.
        name = clean_header(parsed.display_name)
        return Address(display_name=name, username=parsed.username, domain=_a_label(parsed.domain))
    # The config refuses anything else; kept whole so the server names what it refuses.
    return Address(addr_spec=clean_header(value))


def envelope_address(value: str) -> str:
    """The bare address SMTP's MAIL FROM and RCPT TO carry: no display name, no brackets."""
    return mailbox(value).addr_spec


def _a_label(domain: str) -> str:
    """An internationalised domain as its ASCII form (RFC 5890 A-labels, 'xn--…').

    Written so, the address needs no SMTPUTF8 and every parser reads the header: the stdlib
    one reports raw UTF-8 header bytes as a defect.
    """
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain  # left for the server to refuse, by its own name


def message_id(delivery_id: str, sender_domain: str = MESSAGE_ID_DOMAIN) -> str:
    """The deterministic Message-ID of a delivery, on the sender's domain: '<abc@example.org>'."""
    local = _UNSAFE_ID_CHARS.sub("-", delivery_id)[:200] or "delivery"
    return f"<{local}@{_id_domain(sender_domain)}>"


def _id_domain(domain: str) -> str:
    """`domain` as the ASCII dot-atom ids need (IDNA for a Unicode name); fallback if none."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return MESSAGE_ID_DOMAIN
    if "." not in ascii_domain or _UNSAFE_ID_CHARS.search(ascii_domain):
        return MESSAGE_ID_DOMAIN
    return ascii_domain


def clean_header(value: str) -> str:
    """One line of visible text, at most MAX_HEADER_CHARS long."""
    visible = "".join(" " if unicodedata.category(char).startswith("C") else char for char in value)
    text = _WHITESPACE.sub(" ", visible).strip()
    if len(text) > MAX_HEADER_CHARS:
        text = text[: MAX_HEADER_CHARS - 1].rstrip() + "…"
    return text
