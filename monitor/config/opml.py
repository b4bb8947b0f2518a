"""Read and write OPML subscription lists: text in, `Feed`s out, and back.

Pure: no file, network or clock. Owns the OPML reading rules (folders and `category`
become tags, ids derived from titles and unique, only http(s) feeds) and refuses any
DOCTYPE, so entity tricks (billion laughs, external entities) never reach the parser.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from monitor.errors import ConfigError
from monitor.model import Feed
from monitor.urls import web_url_problem

# Our own attributes, so an export read back gives the same feeds; other readers ignore them.
NAMESPACE = "https://github.com/monitor-press/monitor/opml"
_ID_ATTR, _EVERY_ATTR, _FULL_TEXT_ATTR = "monitor:id", "monitor:every", "monitor:fullText"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MAX_ID_CHARS = 60
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(slots=True)
class _Outline:
    """A feed outline as read, before ids are made unique."""

    url: str
    title: str
    line: int
    tags: list[str] = field(default_factory=list)
    feed_id: str | None = None
    language: str | None = None
    every_s: int | None = None
    full_text: bool = False


class _OpmlReader:
    """Walks the outlines with expat, which knows each element's line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.outlines: list[_Outline] = []
        self._folders: list[str | None] = []  # one entry per open <outline>
        self._saw_root = False
        self._parser = expat.ParserCreate()
        self._parser.StartDoctypeDeclHandler = self._refuse_doctype
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end

    def read(self, text: str | bytes) -> list[_Outline]:
        try:
            self._parser.Parse(text, True)
        except expat.ExpatError as exc:
            message = f"not well-formed OPML: {expat.ErrorString(exc.code)}"
            raise ConfigError(message, path=self.source, line=exc.lineno) from None
        return self.outlines  # expat refuses a document without a root element

    def _error(self, message: str) -> ConfigError:
        return ConfigError(message, path=self.source, line=self._parser.CurrentLineNumber)

    def _refuse_doctype(self, *_: object) -> None:
        raise self._error("DOCTYPE declarations are not allowed in OPML files")

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if not self._saw_root:
            if name != "opml":
                raise self._error(f"root element is '{name}', expected 'opml'")
            self._saw_root = True
        if name != "outline":
            return
        url = attributes.get("xmlUrl", "").strip()
        title = (attributes.get("title") or attributes.get("text") or "").strip()
        if url:
            self.outlines.append(self._feed_outline(url, title, attributes))
        self._folders.append(None if url else title or None)

    def _end(self, name: str) -> None:
        if name == "outline":
            self._folders.pop()

    def _feed_outline(self, url: str, title: str, attributes: dict[str, str]) -> _Outline:
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise self._error(f"feed '{title or url}': xmlUrl '{url}' is not an http(s) URL")
        problem = web_url_problem(url)
        if problem is not None:  # config.yaml would refuse it at the next start
            raise self._error(f"feed '{title or _host(url)}': xmlUrl refused: {problem}")
        folders = [folder for folder in self._folders if folder]
        categories = (
            part.strip().strip("/")
            for item in attributes.get("category", "").split(",")
            for part in item.strip().strip("/").split("/")
        )
        return _Outline(
            url=url,
            title=title,
            line=self._parser.CurrentLineNumber,
            tags=_unique([*folders, *(category for category in categories if category)]),
            feed_id=attributes.get(_ID_ATTR) or None,
            language=_language(attributes.get("language")),
            every_s=self._every_s(attributes.get(_EVERY_ATTR)),
            full_text=attributes.get(_FULL_TEXT_ATTR, "").strip().lower() == "true",
        )

    def _every_s(self, text: str | None) -> int | None:
        if text is None:
            return None
        if not text.strip().isdigit() or int(text) < 1:
            raise self._error(f"'{_EVERY_ATTR}' must be a whole number of seconds, got '{text}'")
        return int(text)


def read_opml(text: str | bytes, *, source: str, default_every_s: int = 900) -> list[Feed]:
    """The feeds listed in an OPML document, in document order, one per URL.

    Pass the file's bytes to let its XML declaration choose the encoding.

    Folders and `category` become tags; a feed listed twice keeps its first place
    and gains the tags of both. Ids come from `monitor:id` or the title, made unique.
    `allow_private` is never read from a file: it stays an operator's explicit choice.
    Raises ConfigError naming `source` and the line.
    """
    by_url: dict[str, _Outline] = {}
    for outline in _OpmlReader(source).read(text):
        known = by_url.setdefault(outline.url, outline)
        if known is not outline:
            known.tags = _unique([*known.tags, *outline.tags])
    taken: set[str] = set()
    feeds: list[Feed] = []
    for outline in by_url.values():
        feed_id = _unique_id(outline, taken, source)
        feeds.append(
            Feed(
                id=feed_id,
                url=outline.url,
                title=outline.title,
                poll_every_s=outline.every_s or default_every_s,
                language=outline.language,
                tags=tuple(outline.tags),
                full_text=outline.full_text,
            )
        )
    return feeds


def _unique_id(outline: _Outline, taken: set[str], source: str) -> str:
    if outline.feed_id is not None and not _ID_PATTERN.match(outline.feed_id):
        message = f"'{_ID_ATTR}' '{outline.feed_id}' must be letters, digits, '_', '.' or '-'"
        raise ConfigError(message, path=source, line=outline.line)
    base = outline.feed_id or _slug(outline.title) or _slug(_host(outline.url)) or "feed"
    feed_id, number = base, 1
    while feed_id in taken:
        number += 1
        feed_id = f"{base}-{number}"
    taken.add(feed_id)
    return feed_id


def _slug(text: str) -> str:
    """'Le Monde — À la une' -> 'le-monde-a-la-une'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:_MAX_ID_CHARS].strip("-")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


def _language(tag: str | None) -> str | None:
    # As in config.yaml: 'fr-FR' is kept as 'fr'.
    code = (tag or "").strip().split("-")[0].lower()
    return code if code.isalpha() and len(code) in (2, 3) else None


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- writing ---------------------------------------------------------------------------


def write_opml(feeds: Sequence[Feed], *, title: str) -> str:
    """An OPML 2.0 document listing `feeds`, grouped in folders by their first tag.

    Every tag is also listed in `category`, and our own attributes keep ids, intervals
    and full-text settings, so `read_opml` gives the same feeds back.
    """
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<opml version="2.0" xmlns:monitor="{NAMESPACE}">',
        f"  <head><title>{escape(_xml_text(title))}</title></head>",
        "  <body>",
    ]
    folders: dict[str, list[Feed]] = {}
    for feed in feeds:
        folders.setdefault(feed.tags[0] if feed.tags else "", []).append(feed)
    for folder, members in folders.items():
        indent = "    "
        if folder:
            lines.append(f"    <outline text={_attr(folder)}>")
            indent = "      "
        lines += [indent + _feed_outline(feed) for feed in members]
        if folder:
            lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _feed_outline(feed: Feed) -> str:
    name = feed.title or feed.id
    attributes = [
        ("type", "rss"),
        ("text", name),
        ("title", name),
        ("xmlUrl", feed.url),
        ("language", feed.language or ""),
        ("category", ",".join(f"/{tag}" for tag in feed.tags)),
        (_ID_ATTR, feed.id),
        (_EVERY_ATTR, str(feed.poll_every_s)),
        (_FULL_TEXT_ATTR, "true" if feed.full_text else ""),
    ]
    written = " ".join(f"{key}={_attr(value)}" for key, value in attributes if value)
    return f"<outline {written}/>"


def _attr(value: str) -> str:
    return quoteattr(_xml_text(value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _xml_text(value: str) -> str:
    # Characters XML 1.0 cannot carry at all, even escaped.
    return _XML_FORBIDDEN.sub("", value)
