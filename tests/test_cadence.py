"""Poll intervals from publication rhythm and server hints (schedule.polling); feed health
(schedule.health)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from monitor.model import Feed, FeedState
from monitor.schedule.health import coverage_gap, failure_report, is_failing, silence_report
from monitor.schedule.polling import MAX_RETRY_AFTER_S, next_poll_delay_s, typical_gap_s

NOW = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)
FEED = Feed(id="quotidien", url="https://news.example.org/feed", poll_every_s=300)
HOUR = 3600.0
MIN_S = 60.0
MAX_S = 6 * HOUR


def every(gap: timedelta, count: int = 10, *, last: datetime = NOW) -> list[datetime]:
    """`count` publication times, `gap` apart, the newest at `last`."""
    return [last - gap * n for n in range(count)]


def delay(
    feed: Feed = FEED,
    *,
    error_streak: int = 0,
    retry_after_s: float | None = None,
    max_age_s: float | None = None,
    ttl_s: int | None = None,
    recent: Sequence[datetime] = (),
    seed: int = 7,
) -> float:
    return next_poll_delay_s(
        feed,
        now=NOW,
        error_streak=error_streak,
        retry_after_s=retry_after_s,
        max_age_s=max_age_s,
        ttl_s=ttl_s,
        recent_published=recent,
        min_interval_s=MIN_S,
        max_interval_s=MAX_S,
        rng=random.Random(seed),
    )


# --- after a success ---------------------------------------------------------------------


def test_without_history_the_configured_interval_plus_up_to_ten_percent() -> None:
    delays = [delay(seed=seed) for seed in range(50)]

    assert all(300 <= value <= 330 for value in delays)
    assert len(set(delays)) > 1  # jitter spreads feeds polled together


def test_a_feed_publishing_every_two_hours_is_polled_hourly() -> None:
    hourly_feed = Feed(id="slow", url="https://news.example.org/slow", poll_every_s=900)
    assert HOUR <= delay(hourly_feed, recent=every(timedelta(hours=2))) <= 1.1 * HOUR


def test_a_quiet_feed_slows_down_at_most_four_times_the_configured_interval() -> None:
    # One story every two hours would allow hourly polls, but 5 min configured caps it at 20.
    assert 4 * 300 <= delay(recent=every(timedelta(hours=2))) <= 1.1 * 4 * 300


def test_a_busy_feed_is_never_polled_more_often_than_configured() -> None:
    assert 300 <= delay(recent=every(timedelta(minutes=1))) <= 330


def test_a_quiet_feed_slows_down_to_the_upper_bound() -> None:
    two_hourly = Feed(id="weekly", url="https://news.example.org/weekly", poll_every_s=7200)
    assert MAX_S <= delay(two_hourly, recent=every(timedelta(days=3))) <= 1.1 * MAX_S


def test_a_configured_interval_above_the_upper_bound_wins() -> None:
    slow_feed = Feed(id="weekly", url="https://x.example/feed", poll_every_s=86400)

    assert 86400 <= delay(slow_feed, recent=every(timedelta(minutes=5))) <= 1.1 * 86400


def test_undated_and_future_entries_are_no_evidence() -> None:
    # Undated entries all carry the fetch time; future ones were clamped or are wrong.
    same_moment = [NOW] * 20
    future = every(timedelta(minutes=1), last=NOW + timedelta(days=1))

    assert typical_gap_s(same_moment, NOW) is None
    assert typical_gap_s(future, NOW) is None
    assert 300 <= delay(recent=same_moment + future) <= 330


def test_typical_gap_is_the_median() -> None:
    moments = [NOW - timedelta(hours=hours) for hours in (0, 1, 2, 3, 30)]

    assert typical_gap_s(moments, NOW) == HOUR


# --- server hints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hints", "at_least"),
    [
        ({"max_age_s": 1800.0}, 1800.0),
        ({"ttl_s": 3600}, 3600.0),
        ({"retry_after_s": 7200.0}, 7200.0),
        ({"max_age_s": 10.0, "ttl_s": 60}, 300.0),  # below the interval: no effect
    ],
)
def test_server_hints_are_floors(hints: dict[str, float], at_least: float) -> None:
    value = delay(**hints)  # type: ignore[arg-type]

    assert value >= at_least
    assert value <= max(at_least, 330)


def test_freshness_hints_cannot_push_past_the_upper_bound() -> None:
    assert delay(max_age_s=365 * 86400.0) == MAX_S
    assert delay(ttl_s=30 * 86400) == MAX_S


def test_retry_after_is_honoured_up_to_a_day() -> None:
    assert delay(retry_after_s=12 * HOUR) == 12 * HOUR
    assert delay(retry_after_s=30 * 86400.0) == MAX_RETRY_AFTER_S


# --- after errors ---------------------------------------------------------------------------


def test_errors_back_off_exponentially_with_jitter_up_to_the_ceiling() -> None:
    for streak in range(1, 12):
        backoff_s = min(300 * 2.0**streak, MAX_S)
        value = delay(error_streak=streak)
        assert max(backoff_s / 2, 300) <= value <= backoff_s


def test_backoff_never_stops_and_never_overflows() -> None:
    assert MAX_S / 2 <= delay(error_streak=10_000) <= MAX_S


def test_backoff_spreads_feeds_that_fail_together() -> None:
    delays = {delay(error_streak=5, seed=seed) for seed in range(20)}

    assert len(delays) == 20


def test_retry_after_beats_backoff_when_longer() -> None:
    assert delay(error_streak=1, retry_after_s=5000.0) == 5000.0


# --- health ----------------------------------------------------------------------------------


def state(**fields: object) -> FeedState:
    return FeedState(feed_id="quotidien", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "failing"),
    [
        ({}, False),
        ({"error_streak": 0, "last_success_at": NOW - timedelta(days=9)}, False),
        ({"error_streak": 5, "last_success_at": NOW - timedelta(hours=1)}, False),
        ({"error_streak": 1, "last_success_at": NOW - timedelta(days=2)}, True),
        ({"error_streak": 2}, False),  # never succeeded: too early to tell
        ({"error_streak": 3}, True),
    ],
)
def test_is_failing(fields: dict[str, object], failing: bool) -> None:
    assert is_failing(state(**fields), now=NOW, threshold_s=86400) is failing


def test_failure_report_says_since_when_and_why() -> None:
    failing = state(
        error_streak=9,
        last_success_at=NOW - timedelta(days=3, hours=2),
        last_error="fetch: 'https://news.example.org/feed': server error (503 status code)",
    )

    line = failure_report(failing, now=NOW, threshold_s=86400)

    assert line == (
        "feed 'quotidien': failing since 3 days ago (9 failed polls in a row); "
        "last error: fetch: 'https://news.example.org/feed': server error (503 status code)"
    )
    assert failure_report(state(), now=NOW, threshold_s=86400) is None
    just_now = state(error_streak=1, last_success_at=NOW - timedelta(seconds=42))
    assert "failing since 42 seconds ago" in str(failure_report(just_now, now=NOW, threshold_s=10))
    never = failure_report(state(error_streak=4), now=NOW, threshold_s=86400)
    assert never is not None
    assert "failing and never succeeded" in never


def test_silence_far_beyond_the_rhythm_is_reported() -> None:
    hourly_until_three_days_ago = every(timedelta(hours=1), last=NOW - timedelta(days=3))

    line = silence_report(FEED, now=NOW, recent_published=hourly_until_three_days_ago)

    assert line == "feed 'quotidien': no new article for 3 days (usually one every 1 hour)"


@pytest.mark.parametrize(
    "recent",
    [
        every(timedelta(hours=1), last=NOW - timedelta(hours=9)),  # a quiet night
        every(timedelta(days=2), last=NOW - timedelta(days=5)),  # a slow feed, on time
        [NOW - timedelta(days=40)],  # no rhythm: no verdict
        [],
    ],
)
def test_ordinary_quiet_is_not_reported(recent: list[datetime]) -> None:
    assert silence_report(FEED, now=NOW, recent_published=recent) is None


def test_coverage_gap_after_recovery() -> None:
    last_success = NOW - timedelta(days=2)
    oldest_now = NOW - timedelta(hours=5)

    assert coverage_gap(last_success, oldest_now, recovered=True) == (last_success, oldest_now)


@pytest.mark.parametrize(
    ("last_success", "oldest", "recovered"),
    [
        (NOW - timedelta(days=2), NOW - timedelta(days=3), True),  # overlap: nothing missed
        (NOW - timedelta(days=2), NOW - timedelta(hours=5), False),  # was not failing
        (None, NOW - timedelta(hours=5), True),  # first success ever
        (NOW - timedelta(days=2), None, True),  # serves no entries: cannot tell
    ],
)
def test_no_coverage_gap(
    last_success: datetime | None, oldest: datetime | None, recovered: bool
) -> None:
    assert coverage_gap(last_success, oldest, recovered) is None
