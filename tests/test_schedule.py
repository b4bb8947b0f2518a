"""When feeds are polled again and when digests fire, in the subscriber's time zone."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.model import Feed
from monitor.schedule import (
    MAX_BACKOFF_S,
    is_digest_due,
    is_poll_due,
    next_poll_at,
    parse_cron,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FEED = Feed(id="f", url="seeds/feeds/seed-fr.xml", poll_every_s=300)


def test_success_polls_again_after_the_interval_with_bounded_jitter():
    delays = {
        (next_poll_at(FEED, NOW, rng=random.Random(seed)) - NOW).total_seconds()
        for seed in range(50)
    }
    assert min(delays) >= 270 and max(delays) <= 330
    assert len(delays) > 1  # jitter actually spreads feeds


def test_errors_back_off_exponentially_up_to_a_ceiling_and_never_stop():
    rng = random.Random(1)
    delays = [
        (next_poll_at(FEED, NOW, error_streak=streak, rng=rng) - NOW).total_seconds()
        for streak in (1, 2, 3, 50, 10_000)
    ]
    assert 540 <= delays[0] <= 660
    assert delays[1] > delays[0] and delays[2] > delays[1]
    assert delays[3] <= MAX_BACKOFF_S * 1.1
    assert delays[4] <= MAX_BACKOFF_S * 1.1  # a feed failing for months is still polled


def test_retry_after_is_a_floor():
    upcoming = next_poll_at(FEED, NOW, error_streak=1, retry_after_s=7200, rng=random.Random(0))
    assert upcoming - NOW >= timedelta(seconds=7200)


def test_a_feed_never_polled_is_due():
    assert is_poll_due(None, NOW)
    assert not is_poll_due(NOW + timedelta(seconds=1), NOW)


def test_daily_digest_fires_at_eight_paris_time_across_daylight_saving():
    cron = parse_cron("0 8 * * *", "Europe/Paris")
    # Winter: 08:00 CET is 07:00 UTC; summer: 08:00 CEST is 06:00 UTC.
    assert cron.next_after(datetime(2026, 1, 10, 12, tzinfo=UTC)) == datetime(
        2026, 1, 11, 7, tzinfo=UTC
    )
    assert cron.next_after(datetime(2026, 3, 28, 12, tzinfo=UTC)) == datetime(
        2026, 3, 29, 6, tzinfo=UTC
    )
    assert cron.next_after(datetime(2026, 10, 24, 12, tzinfo=UTC)) == datetime(
        2026, 10, 25, 7, tzinfo=UTC
    )


def test_a_time_in_the_autumn_repeated_hour_runs_once():
    cron = parse_cron("30 2 * * *", "Europe/Paris")
    first = cron.next_after(datetime(2026, 10, 24, 12, tzinfo=UTC))
    second = cron.next_after(first)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert second - first > timedelta(hours=23)


def test_a_time_in_the_spring_gap_still_runs_that_day():
    cron = parse_cron("30 2 * * *", "Europe/Paris")
    fired = cron.next_after(datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert fired.date() == datetime(2026, 3, 29).date()


def test_weekday_lists_ranges_steps_and_names():
    cron = parse_cron("*/15 9-17 * * mon-fri", "UTC")
    saturday = datetime(2026, 5, 30, 10, tzinfo=UTC)
    assert cron.next_after(saturday) == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert cron.next_after(datetime(2026, 6, 1, 9, 0, tzinfo=UTC)) == datetime(
        2026, 6, 1, 9, 15, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "problem"),
    [("0 8 * *", "5-field"), ("61 * * * *", "minute"), ("0 8 * * funday", "day of week")],
)
def test_bad_cron_expressions_say_which_field(expression, problem):
    with pytest.raises(ValueError, match=problem):
        parse_cron(expression, "UTC")


def test_a_new_digest_waits_for_its_first_slot_and_missed_runs_collapse():
    cron = parse_cron("0 8 * * *", "Europe/Paris")
    assert not is_digest_due(cron, None, NOW)
    assert not is_digest_due(cron, NOW, NOW + timedelta(hours=1))
    # Down for three days: one digest is due, not three.
    assert is_digest_due(cron, NOW, NOW + timedelta(days=3))
