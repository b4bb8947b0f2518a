"""Turn a parsed feed's raw entries into `Article`s.

Owns the article key, canonical URLs, plain text from HTML, bounded titles and texts,
plausible aware UTC dates and the language hint; mojibake repair, language detection and
the near-duplicate fingerprint come from `mojibake.py`, `language.py` and `fingerprint.py`.
Pure: no network, no database, no clock (`fetched_at` is passed in).
"""

from __future__ import annotations

import hashlib
import re
import string
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

from monitor.ingest.fingerprint import content_fingerprint, text_signature
from monitor.ingest.language import detect_language
from monitor.ingest.mojibake import repair_mojibake
from monitor.model import Article, Feed, ParsedFeed, RawEntry
from monitor.text import drop_invisible, fold, language_code, one_line, truncate

_KEY_HEX_CHARS = 32

# Click and campaign trackers (ad networks, newsletters, AT Internet's xtor and at_*,
# Comscore's ns_*, Matomo's pk_*/mtm_*): they name the visit, never the page.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "ref", "ref_src", "xtor", "at_medium", "at_campaign",
        "at_campaign_type", "at_creation", "at_format", "at_platform", "at_variant",
        "ns_campaign", "ns_mchannel", "ns_source", "ns_linkname", "ns_fee", "ocid", "cmpid",
        "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id",
        "wt_mc", "spm", "ito", "__twitter_impression",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# CMSs wrap long links over lines with indentation; WHATWG URL drops tabs and newlines,
# the indentation around a line break is layout too, and so is a run of spaces once
# urllib (feedparser's link resolution) has already dropped the newline.
_URL_LAYOUT = re.compile(r"[ \t]*[\r\n][ \t\r\n]*|\t| {2,}")
# Double-escaped feeds ("&amp;lt;p&amp;gt;") leave tags in the text after one decoding.
_LEFTOVER_MARKUP = re.compile(
    r"</?(?:p|br|div|span|a|b|i|em|strong|img|ul|ol|li|h[1-6]|blockquote)\b[^<>]*>", re.IGNORECASE
)
# Publication dates before feeds existed are CMS placeholders (epoch 0, year 1).
_EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Elements whose content is code or metadata, never article text (feed markup reaches
# `html_to_text` unsanitised: this is where a feed's code is kept out of the text).
_SKIPPED_ELEMENTS = frozenset({"script", "style", "template", "noscript", "applet"})
_BLOCK_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
# A table cell is a line of its own (a row of figures is not a sentence); a row is a block.
_LINE_ELEMENTS = frozenset({"br", "td", "th"})
_PARAGRAPH_BREAK = "\n\n"
_LINE_BREAK = "\n"
# A fragment with any of these tags has its breaks in the markup, and its source newlines
# are layout; without them (a plain-text summary, or only inline tags) a newline is the
# author's line break and must stay one, since it ends a sentence for the NLP stage.
_BREAK_TAG = re.compile(
    "<(?:" + "|".join(sorted(_BLOCK_ELEMENTS | _LINE_ELEMENTS, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_LINE_BREAKS = re.compile(r"[ \t]*(?:\r\n?|\n)[ \t]*")

# C0/C1 controls (tabs and newlines are whitespace and handled apart), soft hyphens and
# zero-width characters: all invisible, and all of them split words for the matcher.
_INVISIBLE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b\ufeff]")
_WHITESPACE = re.compile(r"\s+")


# --- text -------------------------------------------------------------------


def html_to_text(html: str) -> str:
    """Plain text from an HTML fragment: blocks separated by a blank line, `<br>` and table
    cells by a newline, and a plain-text fragment's own line breaks kept.

    Every newline in the result is a block boundary that the NLP stage never lets a sentence
    cross. Markup still left after one decoding (a double-escaped feed) is decoded once more.
    """
    has_break_tags = bool(_BREAK_TAG.search(html))
    text = _plain_text(html, keeps_newlines=not has_break_tags)
    if _LEFTOVER_MARKUP.search(text):
        # Newlines the first pass made from tags are breaks the second pass must keep.
        keeps_newlines = has_break_tags or not _BREAK_TAG.search(text)
        return _plain_text(text, keeps_newlines=keeps_newlines)
    return text


def _plain_text(html: str, *, keeps_newlines: bool) -> str:
    extractor = _TextExtractor(keeps_newlines=keeps_newlines)
    extractor.feed(_INVISIBLE_CHARS.sub("", html))
    extractor.close()
    # Again after decoding: "&shy;" and "&#8203;" only become invisible characters here.
    return _tidy_paragraphs(drop_invisible("".join(extractor.parts)))


class _TextExtractor(HTMLParser):
    """Collects text, turning block boundaries (and, where they are text, source newlines)
    into break markers."""

    def __init__(self, *, keeps_newlines: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0  # inside <pre>, newlines are the author's line breaks
        self._keeps_newlines = keeps_newlines

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skip_depth += 1
        elif tag == "pre":
            self._pre_depth += 1
        self._mark_boundary(tag, is_start=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A self-closed <script/> has no content to skip.
        self._mark_boundary(tag, is_start=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_ELEMENTS and self._skip_depth:
            self._skip_depth -= 1
        elif tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
        self._mark_boundary(tag, is_start=False)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._keeps_newlines or self._pre_depth:
            lines = _LINE_BREAKS.split(data)
            self.parts.append(_LINE_BREAK.join(_WHITESPACE.sub(" ", line) for line in lines))
        else:
            self.parts.append(_WHITESPACE.sub(" ", data))

    def _mark_boundary(self, tag: str, *, is_start: bool) -> None:
        # A line element breaks where it starts: "</td><td>" is one break, not a paragraph
        # (but a stray "</br>" is a <br>, as in browsers: HTML 13.2.6.4.7).
        if tag in _LINE_ELEMENTS:
            if is_start or tag == "br":
                self.parts.append(_LINE_BREAK)
        elif tag in _BLOCK_ELEMENTS:
            self.parts.append(_PARAGRAPH_BREAK)


def _tidy_paragraphs(marked_text: str) -> str:
    paragraphs = []
    for block in re.split(r"\n{2,}", marked_text):
        lines = (" ".join(line.split()) for line in block.split(_LINE_BREAK))
        paragraph = _LINE_BREAK.join(line for line in lines if line)
        if paragraph:
            paragraphs.append(paragraph)
    return _PARAGRAPH_BREAK.join(paragraphs)


# --- URLs -------------------------------------------------------------------


def canonical_url(url: str) -> str:
    """The canonical form of `url`: one spelling per page, tracking parameters removed.

    Lower-case scheme and host (IDNA-encoded, no trailing dot), no default port, no
    fragment, percent-escapes in one case with unreserved characters decoded (RFC 3986
    6.2.2), no trailing slash on a path ("/" alone names a bare host), tracking parameters
    dropped and the other parameters kept in their order.
    """
    stripped = _URL_LAYOUT.sub("", url.strip()).replace(" ", "%20")
    try:
        parts = urlsplit(stripped)
    except ValueError:
        return stripped
    if not parts.scheme or not parts.netloc:
        return urlunsplit(parts._replace(fragment=""))
    scheme = parts.scheme.lower()
    # "/2024/jo/" and "/2024/jo" are one page on every CMS feeds link to.
    path = _normalize_escapes(parts.path).rstrip("/") or "/"
    query = _strip_tracking(parts.query)
    return urlunsplit((scheme, _canonical_netloc(parts, scheme), path, query, ""))


def _normalize_escapes(text: str) -> str:
    def one_escape(found: re.Match[str]) -> str:
        char = chr(int(found.group(1), 16))
        return char if char in _UNRESERVED else "%" + found.group(1).upper()

    return _PERCENT_ESCAPE.sub(one_escape, text)


def _canonical_netloc(parts: SplitResult, scheme: str) -> str:
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: keep what was written
        return parts.netloc.lower()
    host = _canonical_host(parts.hostname or "")
    if ":" in host:  # IPv6 literal: urlsplit removed the brackets
        host = f"[{host}]"
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return netloc


def _canonical_host(host: str) -> str:
    host = host.rstrip(".").lower()
    if host.isascii():
        return host
    try:  # "café.fr" and "xn--caf-dma.fr" name one host
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _strip_tracking(query: str) -> str:
    # Work on the raw pairs so kept parameters keep their order and spelling.
    kept = [
        _normalize_escapes(pair) for pair in query.split("&") if pair and not _is_tracking(pair)
    ]
    return "&".join(kept)


def _is_tracking(pair: str) -> bool:
    name = unquote_plus(pair.split("=", 1)[0]).lower()
    return name.startswith(_TRACKING_PREFIXES) or name in _TRACKING_PARAMS


def _identity(url: str) -> str:
    """A canonical URL without its scheme and leading "www.": what the key hashes, so a
    site moving to https or dropping "www." does not make every article new again."""
    parts = urlsplit(url)
    host = parts.netloc.removeprefix("www.")
    return urlunsplit(("", host, parts.path, parts.query, ""))


def _article_url(link: str | None) -> str | None:
    if not link:
        return None
    url = canonical_url(_INVISIBLE_CHARS.sub("", link))
    # Atom ids can stand in as links ("urn:uuid:..."): only web pages are article URLs.
    if urlsplit(url).scheme not in _DEFAULT_PORTS:
        return None
    return url


# --- articles ---------------------------------------------------------------


def normalize_entries(
    parsed: ParsedFeed,
    feed: Feed,
    fetched_at: datetime,
    *,
    max_entries: int = 200,
    max_title_chars: int = 500,
    max_text_chars: int = 100_000,
) -> list[Article]:
    """The feed's articles, newest first, at most `max_entries`, one per key.

    Summaries and bodies are cut at `max_text_chars` (a one-item 10 MB feed must not
    reach the NLP stage whole).
    """
    limits = _Limits(max_title_chars, max_text_chars)
    articles, _ = _normalized(parsed, feed, fetched_at, frozenset(), limits, max_entries)
    return articles


def normalize_new_entries(
    parsed: ParsedFeed,
    feed: Feed,
    fetched_at: datetime,
    *,
    known_keys: Collection[str],
    max_entries: int = 200,
    max_title_chars: int = 500,
    max_text_chars: int = 100_000,
) -> tuple[list[Article], int]:
    """What `normalize_entries` returns, less the entries whose `entry_keys` key is in
    `known_keys`, which are never cleaned, detected or fingerprinted; and how many entries
    the whole list would hold (known ones included)."""
    limits = _Limits(max_title_chars, max_text_chars)
    return _normalized(parsed, feed, fetched_at, known_keys, limits, max_entries)


def entry_keys(parsed: ParsedFeed, feed: Feed) -> tuple[str | None, ...]:
    """Each entry's article key when its guid or link settles it, else None (the key then
    hashes the cleaned text): a poll asks the store about these before normalising."""
    keys = [_cheap_key(entry, feed) for entry in parsed.entries]
    # Guid-less entries sharing a page may each take a key of their own from their text
    # (`_distinct_shared_links`): only a link no other entry has settles one.
    link_keys = Counter(key for key in keys if key is not None and key.startswith("u:"))
    return tuple(None if key is None or link_keys[key] > 1 else key for key in keys)


@dataclass(frozen=True, slots=True)
class _Known:
    """An entry the caller already holds: kept only for its place in the newest-first cut."""

    key: str
    published_at: datetime


def _normalized(
    parsed: ParsedFeed,
    feed: Feed,
    fetched_at: datetime,
    known_keys: Collection[str],
    limits: _Limits,
    max_entries: int,
) -> tuple[list[Article], int]:
    fetched_at = _as_utc(fetched_at)
    hints = entry_keys(parsed, feed) if known_keys else (None,) * len(parsed.entries)
    normalized: list[Article | _Known] = []
    for entry, hint in zip(parsed.entries, hints, strict=True):
        if hint is not None and hint in known_keys:
            normalized.append(_Known(hint, _published_at(entry.published_at, fetched_at)))
            continue
        article = _normalize_entry(entry, parsed, feed, fetched_at, limits)
        if article is not None:
            normalized.append(article)
    by_key: dict[str, Article | _Known] = {}
    for item in _distinct_shared_links(normalized):
        by_key.setdefault(item.key, item)
    newest_first = sorted(by_key.values(), key=lambda item: item.published_at, reverse=True)
    kept = newest_first[:max_entries]
    return [item for item in kept if isinstance(item, Article)], len(kept)


@dataclass(frozen=True, slots=True)
class _Limits:
    title_chars: int
    text_chars: int


def _normalize_entry(
    entry: RawEntry, parsed: ParsedFeed, feed: Feed, fetched_at: datetime, limits: _Limits
) -> Article | None:
    # Per field: a feed may double-encode its titles and serve its bodies right.
    title = one_line(repair_mojibake(html_to_text(entry.title)))
    title = truncate(title, limits.title_chars, marker="…")
    summary = repair_mojibake(html_to_text(entry.summary_html))
    summary = truncate(summary, limits.text_chars, marker="…")
    body = truncate(
        repair_mojibake(html_to_text(entry.content_html)), limits.text_chars, marker="…"
    )
    if body == summary:  # feedparser copies content into summary when a feed has no summary
        body = ""
    url = _article_url(entry.link)
    if not (title or url or summary or body):
        return None
    guid = _entry_guid(entry)
    content_hash = hashlib.sha256(fold("\n".join((title, summary, body))).encode()).hexdigest()
    return Article(
        key=_article_key(feed.id, guid, url, content_hash),
        feed_id=feed.id,
        url=url,
        guid=guid,
        title=title,
        summary=summary,
        body=body,
        published_at=_published_at(entry.published_at, fetched_at),
        fetched_at=fetched_at,
        language=_first_language((entry.language, parsed.language, feed.language))
        or detect_language(f"{title}\n{summary or body}"),
        content_hash=content_hash,
        fingerprint=content_fingerprint(f"{title} {summary} {body}"),
        signature=text_signature(f"{title} {summary} {body}"),
    )


def _entry_guid(entry: RawEntry) -> str | None:
    return (_INVISIBLE_CHARS.sub("", entry.guid).strip() or None) if entry.guid else None


def _cheap_key(entry: RawEntry, feed: Feed) -> str | None:
    """`_article_key` for an entry whose guid or link names it, without its text."""
    guid, url = _entry_guid(entry), _article_url(entry.link)
    return _article_key(feed.id, guid, url, "") if guid or url else None


def _article_key(feed_id: str, guid: str | None, url: str | None, content_hash: str) -> str:
    # guids are only unique within a feed; a canonical URL names the page everywhere.
    if guid is not None:
        return "g:" + _sha256_hex(f"{feed_id}\0{_guid_identity(guid)}")[:_KEY_HEX_CHARS]
    if url is not None:
        return "u:" + _sha256_hex(_identity(url))[:_KEY_HEX_CHARS]
    return "c:" + content_hash[:_KEY_HEX_CHARS]


def _distinct_shared_links(articles: list[Article | _Known]) -> list[Article | _Known]:
    """Guid-less entries of one feed that share a link but differ in both title and text
    are different articles (a feed of 15 flashes all linking to its home page): each takes
    a key of its own. Entries that share the title or the text are one article; a link
    only one article has keeps its key, so an edited entry is not new. (A known entry's
    link is never shared: `entry_keys` settles no shared link.)"""
    groups: dict[str, list[list[int]]] = defaultdict(list)
    for index, article in enumerate(articles):
        if isinstance(article, Article) and article.key.startswith("u:"):
            clusters = groups[article.key]
            same = next(
                (c for c in clusters if _is_same_entry(_article(articles[c[0]]), article)), None
            )
            if same is None:
                clusters.append([index])
            else:
                same.append(index)
    keyed = list(articles)
    for clusters in groups.values():
        if len(clusters) > 1:
            for cluster in clusters:
                # The cluster's first entry names it, so a re-poll finds the same key.
                key = _shared_link_key(_article(articles[cluster[0]]))
                for index in cluster:
                    keyed[index] = replace(_article(articles[index]), key=key)
    return keyed


def _article(item: Article | _Known) -> Article:
    if not isinstance(item, Article):  # grouped above from articles only
        raise TypeError(f"entry '{item.key}' was never normalised")
    return item


def _is_same_entry(first: Article, other: Article) -> bool:
    return fold(first.title) == fold(other.title) or _entry_text(first) == _entry_text(other)


def _entry_text(article: Article) -> str:
    return fold(f"{article.summary}\n{article.body}")


def _shared_link_key(article: Article) -> str:
    identity = f"{_identity(article.url or '')}\0{article.content_hash}"
    return "l:" + _sha256_hex(identity)[:_KEY_HEX_CHARS]


def _guid_identity(guid: str) -> str:
    # Permalink guids are URLs: the same tracking, scheme and "www." changes apply.
    if urlsplit(guid).scheme.lower() in _DEFAULT_PORTS:
        return _identity(canonical_url(guid))
    return guid


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime here came from a UTC source (feedparser's struct_time).
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _published_at(published: datetime | None, fetched_at: datetime) -> datetime:
    if published is None or _as_utc(published) < _EARLIEST_PLAUSIBLE:
        return fetched_at
    # A date in the future is a publisher's clock or time-zone error: it would pin the
    # article to the top of every digest, so it counts as "just now".
    return min(_as_utc(published), fetched_at)


def _first_language(candidates: Iterable[str | None]) -> str | None:
    for candidate in candidates:
        code = language_code(candidate)
        if code is not None:
            return code
    return None
