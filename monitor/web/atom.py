"""Atom 1.0 (RFC 4287) documents of matches: one feed per rule or per subscription.

Owns the element order, the stable ids (a tag: URI, RFC 4151, from the rule and the article
key, so a reader never sees one match twice) and the feed-level elements a reader needs.
Pure: the entries' HTML is rendered by the caller; ElementTree escapes every value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
# The tag: URI authority and date (RFC 4151 2.1): fixed forever, or every id would change.
_TAG_PREFIX = "tag:monitor.invalid,2026:"


@dataclass(frozen=True, slots=True)
class AtomEntry:
    id: str
    title: str
    updated: datetime
    published: datetime
    link: str | None
    author: str
    content_html: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AtomFeed:
    id: str
    title: str
    subtitle: str
    self_url: str
    page_url: str
    updated: datetime
    entries: tuple[AtomEntry, ...]


def entry_id(rule_id: str, article_key: str) -> str:
    """The stable id of one rule's match of one article."""
    return f"{_TAG_PREFIX}match/{quote(rule_id, safe='')}/{quote(article_key, safe='')}"


def feed_id(kind: str, name: str) -> str:
    """The stable id of the feed of one rule or one subscription (`kind`: 'rule' | ...)."""
    return f"{_TAG_PREFIX}{kind}/{quote(name, safe='')}"


def atom_document(feed: AtomFeed) -> bytes:
    """The feed as UTF-8 XML with its declaration."""
    ElementTree.register_namespace("", ATOM_NAMESPACE)
    root = ElementTree.Element(f"{{{ATOM_NAMESPACE}}}feed")
    _text(root, "id", feed.id)
    _text(root, "title", feed.title)
    _text(root, "subtitle", feed.subtitle)
    _text(root, "updated", _stamp(feed.updated))
    _link(root, feed.self_url, "self", "application/atom+xml")
    _link(root, feed.page_url, "alternate", "text/html")
    author = ElementTree.SubElement(root, f"{{{ATOM_NAMESPACE}}}author")
    _text(author, "name", "monitor")
    _text(root, "generator", "monitor")
    for entry in feed.entries:
        _entry(root, entry)
    body: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def newest(entries: Sequence[AtomEntry], default: datetime) -> datetime:
    return max((entry.updated for entry in entries), default=default)


def _entry(root: ElementTree.Element, entry: AtomEntry) -> None:
    element = ElementTree.SubElement(root, f"{{{ATOM_NAMESPACE}}}entry")
    _text(element, "id", entry.id)
    _text(element, "title", entry.title)
    _text(element, "updated", _stamp(entry.updated))
    _text(element, "published", _stamp(entry.published))
    if entry.link:
        _link(element, entry.link, "alternate", "text/html")
    author = ElementTree.SubElement(element, f"{{{ATOM_NAMESPACE}}}author")
    _text(author, "name", entry.author)
    for term in entry.categories:
        ElementTree.SubElement(element, f"{{{ATOM_NAMESPACE}}}category", {"term": term})
    # RFC 4287 4.1.3.1: type="html" content is escaped HTML, which ElementTree writes.
    _text(element, "content", entry.content_html).set("type", "html")


def _text(parent: ElementTree.Element, name: str, value: str) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, f"{{{ATOM_NAMESPACE}}}{name}")
    element.text = _xml_safe(value)
    return element


def _link(parent: ElementTree.Element, href: str, rel: str, media_type: str) -> None:
    ElementTree.SubElement(
        parent, f"{{{ATOM_NAMESPACE}}}link", {"href": href, "rel": rel, "type": media_type}
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _xml_safe(text: str) -> str:
    # XML 1.0 2.2 forbids most control characters, which a hostile feed may carry.
    return "".join(
        char
        for char in text
        if char in "\t\n\r"
        or (0x20 <= ord(char) < 0xD800)
        or (0xE000 <= ord(char) < 0xFFFE)
        or ord(char) >= 0x10000
    )
