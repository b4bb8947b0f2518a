"""A rule's distinct stories per day over the last days, in the reader's time zone, marked
where a spike fired: the small bar chart of digests and the rule page.

Pure: takes story times and spike times, returns a `RuleTrend`. No store, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo

from monitor.model import RuleTrend

TREND_DAYS = 7

__all__ = ["TREND_DAYS", "daily_trend", "trend_start"]


def trend_start(now: datetime, zone: tzinfo, days: int = TREND_DAYS) -> datetime:
    """Midnight, in `zone`, of the first day a trend ending today shows."""
    first = now.astimezone(zone).date() - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=zone)


def daily_trend(
    rule_id: str,
    rule_name: str,
    story_times: Iterable[datetime],
    spike_times: Iterable[datetime],
    now: datetime,
    zone: tzinfo,
    days: int = TREND_DAYS,
) -> RuleTrend:
    """Stories per local day for the `days` days ending today, oldest first.

    `story_times` holds one time per distinct story (its first copy).
    """
    today = now.astimezone(zone).date()
    shown = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    counts: dict[date, int] = dict.fromkeys(shown, 0)
    for moment in story_times:
        day = moment.astimezone(zone).date()
        if day in counts:
            counts[day] += 1
    fired = {moment.astimezone(zone).date() for moment in spike_times}
    return RuleTrend(
        rule_id=rule_id,
        rule_name=rule_name,
        days=tuple((day.isoformat(), counts[day], day in fired) for day in shown),
    )
