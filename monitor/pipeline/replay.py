"""Push saved feed files and plain-text articles through the pipeline (backfills, tests).

A feed file (.xml, .rss, .atom) is parsed like a fetched feed; any other file is
one article: its first line is the title, the rest the body. Files go through
the same normalize → store → match path as polled feeds, so dedupe holds.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.errors import MonitorError
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
    on_progress: Callable[[int, int, Path, str | None], None] | None = None,
) -> ReplayReport:
    """Ingest `files` one by one; a bad file is reported and skipped, never fatal."""
    report = ReplayReport()
    for index, path in enumerate(files, start=1):
        error = None
        try:
            articles = list(_articles_of(path, now, language))
            added, matches = await pipeline.ingest(articles, now)
            report.articles += len(articles)
            report.new_articles += added
            report.matches += matches
        except (MonitorError, OSError, UnicodeDecodeError) as exc:
            report.failed += 1
            error = str(exc)
        report.files += 1
        if on_progress is not None:
            on_progress(index, len(files), path, error)
    return report


def _articles_of(path: Path, now: datetime, language: str | None) -> Iterator[Article]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise MonitorError(f"replay: '{path}' is larger than {MAX_FILE_BYTES} bytes")
    feed = Feed(id=f"replay-{_slug(path)}", url=str(path), title=path.name, language=language)
    if path.suffix.lower() in FEED_SUFFIXES:
        yield from feed_file_articles(path, feed, now)
        return
    text = path.read_text(encoding="utf-8")
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


def feed_file_articles(path: Path, feed: Feed, now: datetime) -> list[Article]:
    """The articles of a saved RSS or Atom file, normalized as if `feed` had served them."""
    result = FetchResult(
        feed_id=feed.id,
        url=path.resolve().as_uri(),
        status=200,
        body=path.read_bytes(),
        headers=(),
        fetched_at=now,
    )
    return normalize_entries(parse_feed(result), feed, now)


def _slug(path: Path) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in path.stem.lower())[:40] or "file"
