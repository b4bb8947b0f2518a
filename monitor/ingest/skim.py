"""A feed parsed in two passes, so that the entries the store already knows cost almost nothing.

feedparser spends most of a parse on the entries' embedded HTML (relative links resolved,
markup sanitised), and a poll of a changed feed usually brings one or two new entries among
its 20 to 50. `skim_feed` reads the document once with expat for where each entry's text
elements lie (description, summary, content), and parses a copy without them: guids, links
and dates, which is all `entry_keys` and the newest-first cut read. `Skim.parse(known)` then
parses the document with the text elements of the known entries cut out: the other entries,
the channel and every entry's date come out as a whole parse gives them.

A document this cannot read exactly the same way (not well-formed XML, a wide encoding, a
charset the header and the XML declaration disagree on, an entry count expat and feedparser
disagree on) is parsed whole, once, as `parse.parse_feed` does.
"""

from __future__ import annotations

import codecs
import pyexpat
from collections.abc import Collection, Sequence
from dataclasses import dataclass

# The parse module's own steps, shared so that both passes read a document as it does.
from monitor.ingest.parse import (
    _WIDE_ENCODING_STARTS,
    _charset,
    _check_is_feed,
    _document,
    _feed_headers,
    _parsed_feed,
    _prepared_body,
    parse_feed,
)
from monitor.model import FetchResult, ParsedFeed

# The elements of an RSS item or Atom entry a skim leaves out: its title and text (feedparser's
# summary and content), the costly part of a parse and nothing its key or date depends on.
_UNREAD_ELEMENTS = frozenset({"title", "description", "summary", "content", "encoded"})
_ENTRY_ELEMENTS = frozenset({"item", "entry"})


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where one entry lies in the document, in bytes: the whole element, and the elements
    a skim leaves out."""

    span: tuple[int, int]
    unread: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Skim:
    """A feed's entries with their guids, links and dates but no text (`entries`), and the
    way to the whole parse of the entries not known."""

    entries: ParsedFeed  # every entry; no titles nor text unless `layout` is None
    result: FetchResult
    body: bytes
    headers: dict[str, str]
    layout: tuple[_Layout, ...] | None  # None: `entries` is the whole parse

    def parse(self, known: Collection[int]) -> ParsedFeed:
        """The feed as `parse_feed` reads it, except that the entries at the indexes `known`
        are the skim's (their guid, link and dates whole, no title nor text)."""
        if self.layout is None:
            return self.entries
        if not known:
            return parse_feed(self.result)
        spans = [self.layout[index].span for index in sorted(known)]
        document = _document(_without(self.body, spans), self.headers)
        read = document.get("entries", [])
        if document.get("bozo") or len(read) != len(self.layout) - len(known):
            return parse_feed(self.result)
        _check_is_feed(document, self.result)
        parsed = _parsed_feed(document)
        new = iter(parsed.entries)
        entries = tuple(
            self.entries.entries[index] if index in known else next(new)
            for index in range(len(self.layout))
        )
        return ParsedFeed(
            title=parsed.title,
            link=parsed.link,
            language=parsed.language,
            entries=entries,
            ttl_s=parsed.ttl_s,
        )


def skim_feed(result: FetchResult) -> Skim:
    """The feed's entries without their text, for `entry_keys`; raise ParseError when the
    document is not a usable feed, as `parse_feed` does."""
    body = _prepared_body(result)
    headers = _feed_headers(result, body)
    layout = _layout(body, _charset(headers["content-type"]))
    if layout is not None:
        unread = sorted(span for entry in layout for span in entry.unread)
        document = _document(_without(body, unread), headers)
        if not document.get("bozo") and len(document.get("entries", [])) == len(layout):
            _check_is_feed(document, result)
            return Skim(_parsed_feed(document), result, body, headers, layout)
    return Skim(parse_feed(result), result, body, headers, None)


def _without(body: bytes, spans: Sequence[tuple[int, int]]) -> bytes:
    pieces, start = [], 0
    for begin, end in spans:
        pieces.append(body[start:begin])
        start = end
    pieces.append(body[start:])
    return b"".join(pieces)


def _layout(body: bytes, charset: str | None) -> tuple[_Layout, ...] | None:
    """Where each entry lies, or None when the document is not one expat reads in the
    charset feedparser will decode it with, or has an empty entry element."""
    if charset is None or body.startswith(_WIDE_ENCODING_STARTS):
        return None
    parser = pyexpat.ParserCreate(namespace_separator=" ")
    declared: list[str] = []
    found: list[_Layout] = []
    unread: list[tuple[int, int]] = []
    opened: list[tuple[str, int]] = []  # (local name, first byte) of the open elements
    entry_depth: list[int] = []  # the open entry's depth, if one is open

    def end_of_tag() -> int | None:
        at = parser.CurrentByteIndex
        # An empty element (<item/>) has no end tag of its own.
        return body.index(b">", at) + 1 if body.startswith(b"</", at) else None

    def on_start(name: str, _attributes: object) -> None:
        local = name.rsplit(" ", 1)[-1]
        if local in _ENTRY_ELEMENTS and not entry_depth:
            entry_depth.append(len(opened))
            unread.clear()
        opened.append((local, parser.CurrentByteIndex))

    def on_end(_name: str) -> None:
        local, begin = opened.pop()
        depth = entry_depth[0] if entry_depth else -1
        if depth == len(opened):
            end = end_of_tag()
            if end is None:
                raise ValueError("an empty entry element")
            found.append(_Layout((begin, end), tuple(unread)))
            entry_depth.clear()
        elif depth == len(opened) - 1 and local in _UNREAD_ELEMENTS:
            end = end_of_tag()
            if end is not None:
                unread.append((begin, end))

    parser.XmlDeclHandler = lambda _version, encoding, _alone: declared.append(encoding or "")
    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    try:
        parser.Parse(body, True)
    except (pyexpat.ExpatError, ValueError, LookupError):
        return None
    if not _same_charset((declared[0] if declared else "") or "utf-8", charset):
        return None
    return tuple(found)


def _same_charset(one: str, other: str) -> bool:
    try:
        return codecs.lookup(one).name == codecs.lookup(other).name
    except LookupError:
        return False
