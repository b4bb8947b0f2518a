"""Read fetched feed bytes into a `ParsedFeed` with feedparser.

Owns the feedparser call and the reading of its result: the charset decision, the
control bytes XML forbids, dates feedparser cannot read, the feed's poll hints. The
feedparser dict never leaves this module. Cleans no text (that is `normalize`) and never
touches the network or the file system: the body is always handed over as a stream.
"""

from __future__ import annotations

import calendar
import io
import pyexpat
import re
import time
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import feedparser

from monitor.errors import ParseError
from monitor.model import FetchResult, ParsedFeed, RawEntry

_SECONDS_PER_MINUTE = 60
# RSS 1.0 syndication module: <sy:updatePeriod> names the unit, updateFrequency divides it.
_UPDATE_PERIOD_S = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400}
# XML 1.0 forbids every C0 control but tab, LF and CR; one stray NUL makes expat give up
# on the whole document. Removing them byte-wise is safe in ASCII-compatible encodings.
_FORBIDDEN_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
# UTF-16/32 documents start with a BOM or with "<" next to NUL bytes: leave them alone.
_WIDE_ENCODING_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<", b"\x00\x00")
# Where a DOCTYPE may sit: the prolog, before the first element; generous for long comments.
_PROLOG_BYTES = 64 * 1024
_DOCTYPE_WITH_SUBSET = re.compile(rb"<!DOCTYPE\s[^\[>]*\[", re.IGNORECASE)
_SUBSET_END = re.compile(rb"\]\s*>")
_WIDE_ENTITY_DECLARATIONS = tuple(
    "<!ENTITY".encode(codec) for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
# Without a Content-Type, let the XML declaration choose the charset, as for a local file.
_DEFAULT_CONTENT_TYPE = "application/xml"
_ERROR_DETAIL_CHARS = 200
# The Python docs (xml, "XML vulnerabilities"): expat 2.4.1 and newer is not vulnerable to
# "billion laughs" and "quadratic blowup" (CVE-2013-0340). feedparser parses feeds with it.
MIN_EXPAT_VERSION = (2, 4, 1)


def expat_problem(version: tuple[int, int, int] | None = None) -> str | None:
    """Why the XML parser linked into this Python is unsafe for hostile feeds, or None.

    `version` is pyexpat's own unless given (the linked expat cannot be swapped in a test).
    """
    found = tuple(pyexpat.version_info) if version is None else version
    if found >= MIN_EXPAT_VERSION:
        return None
    shown, floor = (".".join(map(str, parts)) for parts in (found, MIN_EXPAT_VERSION))
    return (
        f"expat {shown} is older than {floor}, which first resists entity-expansion bombs "
        "(billion laughs): upgrade the system's libexpat or the Python build before "
        "monitor reads any feed"
    )


def parse_feed(result: FetchResult) -> ParsedFeed:
    """Parse the body of a fetch; raise ParseError when it is not a usable feed.

    A 304 result has no body to parse: passing one is a caller bug (ValueError).
    """
    body = _prepared_body(result)
    document = _document(body, _feed_headers(result, body))
    _check_is_feed(document, result)
    return _parsed_feed(document)


def _document(body: bytes, headers: dict[str, str]) -> Any:
    """feedparser's reading of `body` (its result dict, which never leaves the package)."""
    # A stream, never bytes or str: feedparser opens a str or bytes that names a file.
    # No sanitising and no link resolution inside the markup: every HTML field only ever
    # becomes text through `normalize.html_to_text`, which drops scripts, styles and
    # attributes itself, and no link inside it is kept. Both passes cost a fifth of a
    # changed feed's parse (bench/poll.py) and changed no article of the corpus.
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _prepared_body(result: FetchResult) -> bytes:
    """The body feedparser is given: no forbidden control bytes, no entity declarations."""
    if not result.is_modified:
        raise ValueError(f"nothing to parse for '{result.url}': the fetch was a 304")
    if not result.body.strip():
        raise ParseError("empty body (expected an RSS or Atom document)", url=result.url)
    return _without_entity_declarations(_without_control_bytes(result.body), result.url)


def _without_entity_declarations(body: bytes, url: str) -> bytes:
    """`body` with its DOCTYPE's internal subset cut out: entities can only be declared there.

    expat refuses a billion-laughs expansion only after 8 MiB of it, which costs seconds of
    CPU per poll; feeds have no use for their own entities (undeclared HTML ones such as
    `&eacute;` are still read by feedparser's fallback parser).
    """
    head = body[:_PROLOG_BYTES]
    if body.startswith(_WIDE_ENCODING_STARTS):
        if any(declaration in head for declaration in _WIDE_ENTITY_DECLARATIONS):
            raise ParseError("the feed declares XML entities (refused: entity expansion)", url=url)
        return body
    doctype = _DOCTYPE_WITH_SUBSET.search(head)
    if doctype is None:
        return body
    subset_end = _SUBSET_END.search(body, doctype.end())
    if subset_end is None:
        raise ParseError("the feed's DOCTYPE never ends", url=url)
    body = body[: doctype.end() - 1] + b">" + body[subset_end.end() :]
    if b"<!ENTITY" in body[:_PROLOG_BYTES]:  # a "]>" inside an entity value cut it short
        raise ParseError("the feed declares XML entities (refused: entity expansion)", url=url)
    return body


def _without_control_bytes(body: bytes) -> bytes:
    if body.startswith(_WIDE_ENCODING_STARTS):
        return body
    return body.translate(None, _FORBIDDEN_CONTROL_BYTES)


def _feed_headers(result: FetchResult, body: bytes) -> dict[str, str]:
    headers = {
        "content-type": _effective_content_type(result.header("content-type"), body),
        # The base for resolving relative links inside the feed.
        "content-location": result.url,
    }
    language = result.header("content-language")
    if language:
        headers["content-language"] = language
    return headers


def _effective_content_type(header: str | None, body: bytes) -> str:
    content_type = header or _DEFAULT_CONTENT_TYPE
    # Servers and CMSs often label UTF-8 feeds ISO-8859-1, in the header or in the XML
    # declaration (or say nothing, which RFC 3023 reads as US-ASCII for text/*). Bytes
    # with non-ASCII characters that decode as UTF-8 are almost never anything else, so
    # the bytes win over every label; a header charset overrides the XML declaration.
    if _charset(content_type) not in ("utf-8", "utf8") and _is_utf8_text(body):
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
        ttl_s=_ttl_seconds(channel.get("ttl")) or _update_period_seconds(channel),
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


def _update_period_seconds(channel: Mapping[str, Any]) -> int | None:
    period_s = _UPDATE_PERIOD_S.get(str(channel.get("sy_updateperiod", "")).strip().lower())
    if period_s is None:
        return None
    frequency = str(channel.get("sy_updatefrequency", "1")).strip()
    per_period = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
    return period_s // per_period


def _text_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    return stripped or None


# --- dates feedparser cannot read ------------------------------------------------------

_FRENCH_MONTHS = {
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4,
    "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9,
    "sept": 9, "octobre": 10, "oct": 10, "novembre": 11, "nov": 11, "decembre": 12, "dec": 12,
}  # fmt: skip
# "dim., 10 mars 2024 14:30:00 +0100", "10 mars 2024 à 14h30", "1er avril 2024"
_FRENCH_DATE = re.compile(
    r"\b(?P<day>\d{1,2})(?:er)?\s+(?P<month>[a-z]+)\.?\s+(?P<year>\d{4})"
    r"(?:\D{1,6}?(?P<hour>\d{1,2})\s*[:h]\s*(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
    r"\s*(?:(?P<sign>[+-])(?P<zone_hours>\d{2}):?(?P<zone_minutes>\d{2}))?"
)
# Seconds since 1970, as some CMSs print them; feedparser reads "1710081000" as year 1710.
_EPOCH_DATE = re.compile(r"^\s*(\d{9,10})\s*$")


def _french_date(text: str) -> time.struct_time | None:
    """A French date as a UTC struct_time (feedparser's date-handler contract).

    Without a zone the time is read as UTC, as feedparser does for its own formats.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    found = _FRENCH_DATE.search(folded)
    if found is None or found["month"] not in _FRENCH_MONTHS:
        return None
    moment = datetime(
        int(found["year"]),
        _FRENCH_MONTHS[found["month"]],
        int(found["day"]),
        int(found["hour"] or 0),
        int(found["minute"] or 0),
        int(found["second"] or 0),
        tzinfo=UTC,
    )  # ValueError on "31 février": feedparser then tries its own handlers
    if found["sign"]:
        offset = timedelta(hours=int(found["zone_hours"]), minutes=int(found["zone_minutes"]))
        moment -= offset if found["sign"] == "+" else -offset
    return moment.utctimetuple()


def _epoch_date(text: str) -> time.struct_time | None:
    found = _EPOCH_DATE.match(text)
    return time.gmtime(int(found.group(1))) if found else None


# feedparser's documented extension point; the last registered handler is tried first,
# and both return None at once for anything else.
feedparser.registerDateHandler(_french_date)
feedparser.registerDateHandler(_epoch_date)
