"""Read fetched feed bytes into a `ParsedFeed` with feedparser.

Owns the feedparser call and the reading of its result; the feedparser dict never
leaves this module. Cleans nothing (that is `normalize`) and never touches the
network or the file system: the body is always handed over as bytes in a stream.
"""

from __future__ import annotations

import calendar
import io
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import feedparser

from monitor.errors import ParseError
from monitor.model import FetchResult, ParsedFeed, RawEntry

_SECONDS_PER_MINUTE = 60
# Without a Content-Type, let the XML declaration choose the charset, as for a local file.
_DEFAULT_CONTENT_TYPE = "application/xml"
_ERROR_DETAIL_CHARS = 200


def parse_feed(result: FetchResult) -> ParsedFeed:
    """Parse the body of a fetch; raise ParseError when it is not a usable feed.

    A 304 result has no body to parse: passing one is a caller bug (ValueError).
    """
    if not result.is_modified:
        raise ValueError(f"nothing to parse for '{result.url}': the fetch was a 304")
    if not result.body.strip():
        raise ParseError("empty body (expected an RSS or Atom document)", url=result.url)
    # A stream, never bytes or str: feedparser opens a str or bytes that names a file.
    document = feedparser.parse(io.BytesIO(result.body), response_headers=_feed_headers(result))
    _check_is_feed(document, result)
    return _parsed_feed(document)


def _feed_headers(result: FetchResult) -> dict[str, str]:
    headers = {
        "content-type": _effective_content_type(result),
        # The base for resolving relative links inside the feed.
        "content-location": result.url,
    }
    language = result.header("content-language")
    if language:
        headers["content-language"] = language
    return headers


def _effective_content_type(result: FetchResult) -> str:
    content_type = result.header("content-type") or _DEFAULT_CONTENT_TYPE
    declared = _charset(content_type)
    # Servers often label UTF-8 feeds ISO-8859-1 (or say nothing, which RFC 3023 reads as
    # US-ASCII for text/*). Bytes with non-ASCII characters that decode as UTF-8 are
    # almost never anything else, so the bytes win over the label.
    if declared not in (None, "utf-8", "utf8") and _is_utf8_text(result.body):
        return _with_charset(content_type, "utf-8")
    if declared is None and content_type.startswith("text/") and _is_utf8_text(result.body):
        return _with_charset(content_type, "utf-8")
    return content_type


def _charset(content_type: str) -> str | None:
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset.strip().lower() if isinstance(charset, str) else None


def _with_charset(content_type: str, charset: str) -> str:
    media_type = content_type.split(";", 1)[0].strip()
    return f"{media_type}; charset={charset}"


def _is_utf8_text(body: bytes) -> bool:
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_is_feed(document: Any, result: FetchResult) -> None:
    # Both cases must fail loudly: read as "no items", they would hide a broken feed.
    if not document.get("version"):
        raise ParseError(f"not an RSS or Atom feed ({_describe_body(document)})", url=result.url)
    if document.get("bozo") and not document.get("entries"):
        reason = _bozo_reason(document)
        raise ParseError(f"malformed feed with no readable entries: {reason}", url=result.url)


def _describe_body(document: Any) -> str:
    content_type = str(document.get("headers", {}).get("content-type", ""))
    if "html" in content_type.lower() or document.get("bozo"):
        return f"content type '{content_type}', looks like an HTML page or broken XML"
    return f"content type '{content_type}'"


def _bozo_reason(document: Any) -> str:
    exception = document.get("bozo_exception")
    text = str(exception) if exception is not None else "unknown problem"
    return text[:_ERROR_DETAIL_CHARS]


def _parsed_feed(document: Any) -> ParsedFeed:
    channel = document.get("feed", {})
    is_bozo = bool(document.get("bozo"))
    return ParsedFeed(
        title=str(channel.get("title", "")),
        link=_text_or_none(channel.get("link")),
        language=_text_or_none(channel.get("language")),
        entries=tuple(_raw_entry(entry) for entry in document.get("entries", [])),
        is_bozo=is_bozo,
        bozo_reason=_bozo_reason(document) if is_bozo else None,
        ttl_s=_ttl_seconds(channel.get("ttl")),
    )


def _raw_entry(entry: dict[str, Any]) -> RawEntry:
    contents = entry.get("content") or []
    return RawEntry(
        guid=_text_or_none(entry.get("id")),
        link=_text_or_none(entry.get("link")),
        title=str(entry.get("title", "")),
        summary_html=str(entry.get("summary", "")),
        content_html=str(contents[0].get("value", "")) if contents else "",
        published_at=_entry_date(entry),
        author=_text_or_none(entry.get("author")),
        language=_entry_language(entry),
    )


def _entry_date(entry: dict[str, Any]) -> datetime | None:
    # dict.get: feedparser's own get() maps a missing updated_parsed to published_parsed
    # with a DeprecationWarning.
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if not isinstance(parsed, time.struct_time):
        return None
    # feedparser's struct_time is already UTC; timegm also absorbs leap second 60.
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    # dc:language on the item, else the xml:lang in force around its title or content.
    explicit = _text_or_none(entry.get("language"))
    if explicit:
        return explicit
    for detail in (entry.get("title_detail"), *(entry.get("content") or [])):
        if isinstance(detail, Mapping):
            language = _text_or_none(detail.get("language"))
            if language:
                return language
    return None


def _ttl_seconds(ttl: object) -> int | None:
    """RSS <ttl> is in minutes."""
    try:
        minutes = int(str(ttl).strip())
    except ValueError:
        return None
    return minutes * _SECONDS_PER_MINUTE if minutes > 0 else None


def _text_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    return stripped or None
