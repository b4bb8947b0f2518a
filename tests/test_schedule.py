"""When feeds are polled again and when digests fire, in the subscriber's time zone."""

from datetime import UTC, datetime, timedelta

import pytest

from monitor.schedule.cron import is_digest_due, is_poll_due, parse_cron, parse_schedule

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_a_feed_never_polled_is_due():
    assert is_poll_due(None, NOW)
    assert not is_poll_due(NOW + timedelta(seconds=1), NOW)
    assert is_poll_due(NOW + timedelta(seconds=1), NOW, early_s=2)


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


def test_every_n_schedules_run_a_fixed_time_after_the_last_digest():
    schedule = parse_schedule("every 4h", "Europe/Paris")
    assert schedule.next_after(NOW) == NOW + timedelta(hours=4)
    assert not is_digest_due(schedule, NOW, NOW + timedelta(hours=3))
    assert is_digest_due(schedule, NOW, NOW + timedelta(hours=4))
    assert parse_schedule("0 8 * * *", "UTC").next_after(NOW).hour == 8


@pytest.mark.parametrize("expression", ["every 10s", "every", "every 0m", "every 5 weeks"])
def test_bad_every_schedules_are_refused(expression):
    with pytest.raises(ValueError):
        parse_schedule(expression, "UTC")
