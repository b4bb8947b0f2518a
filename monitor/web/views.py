"""Stored matches → what the workspace pages, Atom feeds and exports show of them.

Owns the explanation of one match as the digests give it (the sentence with its hits
marked, why in words, the clause in words, the aliases found, the analysts' verdict) and
the grouping of a page by story. Pure: no store, no clock, no markup; escaping is the
template's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from urllib.parse import urlsplit

from monitor.deliver import (
    SnippetPart,
    explain_match,
    highlight_snippet,
    linkable,
    local_time,
    priority_label,
    words_for,
)
from monitor.model import Article, Match, Priority
from monitor.store import MatchedArticle
from monitor.text import one_line


@dataclass(frozen=True, slots=True)
class Wording:
    """The language, zone and names the views are worded with."""

    language: str
    zone: tzinfo
    feed_titles: Mapping[str, str]
    clauses: Mapping[str, str]  # rule id → the rule in words


@dataclass(frozen=True, slots=True)
class FeedbackMarks:
    """What analysts said about the articles on a page: verdicts and muted stories."""

    verdicts: Mapping[tuple[str, str], str]  # (article key, rule id) → verdict
    muted: frozenset[str]  # story ids


NO_MARKS = FeedbackMarks(verdicts={}, muted=frozenset())


@dataclass(frozen=True, slots=True)
class MatchView:
    """Why one rule matched one article."""

    rule_id: str
    rule_name: str
    priority: str  # "high" | "normal" | "low"
    priority_label: str
    score: float
    snippet: tuple[SnippetPart, ...]
    why: str
    clause: str
    terms: tuple[str, ...]
    actors: tuple[str, ...]
    # "DGST (DGSN-DGST)": the alias found, for the actor the rule names (when they differ).
    aliases: tuple[str, ...]
    verdict: str | None = None  # the analysts' "relevant" | "not_relevant", if given


@dataclass(frozen=True, slots=True)
class ArticleView:
    """One stored article and its matches, ready to display."""

    key: str
    story_id: str
    title: str
    url: str | None  # only http(s) links
    domain: str
    feed_id: str
    source: str
    language: str
    published: str  # in the workspace's zone and language
    published_iso: str
    matches: tuple[MatchView, ...]
    is_muted: bool = False  # its story is muted: never delivered again


@dataclass(frozen=True, slots=True)
class StoryView:
    """The copies of one story on a page, newest first, and the outlets that carried it."""

    story_id: str
    articles: tuple[ArticleView, ...]
    outlets: tuple[str, ...]


def match_view(
    article: Article, match: Match, wording: Wording, marks: FeedbackMarks = NO_MARKS
) -> MatchView:
    words = words_for(wording.language)
    priority = Priority(match.priority)
    return MatchView(
        rule_id=match.rule_id,
        rule_name=one_line(match.rule_name),
        priority=priority.label,
        priority_label=priority_label(priority, words),
        score=round(match.score, 3),
        snippet=highlight_snippet(article, match.hits),
        why=explain_match(match, words),
        clause=one_line(wording.clauses.get(match.rule_id, "")),
        terms=_unique(one_line(hit.wanted) for hit in match.hits if hit.actor_id is None),
        actors=_unique(one_line(hit.wanted) for hit in match.hits if hit.actor_id is not None),
        aliases=_unique(
            f"{one_line(hit.alias or hit.matched)} ({one_line(hit.wanted)})"
            for hit in match.hits
            if hit.actor_id is not None
            and (hit.alias or hit.matched).casefold() != hit.wanted.casefold()
        ),
        verdict=marks.verdicts.get((article.key, match.rule_id)),
    )


def article_view(
    found: MatchedArticle, wording: Wording, marks: FeedbackMarks = NO_MARKS
) -> ArticleView:
    article = found.article
    story_id = article.story_id or article.key
    url = linkable(article.url)
    return ArticleView(
        key=article.key,
        story_id=story_id,
        title=one_line(article.title) or article.key,
        url=url,
        domain=(urlsplit(url).hostname or "") if url else "",
        feed_id=article.feed_id,
        source=outlet(article.feed_id, wording),
        language=article.language or "",
        published=local_time(article.published_at, wording.zone, wording.language),
        published_iso=article.published_at.astimezone(UTC).isoformat(),
        matches=tuple(match_view(article, match, wording, marks) for match in found.matches),
        is_muted=story_id in marks.muted,
    )


def story_views(
    page: Sequence[MatchedArticle], wording: Wording, marks: FeedbackMarks = NO_MARKS
) -> tuple[StoryView, ...]:
    """The page's articles grouped by story, in the order each story first appears."""
    stories: dict[str, list[ArticleView]] = {}
    for found in page:
        view = article_view(found, wording, marks)
        stories.setdefault(view.story_id, []).append(view)
    return tuple(
        StoryView(
            story_id=story_id,
            articles=tuple(articles),
            outlets=_unique(view.source for view in articles),
        )
        for story_id, articles in stories.items()
    )


def outlet(feed_id: str, wording: Wording) -> str:
    return one_line(wording.feed_titles.get(feed_id, "")) or feed_id


def snippet_text(parts: Sequence[SnippetPart]) -> str:
    """The sentence as plain text (the export's and the Atom title's form)."""
    return "".join(part.text for part in parts)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))
