"""The STORIES part of `monitor status`: the event stories begun in the last day and week,
how many articles each gathered, and the largest stories still open.

Reads the store; changes nothing. `status.py` puts it beside the SPIKES table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from monitor.settings import StorySettings
from monitor.store import Store, StoryFigures

LARGEST_OPEN = 5


def story_report(store: Store, settings: StorySettings, now: datetime) -> dict[str, Any]:
    """A JSON-ready picture of the event stories: counts per period and the largest open."""
    window = timedelta(seconds=settings.window_s)
    return {
        "last_24h": _figures(store.story_figures(now - timedelta(hours=24))),
        "last_7d": _figures(store.story_figures(now - timedelta(days=7))),
        "open_within_hours": round(window.total_seconds() / 3600, 1),
        "largest_open": [
            {
                "story_id": story.story_id,
                "title": story.title,
                "articles": story.articles,
                "outlets": story.outlets,
                "first_seen": story.first_seen,
                "last_seen": story.last_seen,
            }
            for story in store.largest_open_stories(now - window, LARGEST_OPEN)
        ],
    }


def _figures(figures: StoryFigures) -> dict[str, Any]:
    return {
        "stories": figures.stories,
        "articles": figures.articles,
        "articles_per_story": round(figures.articles_per_story, 2),
    }


def story_lines(
    report: dict[str, Any],
    table: Callable[[list[str], list[list[str]]], list[str]],
    when: Callable[[datetime | None], str],
) -> list[str]:
    """The STORIES section as plain-text lines (`table` and `when` are status's helpers)."""
    day, week = report["last_24h"], report["last_7d"]
    lines = [
        "",
        f"STORIES  begun in the last 24 h: {day['stories']} "
        f"(articles per story: {day['articles_per_story']:g}); in the last 7 days: "
        f"{week['stories']} (articles per story: {week['articles_per_story']:g})",
    ]
    largest = report["largest_open"]
    if not largest:
        return [
            *lines,
            f"  no story has had an article in the last {report['open_within_hours']:g} h",
        ]
    lines.append(f"  largest open (an article in the last {report['open_within_hours']:g} h):")
    rows = [
        [
            str(story["articles"]),
            str(story["outlets"]),
            when(story["first_seen"]),
            story["title"][:70],
        ]
        for story in largest
    ]
    lines += ["  " + line for line in table(["articles", "outlets", "since", "lead"], rows)]
    return lines
