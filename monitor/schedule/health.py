"""Verdicts on feed health and on polling as a whole, for digests, `monitor status` and /healthz.

Pure: `now` and the facts are passed in; nothing is read from the clock, the store or the
network. A feed is failing, silent, or has a coverage gap; polling has stalled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.model import Feed, FeedState
from monitor.schedule.polling import PollPolicy, due_at, due_feeds, typical_gap_s

# Silent for SILENCE_FACTOR typical gaps, and at least MIN_SILENCE_S, is worth a report.
SILENCE_FACTOR = 10.0
MIN_SILENCE_S = 24 * 3600.0
# A feed that never succeeded has no "failing since": this many failures in a row then.
FAILING_STREAK_WITHOUT_SUCCESS = 3
# Polling has stalled when no poll finished for 3 × the slowest feed's interval while feeds
# are due, but never under a minute: one poll may take the fetch deadline plus analysis.
STALL_INTERVALS = 3.0
MIN_POLL_STALL_S = 60.0


# --- one feed ------------------------------------------------------------------------------


def is_failing(state: FeedState, *, now: datetime, threshold_s: float) -> bool:
    """Whether the feed has been failing for longer than `threshold_s`.

    Counted from its last success; a feed that never succeeded is failing after
    FAILING_STREAK_WITHOUT_SUCCESS failures in a row.
    """
    if state.error_streak == 0:
        return False
    if state.last_success_at is None:
        return state.error_streak >= FAILING_STREAK_WITHOUT_SUCCESS
    return (now - state.last_success_at).total_seconds() > threshold_s


def failure_report(state: FeedState, *, now: datetime, threshold_s: float) -> str | None:
    """One line for the feed-health section when the feed is failing, else None."""
    if not is_failing(state, now=now, threshold_s=threshold_s):
        return None
    since = (
        f"since {_duration(now - state.last_success_at)} ago"
        if state.last_success_at is not None
        else "and never succeeded"
    )
    return (
        f"feed '{state.feed_id}': failing {since} ({state.error_streak} failed polls in a row); "
        f"last error: {state.last_error or 'unknown'}"
    )


def silence_report(
    feed: Feed,
    *,
    now: datetime,
    recent_published: Sequence[datetime],
    factor: float = SILENCE_FACTOR,
    min_silence_s: float = MIN_SILENCE_S,
) -> str | None:
    """One line when the feed has been silent far longer than its usual rhythm, else None.

    Silent means no article published for `factor` typical gaps and at least
    `min_silence_s` (a feed quiet every night is not broken). No rhythm, no verdict.
    """
    gap_s = typical_gap_s(recent_published, now)
    if gap_s is None:
        return None
    newest = max(moment for moment in recent_published if moment <= now)
    silent_s = (now - newest).total_seconds()
    if silent_s <= max(factor * gap_s, min_silence_s):
        return None
    return (
        f"feed '{feed.id}': no new article for {_duration(now - newest)} "
        f"(usually one every {_duration(timedelta(seconds=gap_s))})"
    )


def coverage_gap(
    last_success_at: datetime | None, oldest_entry_at: datetime | None, recovered: bool
) -> tuple[datetime, datetime] | None:
    """The window in which articles may have been missed while a feed was failing.

    When a feed recovers and the oldest entry it now serves is newer than its last
    successful poll, whatever it published in between has rolled off: (start, end).
    """
    if not recovered or last_success_at is None or oldest_entry_at is None:
        return None
    if oldest_entry_at <= last_success_at:
        return None
    return (last_success_at, oldest_entry_at)


def _duration(span: timedelta) -> str:
    """'3 days', '5 hours', '12 minutes': the largest whole unit, for report lines."""
    seconds = max(0, int(span.total_seconds()))
    for unit_s, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= unit_s:
            count = seconds // unit_s
            return f"{count} {name}{'s' if count > 1 else ''}"
    return f"{seconds} seconds"


def health_report(
    feeds: Sequence[Feed],
    states: Sequence[FeedState],
    recent_published: dict[str, Sequence[datetime]],
    gaps: Sequence[tuple[str, datetime, datetime]],
    *,
    now: datetime,
    policy: PollPolicy,
) -> list[str]:
    """Every feed-health line for the digest: failing feeds, silent feeds, coverage gaps."""
    by_id = {state.feed_id: state for state in states}
    lines: list[str] = []
    for feed in feeds:
        state = by_id.get(feed.id)
        failing = state and failure_report(state, now=now, threshold_s=policy.failing_after_s)
        silent = silence_report(feed, now=now, recent_published=recent_published.get(feed.id, ()))
        lines += [line for line in (failing, silent) if line]
    for feed_id, start, end in gaps:
        lines.append(
            f"feed '{feed_id}': articles published between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC may have been missed while it was failing"
        )
    return lines


# --- polling as a whole ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollingActivity:
    """What the daemon's dispatcher has done: when it started, last ran and last saw a poll end."""

    started_at: datetime
    last_dispatch_at: datetime | None = None
    last_poll_done_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PollingHealth:
    """The verdict on polling as a whole; `problem` says what is wrong, if anything."""

    is_dispatcher_alive: bool
    is_polling: bool
    problem: str | None = None

    @property
    def is_healthy(self) -> bool:
        return self.is_dispatcher_alive and self.is_polling


def polling_health(
    activity: PollingActivity,
    feeds: Sequence[Feed],
    states: Mapping[str, FeedState],
    *,
    now: datetime,
    dispatch_every_s: float,
    first_polls: Mapping[str, datetime] | None = None,
) -> PollingHealth:
    """Whether polling is moving: the dispatcher runs, and polls finish while feeds are due.

    Stalled: the dispatcher has not run for 3 dispatch periods plus 10 s, or feeds are
    due and no poll has finished for STALL_INTERVALS × the slowest feed's interval
    (at least MIN_POLL_STALL_S), counted from when the oldest of them became due.
    """
    quiet_s = (now - (activity.last_dispatch_at or activity.started_at)).total_seconds()
    if quiet_s > 3 * dispatch_every_s + 10:
        problem = (
            f"the feed dispatcher has not run for {quiet_s:.0f} s "
            f"(it should run every {dispatch_every_s:g} s)"
        )
        return PollingHealth(is_dispatcher_alive=False, is_polling=False, problem=problem)
    due = due_feeds(feeds, states, now, in_flight=(), first_polls=first_polls)
    if not due:
        return PollingHealth(is_dispatcher_alive=True, is_polling=True)
    oldest_due_at = min(due_at(feed, states, first_polls or {}, now) for feed in due)
    waiting_since = max(oldest_due_at, activity.last_poll_done_at or activity.started_at)
    waited_s = (now - waiting_since).total_seconds()
    limit_s = max(STALL_INTERVALS * max(feed.poll_every_s for feed in feeds), MIN_POLL_STALL_S)
    if waited_s <= limit_s:
        return PollingHealth(is_dispatcher_alive=True, is_polling=True)
    problem = (
        f"no feed poll has finished for {waited_s:.0f} s while {len(due)} feed(s) are due "
        f"(the limit is {limit_s:.0f} s)"
    )
    return PollingHealth(is_dispatcher_alive=True, is_polling=False, problem=problem)
