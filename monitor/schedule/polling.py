"""How often to poll one feed, and whether its rhythm says something is wrong.

Pure: `now`, the feed's history and the random source are passed in; nothing is read
from the clock, the store or the network. Owns the adaptive interval (from the observed
publication rate), server hints as floors, backoff after errors, and the health verdicts
(failing, silent, coverage gap) that `monitor status` and the digest report.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.model import Feed, FeedState, FetchResult
from monitor.settings import FetchSettings

# Poll twice per typical gap between articles: a new one waits a quarter gap on average.
POLLS_PER_GAP = 2.0
# A quiet feed is polled at most this many times less often than configured.
MAX_STRETCH = 4.0
# Fewer dated articles than this are no evidence of a rhythm.
MIN_RHYTHM_SAMPLES = 3
# Success delays grow by up to this fraction, so feeds that share a host spread out.
JITTER_FRACTION = 0.1
# A server's Retry-After is honoured up to a day: longer would silence a feed for good.
MAX_RETRY_AFTER_S = 24 * 3600.0
# Silent for SILENCE_FACTOR typical gaps, and at least MIN_SILENCE_S, is worth a report.
SILENCE_FACTOR = 10.0
MIN_SILENCE_S = 24 * 3600.0
# A feed that never succeeded has no "failing since": this many failures in a row then.
FAILING_STREAK_WITHOUT_SUCCESS = 3


def next_poll_delay_s(
    feed: Feed,
    *,
    now: datetime,
    error_streak: int,
    retry_after_s: float | None,
    max_age_s: float | None,
    ttl_s: int | None,
    recent_published: Sequence[datetime],
    min_interval_s: float,
    max_interval_s: float,
    rng: random.Random,
) -> float:
    """Seconds until `feed` should be polled again.

    After a success: half the typical gap between recent articles, at least the
    configured interval (and min_interval_s), at most MAX_STRETCH times it (and
    max_interval_s): quiet feeds slow down, within reason. After errors:
    exponential backoff with equal jitter, up to that upper bound, never stopping.
    Server hints are floors: max-age and RSS ttl up to the upper bound, Retry-After
    up to MAX_RETRY_AFTER_S.
    """
    floor_s = max(min_interval_s, float(feed.poll_every_s))
    ceiling_s = max(max_interval_s, floor_s)
    # A quiet feed slows down, but never past a few times what the operator asked for:
    # a one-story-a-day outlet can still break news, and that must not wait hours.
    rhythm_ceiling_s = min(ceiling_s, floor_s * MAX_STRETCH)
    interval_s = _rhythm_interval_s(recent_published, now, floor_s, rhythm_ceiling_s)
    if error_streak > 0:
        delay_s = _backoff_s(interval_s, error_streak, ceiling_s, rng)
    else:
        delay_s = interval_s * (1.0 + rng.uniform(0.0, JITTER_FRACTION))
    for hint_s in (max_age_s, float(ttl_s) if ttl_s else None):
        if hint_s is not None:
            delay_s = max(delay_s, min(hint_s, ceiling_s))
    if retry_after_s is not None:
        delay_s = max(delay_s, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay_s


def typical_gap_s(recent_published: Sequence[datetime], now: datetime) -> float | None:
    """The median gap between distinct publication times up to `now`, if there are enough."""
    moments = sorted({moment for moment in recent_published if moment <= now})
    if len(moments) < MIN_RHYTHM_SAMPLES:
        return None
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(moments)]
    return statistics.median(gaps)


def _rhythm_interval_s(
    recent_published: Sequence[datetime], now: datetime, floor_s: float, ceiling_s: float
) -> float:
    gap_s = typical_gap_s(recent_published, now)
    if gap_s is None:
        return floor_s
    return min(max(gap_s / POLLS_PER_GAP, floor_s), ceiling_s)


def _backoff_s(interval_s: float, error_streak: int, ceiling_s: float, rng: random.Random) -> float:
    # The exponent is capped so that a streak of thousands cannot overflow a float.
    backoff_s = min(interval_s * 2.0 ** min(error_streak, 32), ceiling_s)
    # "Equal jitter": between half and all of the backoff, but never below the interval,
    # so many feeds failing together (one host down) do not all retry in one second.
    return max(rng.uniform(backoff_s / 2, backoff_s), interval_s)


# --- health ------------------------------------------------------------------------------


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


# --- feed state after a poll ---------------------------------------------------------------

_FETCH_DEFAULTS = FetchSettings()


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """The operator's bounds on polling (config `fetch`)."""

    min_interval_s: float = 10.0
    max_interval_s: float = _FETCH_DEFAULTS.max_interval_s
    failing_after_s: float = _FETCH_DEFAULTS.failing_after_s

    @classmethod
    def from_settings(cls, settings: FetchSettings) -> PollPolicy:
        """The bounds the operator set in `fetch:` (the 10 s floor is not a setting)."""
        return cls(max_interval_s=settings.max_interval_s, failing_after_s=settings.failing_after_s)


# A 410 Gone or a refused address will not fix itself soon: look again once a day
# (a feed is never dropped for good) and say so in the feed-health report.
PERMANENT_FAILURE_RETRY_S = 24 * 3600.0


def state_after_success(
    state: FeedState,
    feed: Feed,
    result: FetchResult,
    *,
    now: datetime,
    body_sha256: str | None,
    ttl_s: int | None,
    recent_published: Sequence[datetime],
    policy: PollPolicy,
    rng: random.Random,
) -> FeedState:
    """The feed's state after a successful poll (a 200 or a 304)."""
    ttl_s = ttl_s if ttl_s is not None else state.ttl_s
    delay_s = next_poll_delay_s(
        feed,
        now=now,
        error_streak=0,
        retry_after_s=None,
        max_age_s=result.max_age_s,
        ttl_s=ttl_s,
        recent_published=recent_published,
        min_interval_s=policy.min_interval_s,
        max_interval_s=policy.max_interval_s,
        rng=rng,
    )
    return replace(
        state,
        etag=result.etag or state.etag,
        last_modified=result.last_modified or state.last_modified,
        body_sha256=body_sha256 or state.body_sha256,
        last_polled_at=now,
        last_success_at=now,
        error_streak=0,
        next_poll_at=now + timedelta(seconds=delay_s),
        moved_from=feed.url if result.redirected_permanently_to else state.moved_from,
        moved_to=result.redirected_permanently_to or state.moved_to,
        ttl_s=ttl_s,
    )


def state_after_failure(
    state: FeedState,
    feed: Feed,
    *,
    error: str,
    retry_after_s: float | None,
    is_permanent: bool,
    now: datetime,
    policy: PollPolicy,
    rng: random.Random,
) -> FeedState:
    """The feed's state after a failed poll: one more error, and a backed-off next poll."""
    streak = state.error_streak + 1
    if is_permanent:
        retry_after_s = max(retry_after_s or 0.0, PERMANENT_FAILURE_RETRY_S)
    delay_s = next_poll_delay_s(
        feed,
        now=now,
        error_streak=streak,
        retry_after_s=retry_after_s,
        max_age_s=None,
        ttl_s=None,
        recent_published=(),
        min_interval_s=policy.min_interval_s,
        max_interval_s=policy.max_interval_s,
        rng=rng,
    )
    return replace(
        state,
        last_polled_at=now,
        last_error=error,
        last_error_at=now,
        error_streak=streak,
        next_poll_at=now + timedelta(seconds=delay_s),
    )


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
