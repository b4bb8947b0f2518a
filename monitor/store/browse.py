"""Read-only SQL for the web workspace and the export: stored matches newest first, one
story's copies, one rule's matches per day.

Never writes, never evaluates a rule: it reads what the matcher stored, a page at a time
(keyset on published time and article key), so a long archive is never loaded whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.model import Article, Match, Priority
from monitor.store.articles import article_of
from monitor.store.db import Database, iso, marks, required_time
from monitor.store.dialect import Row
from monitor.store.matches import match_of


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """Which stored matches to read; an empty or None field does not filter."""

    rule_ids: tuple[str, ...] = ()
    feed_ids: tuple[str, ...] | None = None  # () matches nothing (a tag no feed has)
    language: str | None = None
    min_priority: Priority | None = None
    published_since: datetime | None = None
    published_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a page ends: the next page starts strictly after this article."""

    published_at: datetime
    article_key: str


@dataclass(frozen=True, slots=True)
class MatchedArticle:
    """A stored article with the matches that the query selected (none for a plain copy)."""

    article: Article
    matches: tuple[Match, ...]
    matched_at: datetime | None


class BrowseTables(Database):
    """The workspace's reads: pages of matched articles, stories, counts per day."""

    def matched_page(
        self, query: MatchQuery, *, limit: int, after: PageCursor | None = None
    ) -> list[MatchedArticle]:
        """Up to `limit` matched articles, newest published first, after `after`."""
        if query.feed_ids == ():
            return []
        where, params = _conditions(query)
        if after is not None:
            where.append("(a.published_at < ? OR (a.published_at = ? AND a.key > ?))")
            stamp = iso(after.published_at)
            params += [stamp, stamp, after.article_key]
        rows = self._query(
            f"""
            SELECT a.*, m.rule_id, m.rule_name, m.priority, m.score, m.hits,
                   m.matched_at AS match_matched_at, m.article_key
            FROM articles a JOIN matches m ON m.article_key = a.key
            WHERE a.key IN (
                SELECT a.key FROM articles a JOIN matches m ON m.article_key = a.key
                WHERE {" AND ".join(where) or "1 = 1"}
                GROUP BY a.key ORDER BY a.published_at DESC, a.key LIMIT ?)
              AND {_match_conditions(query)[0] or "1 = 1"}
            ORDER BY a.published_at DESC, a.key, m.priority DESC, m.score DESC, m.rule_id
            """,
            (*params, limit, *_match_conditions(query)[1]),
        )
        return _grouped(rows)

    def story_articles(self, story_id: str, *, limit: int = 200) -> list[MatchedArticle]:
        """Every stored copy of a story (matched or not), newest first, with its matches."""
        rows = self._query(
            """
            SELECT a.*, m.rule_id, m.rule_name, m.priority, m.score, m.hits,
                   m.matched_at AS match_matched_at, m.article_key
            FROM articles a LEFT JOIN matches m ON m.article_key = a.key
            WHERE a.key IN (SELECT key FROM articles WHERE story_id = ?
                            ORDER BY published_at DESC, key LIMIT ?)
            ORDER BY a.published_at DESC, a.key, m.priority DESC, m.score DESC, m.rule_id
            """,
            (story_id, limit),
        )
        return _grouped(rows)

    def rule_match_times(self, rule_id: str, *, limit: int = 5000) -> list[datetime]:
        """When the newest `limit` articles this rule matched were published, newest first."""
        rows = self._query(
            "SELECT a.published_at FROM matches m JOIN articles a ON a.key = m.article_key "
            "WHERE m.rule_id = ? ORDER BY a.published_at DESC LIMIT ?",
            (rule_id, limit),
        )
        return [required_time(row["published_at"]) for row in rows]


def _conditions(query: MatchQuery) -> tuple[list[str], list[Any]]:
    where, params = _match_conditions(query)
    clauses = [where] if where else []
    values: list[Any] = list(params)
    if query.feed_ids is not None:
        clauses.append(f"a.feed_id IN ({marks(len(query.feed_ids))})")
        values += query.feed_ids
    if query.language:
        clauses.append("a.language = ?")
        values.append(query.language)
    if query.published_since is not None:
        clauses.append("a.published_at >= ?")
        values.append(iso(query.published_since))
    if query.published_before is not None:
        clauses.append("a.published_at < ?")
        values.append(iso(query.published_before))
    return clauses, values


def _match_conditions(query: MatchQuery) -> tuple[str, Sequence[Any]]:
    """The conditions on the match itself: they choose articles and which matches show."""
    clauses: list[str] = []
    values: list[Any] = []
    if query.rule_ids:
        clauses.append(f"m.rule_id IN ({marks(len(query.rule_ids))})")
        values += query.rule_ids
    if query.min_priority is not None:
        clauses.append("m.priority >= ?")
        values.append(int(query.min_priority))
    return " AND ".join(clauses), values


def _grouped(rows: list[Row]) -> list[MatchedArticle]:
    articles: dict[str, Article] = {}
    matches: dict[str, list[Match]] = {}
    latest: dict[str, datetime | None] = {}
    for row in rows:
        key = row["key"]
        if key not in articles:
            articles[key] = article_of(row)
            matches[key] = []
            latest[key] = None
        if row["rule_id"] is None:
            continue  # a copy of the story that matched nothing
        matches[key].append(match_of(row))
        when = required_time(row["match_matched_at"])
        seen = latest[key]
        latest[key] = when if seen is None or when > seen else seen
    return [
        MatchedArticle(article=articles[key], matches=tuple(matches[key]), matched_at=latest[key])
        for key in articles
    ]
