"""Analysts' verdicts → what the workspace shows and exports of them: a rule's measured
precision (overall and per week, always with its counts) and the feedback export's rows.

Pure: takes what the store read, returns values; no store, no clock, no markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from monitor.store import FeedbackRecord, FeedbackTally
from monitor.web.export import export_text

FEEDBACK_SCHEMA = "monitor.feedback/1"
# One row per verdict (per article and rule) or mute (per story), newest decision first.
FEEDBACK_COLUMNS = (
    "decided_at",
    "action",
    "rule_id",
    "rule_name",
    "article_key",
    "story_id",
    "published_at",
    "feed_id",
    "title",
    "url",
    "decided_by",
)
# The rule page shows this many of the most recent weeks that had votes.
PRECISION_WEEKS = 12


@dataclass(frozen=True, slots=True)
class PrecisionLine:
    """The votes of one period: counts first, the percentage only beside them."""

    week: str  # the Monday the week starts on (ISO date); "" for the whole time
    relevant: int
    not_relevant: int

    @property
    def votes(self) -> int:
        return self.relevant + self.not_relevant

    @property
    def percent(self) -> int | None:
        """The precision in whole percent, rounded half up; None without a vote."""
        if not self.votes:
            return None
        return (200 * self.relevant + self.votes) // (2 * self.votes)


@dataclass(frozen=True, slots=True)
class RulePrecision:
    """A rule's measured precision: overall, and per week of the judged articles."""

    overall: PrecisionLine
    weeks: tuple[PrecisionLine, ...]  # newest first


def rule_precision(
    verdicts: Iterable[tuple[datetime, str]], zone: tzinfo, *, weeks: int = PRECISION_WEEKS
) -> RulePrecision:
    """Tally (publication time, verdict) pairs per week, in `zone`, and overall.

    A vote counts in the week its article was published, so a rule edited on a Monday
    shows its new precision from that week on, whenever the analysts voted.
    """
    by_week: dict[str, FeedbackTally] = {}
    overall = FeedbackTally()
    for published_at, verdict in verdicts:
        day = published_at.astimezone(zone).date()
        monday = (day - timedelta(days=day.weekday())).isoformat()
        by_week[monday] = by_week.get(monday, FeedbackTally()).plus(verdict)
        overall = overall.plus(verdict)
    newest = sorted(by_week.items(), reverse=True)[:weeks]
    return RulePrecision(
        overall=PrecisionLine("", overall.relevant, overall.not_relevant),
        weeks=tuple(PrecisionLine(week, t.relevant, t.not_relevant) for week, t in newest),
    )


def feedback_rows(
    records: Iterable[FeedbackRecord], rule_names: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    """One dict per verdict or mute, keys in `FEEDBACK_COLUMNS` order."""
    for record in records:
        yield {
            "decided_at": record.decided_at.isoformat(),
            "action": record.action,
            "rule_id": record.rule_id or "",
            "rule_name": rule_names.get(record.rule_id or "", ""),
            "article_key": record.article_key,
            "story_id": record.story_id,
            "published_at": record.published_at.isoformat() if record.published_at else None,
            "feed_id": record.feed_id or "",
            "title": record.title or "",
            "url": record.url or "",
            "decided_by": record.decided_by or "",
        }


def feedback_text(
    records: Iterable[FeedbackRecord],
    tallies: Mapping[str, FeedbackTally],
    rule_names: Mapping[str, str],
    fmt: str,
) -> Iterator[str]:
    """The export in `fmt`: CSV or JSON Lines rows, or one JSON document that adds each
    rule's tally (`/api/feedback` and `monitor export feedback` alike)."""
    rows = feedback_rows(records, rule_names)
    if fmt != "json":
        yield from export_text(rows, fmt, columns=FEEDBACK_COLUMNS)
        return
    document = {
        "schema": FEEDBACK_SCHEMA,
        "columns": list(FEEDBACK_COLUMNS),
        "feedback": list(rows),
        "rules": [
            {
                "rule_id": rule_id,
                "rule_name": rule_names.get(rule_id, ""),
                "relevant": tally.relevant,
                "not_relevant": tally.not_relevant,
                "votes": tally.votes,
                "precision": tally.precision,
            }
            for rule_id, tally in sorted(tallies.items())
        ],
    }
    yield json.dumps(document, ensure_ascii=False, indent=1) + "\n"
