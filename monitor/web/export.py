"""Matches for a period as CSV, JSON Lines or one JSON document: the same columns from
`/api/matches` and `monitor export matches` (docs/web.md#export lists them).

Owns the columns, their order and each format's spelling. Pure: takes matched articles,
yields text; paging through the store is the caller's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from monitor.store import MatchedArticle
from monitor.web.views import Wording, match_view, outlet, snippet_text

EXPORT_SCHEMA = "monitor.matches/1"
FORMATS = ("csv", "jsonl", "json")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
    "json": "application/json",
}
# One row per (article, rule) match; lists are arrays in JSON and ' | '-joined in CSV.
EXPORT_COLUMNS = (
    "matched_at",
    "published_at",
    "rule_id",
    "rule_name",
    "priority",
    "score",
    "article_key",
    "story_id",
    "feed_id",
    "outlet",
    "language",
    "title",
    "url",
    "terms",
    "actors",
    "aliases",
    "sentence",
    "why",
)
_LIST_JOIN = " | "
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection"); article text is written by strangers, so such a cell gets a leading quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_rows(found: Iterable[MatchedArticle], wording: Wording) -> Iterator[dict[str, Any]]:
    """One dict per match, keys in `EXPORT_COLUMNS` order."""
    for item in found:
        article = item.article
        for match in item.matches:
            view = match_view(article, match, wording)
            yield {
                "matched_at": item.matched_at.isoformat() if item.matched_at else None,
                "published_at": article.published_at.isoformat(),
                "rule_id": match.rule_id,
                "rule_name": view.rule_name,
                "priority": view.priority,
                "score": view.score,
                "article_key": article.key,
                "story_id": article.story_id or article.key,
                "feed_id": article.feed_id,
                "outlet": outlet(article.feed_id, wording),
                "language": article.language or "",
                "title": article.title,
                "url": article.url or "",
                "terms": list(view.terms),
                "actors": list(view.actors),
                "aliases": list(view.aliases),
                "sentence": snippet_text(view.snippet),
                "why": view.why,
            }


def export_text(
    rows: Iterable[dict[str, Any]],
    fmt: str,
    *,
    columns: tuple[str, ...] = EXPORT_COLUMNS,
    schema: str = EXPORT_SCHEMA,
    name: str = "matches",
) -> Iterator[str]:
    """The rows spelled in `fmt` ('csv', 'jsonl' or 'json'), a piece at a time.

    The matches' columns and schema unless told otherwise (the feedback export's)."""
    if fmt == "csv":
        yield from _csv(rows, columns)
    elif fmt == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
    elif fmt == "json":
        yield f'{{"schema": "{schema}", "columns": {json.dumps(list(columns))}, '
        yield f'"{name}": ['
        for position, row in enumerate(rows):
            yield ("," if position else "") + "\n" + json.dumps(row, ensure_ascii=False)
        yield "\n]}\n"
    else:
        raise ValueError(f"unknown export format '{fmt}' (use one of {', '.join(FORMATS)})")


def _csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = _LIST_JOIN.join(value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text
