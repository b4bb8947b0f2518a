"""Push saved feed files and plain-text articles through the pipeline (backfills, tests).

A feed file (.xml, .rss, .atom) is parsed like a fetched feed; any other file is
one article: its first line is the title, the rest the body, in whatever encoding
charset-normalizer recognises (charset_normalizer stays in this module). Files go through
the same normalize → store → match path as polled feeds, so dedupe holds.
"""

from __future__ import annotations

import hashlib
import html
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import charset_normalizer

from monitor.errors import InputError, MonitorError
from monitor.ingest import normalize_entries, parse_feed
from monitor.model import Article, Feed, FetchResult, ParsedFeed, RawEntry
from monitor.pipeline.pipeline import Pipeline

FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom", ".rdf"})
MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass(slots=True)
class ReplayReport:
    files: int = 0
    articles: int = 0
    new_articles: int = 0
    matches: int = 0
    failed: int = 0
    # (file, entries dropped): feed files with more entries than fetch.max_entries.
    dropped: list[tuple[Path, int]] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.articles - self.new_articles


def replay_files(paths: Iterable[Path]) -> list[Path]:
    """Every file named, with folders expanded, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            found.append(path)
    return found


async def replay_paths(
    pipeline: Pipeline,
    files: list[Path],
    now: datetime,
    *,
    language: str | None = None,
    max_entries: int = 200,
    on_progress: Callable[[int, int, Path, str | None], None] | None = None,
) -> ReplayReport:
    """Ingest `files` one by one; a bad file is reported and skipped, never fatal.

    A feed file keeps its newest `max_entries` entries, as a poll would; the report
    lists the files that had more and how many were dropped.
    """
    report = ReplayReport()
    for index, path in enumerate(files, start=1):
        error = None
        try:
            articles = list(_articles_of(path, now, language))
            if len(articles) > max_entries:
                report.dropped.append((path, len(articles) - max_entries))
                articles = articles[:max_entries]
            added, matches = await pipeline.ingest(articles, now)
            report.articles += len(articles)
            report.new_articles += added
            report.matches += matches
        except (MonitorError, OSError) as exc:
            report.failed += 1
            error = str(exc)
        report.files += 1
        if on_progress is not None:
            on_progress(index, len(files), path, error)
    return report


def read_input_bytes(path: Path, *, command: str) -> bytes:
    """The bytes of a file the user named, or an `InputError` naming it and the problem."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{command}: '{path}' is a folder, not a file", path=str(path))
        if not stat.S_ISREG(mode):
            raise InputError(f"{command}: '{path}' is not a regular file", path=str(path))
        # The size is checked again on the bytes read: the file may grow in between.
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{command}: '{path}': no such file", path=str(path)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"{command}: cannot read '{path}': {reason}", path=str(path)) from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(
            f"{command}: '{path}' is larger than {MAX_FILE_BYTES} bytes", path=str(path)
        )
    return data


def read_input_text(path: Path, *, command: str) -> str:
    """A text file the user named, decoded as UTF-8 or else in the encoding detected."""
    data = read_input_bytes(path, command=command)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = _detected_text(data)
    if text is None or "\x00" in text:
        raise InputError(
            f"{command}: '{path}' is not text in any encoding recognised "
            "(save it as UTF-8 plain text)",
            path=str(path),
        )
    return text


def _detected_text(data: bytes) -> str | None:
    # Word and old Windows editors save cp1252 or Latin-1: detect rather than refuse.
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    # A short text fits many single-byte code pages equally well (a French paragraph came
    # out as mac_latin2 and cp1250, "Sťcuritť"); among the equally clean ones, Western
    # Windows is what the feeds' languages are most often saved in.
    for match in matches:
        if match.chaos <= best.chaos and "cp1252" in match.could_be_from_charset:
            return data.decode("cp1252")
    return str(best)


def _articles_of(path: Path, now: datetime, language: str | None) -> Iterator[Article]:
    feed = Feed(id=f"replay-{_slug(path)}", url=str(path), title=path.name, language=language)
    if path.suffix.lower() in FEED_SUFFIXES:
        yield from feed_file_articles(path, feed, now, command="replay")
        return
    text = read_input_text(path, command="replay")
    title, _, body = text.strip().partition("\n")
    paragraphs = "".join(f"<p>{html.escape(part)}</p>" for part in body.split("\n") if part.strip())
    entry = RawEntry(
        guid=f"file:{hashlib.sha256(text.encode()).hexdigest()[:32]}",
        link=None,
        title=title.strip(),
        summary_html="",
        content_html=paragraphs,
        published_at=None,
        language=language,
    )
    parsed = ParsedFeed(title=path.name, link=None, language=language, entries=(entry,))
    yield from normalize_entries(parsed, feed, now)


def feed_file_articles(path: Path, feed: Feed, now: datetime, *, command: str) -> list[Article]:
    """Every article of a saved RSS or Atom file, newest first, as if `feed` had served it."""
    result = FetchResult(
        feed_id=feed.id,
        url=path.resolve().as_uri(),
        status=200,
        body=read_input_bytes(path, command=command),
        headers=(),
        fetched_at=now,
    )
    return normalize_entries(parse_feed(result), feed, now, max_entries=sys.maxsize)


def _slug(path: Path) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in path.stem.lower())[:40] or "file"
