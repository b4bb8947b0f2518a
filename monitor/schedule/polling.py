"""When to poll each feed: which feeds are due now, and when each is due next.

Pure: `now`, the feed's history and the random source are passed in; nothing is read
from the clock, the store or the network. Owns which feeds are due (the daemon's one
dispatcher asks `due_feeds`), the adaptive interval (from the observed publication rate),
server hints as floors, backoff after errors, and the feed's state after each poll.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.model import Feed, FeedState, FetchResult
from monitor.settings import FetchSettings
from monitor.urls import with_credentials_of, without_credentials

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
# The first polls of never-polled feeds are spread over this long (or their interval, if
# shorter), so that many feeds do not all arrive, and queue for analysis, in one second.
FIRST_POLL_SPREAD_S = 30.0


# --- which feeds to poll now -------------------------------------------------------------


def due_feeds(
    feeds: Sequence[Feed],
    states: Mapping[str, FeedState],
    now: datetime,
    *,
    in_flight: Collection[str],
    first_polls: Mapping[str, datetime] | None = None,
) -> list[Feed]:
    """The feeds to poll at `now`: those whose stored next poll has come.

    A feed never polled is due at its planned first poll (`plan_first_polls`), or at
    once without one. A feed whose id is in `in_flight` is being polled: not due again.
    """
    return [
        feed
        for feed in feeds
        if feed.id not in in_flight and due_at(feed, states, first_polls or {}, now) <= now
    ]


def plan_first_polls(
    feeds: Sequence[Feed],
    states: Mapping[str, FeedState],
    planned: Mapping[str, datetime],
    now: datetime,
) -> dict[str, datetime]:
    """First-poll times for the never-polled feeds: kept if planned, else spread from `now`.

    Feeds seen for the first time together (a fresh store, or feeds added by a reload)
    are spread over FIRST_POLL_SPREAD_S, or their interval when shorter. Feeds that have
    been polled since, or are no longer configured, drop out of the plan.
    """
    never = [feed for feed in feeds if _stored_next_poll(states.get(feed.id)) is None]
    plan = {feed.id: planned[feed.id] for feed in never if feed.id in planned}
    fresh = [feed for feed in never if feed.id not in plan]
    for index, feed in enumerate(fresh):
        offset_s = min(float(feed.poll_every_s), FIRST_POLL_SPREAD_S) * index / len(fresh)
        plan[feed.id] = now + timedelta(seconds=offset_s)
    return plan


def clamp_next_polls(
    feeds: Sequence[Feed], states: Mapping[str, FeedState], now: datetime, policy: PollPolicy
) -> list[FeedState]:
    """The states whose stored times another clock wrote, brought back within reach of `now`.

    A poll recorded after `now` (the clock stepped back, or the store came from a host
    whose clock ran fast) is moved to `now`, its wait counted from there; and no next
    poll lies further than the longest delay the policy plans for that feed
    (`longest_delay_s`). Without this a 10 s feed whose stored time is a day ahead is
    silent for a day. Returns only the states that changed, for the caller to store.
    """
    changed: list[FeedState] = []
    for feed in feeds:
        state = states.get(feed.id)
        if state is None or state.next_poll_at is None:
            continue
        next_poll_at, last_polled_at = state.next_poll_at, state.last_polled_at
        if last_polled_at is not None and last_polled_at > now:
            next_poll_at, last_polled_at = now + (next_poll_at - last_polled_at), now
        latest = now + timedelta(seconds=longest_delay_s(feed, state, policy))
        clamped = replace(
            state, next_poll_at=min(next_poll_at, latest), last_polled_at=last_polled_at
        )
        if clamped != state:
            changed.append(clamped)
    return changed


def longest_delay_s(feed: Feed, state: FeedState, policy: PollPolicy) -> float:
    """The longest wait `next_poll_delay_s` can plan for `feed` in `state`.

    A healthy feed waits at most the upper bound (plus its jitter); a failing one may wait
    for a server's Retry-After or a permanent failure's daily retry.
    """
    ceiling_s = max(policy.max_interval_s, policy.min_interval_s, float(feed.poll_every_s))
    if state.error_streak == 0:
        return ceiling_s * (1.0 + JITTER_FRACTION)
    return max(ceiling_s, MAX_RETRY_AFTER_S, PERMANENT_FAILURE_RETRY_S)


def _stored_next_poll(state: FeedState | None) -> datetime | None:
    return state.next_poll_at if state is not None else None


def due_at(
    feed: Feed, states: Mapping[str, FeedState], first_polls: Mapping[str, datetime], now: datetime
) -> datetime:
    """When `feed` is (or was) due: its stored next poll, else its planned first, else `now`."""
    stored = _stored_next_poll(states.get(feed.id))
    return stored or first_polls.get(feed.id) or now


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
        # Stored without credentials: the feed's own URL gives them back (`moved_url`).
        moved_from=(
            without_credentials(feed.url) if result.redirected_permanently_to else state.moved_from
        ),
        moved_to=(
            without_credentials(result.redirected_permanently_to)
            if result.redirected_permanently_to
            else state.moved_to
        ),
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


def state_after_new_interval(
    state: FeedState,
    feed: Feed,
    *,
    recent_published: Sequence[datetime],
    policy: PollPolicy,
    rng: random.Random,
) -> FeedState:
    """The feed's state once the operator changed its `every`: the next poll re-planned.

    A healthy feed's next poll becomes what its last poll would have planned under the
    new interval (so a shortened one can be due at once, a lengthened one waits longer);
    its RSS ttl still counts, a Cache-Control max-age is not stored and no longer does.
    A failing feed keeps its backoff and any Retry-After: the server asked for the wait.
    """
    if state.error_streak > 0 or state.last_polled_at is None:
        return state
    delay_s = next_poll_delay_s(
        feed,
        now=state.last_polled_at,
        error_streak=0,
        retry_after_s=None,
        max_age_s=None,
        ttl_s=state.ttl_s,
        recent_published=recent_published,
        min_interval_s=policy.min_interval_s,
        max_interval_s=policy.max_interval_s,
        rng=rng,
    )
    return replace(state, next_poll_at=state.last_polled_at + timedelta(seconds=delay_s))


def moved_url(feed: Feed, state: FeedState | None) -> str | None:
    """Where a recorded permanent redirect says `feed` now lives, with the feed's credentials
    when it stays on their server; None when it never moved or the operator changed its URL
    since."""
    if state is None or state.moved_to is None or state.moved_from is None:
        return None
    # States written before credentials were stripped hold the URL as configured.
    if state.moved_from not in (without_credentials(feed.url), feed.url):
        return None
    return with_credentials_of(state.moved_to, feed.url)
