"""When digests fire, in the subscriber's time zone (feeds: tests/test_dispatch.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from monitor.cron import is_digest_due, parse_cron, parse_schedule

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


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
    # 02:30 does not exist that night: the run is at the first valid instant, 03:00 CEST.
    assert fired == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert cron.next_after(fired) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def runs(expression: str, after: datetime, count: int, timezone: str = "Europe/Paris"):
    cron = parse_cron(expression, timezone)
    found = []
    for _ in range(count):
        after = cron.next_after(after)
        found.append(after)
    return found


def test_every_wall_time_runs_once_across_both_changes():
    # Spring: 02:00 and 02:30 CET do not exist; both collapse into one run at 03:00 CEST.
    assert runs("*/30 * * * *", datetime(2026, 3, 29, 0, 10, tzinfo=UTC), 3) == [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # 01:30 CET
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 03:30 CEST
    ]
    # Autumn: 02:00 and 02:30 come twice; only their first pass (CEST) runs.
    assert runs("*/30 * * * *", datetime(2026, 10, 24, 23, 50, tzinfo=UTC), 3) == [
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),  # 02:00 CEST
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),  # 03:00 CET
    ]


def test_day_of_month_and_day_of_week_combine_with_or():
    # Vixie cron: "the 10th, and every Monday". AND would mean only Monday the 10th (August).
    assert runs("0 8 10 * mon", datetime(2026, 6, 2, tzinfo=UTC), 3, "UTC") == [
        datetime(2026, 6, 8, 8, tzinfo=UTC),  # a Monday
        datetime(2026, 6, 10, 8, tzinfo=UTC),  # the 10th, a Wednesday
        datetime(2026, 6, 15, 8, tzinfo=UTC),  # a Monday
    ]
    # Only one of them restricted: that one alone decides.
    assert runs("0 8 10 * *", datetime(2026, 6, 2, tzinfo=UTC), 2, "UTC") == [
        datetime(2026, 6, 10, 8, tzinfo=UTC),
        datetime(2026, 7, 10, 8, tzinfo=UTC),
    ]


def test_weekday_lists_ranges_steps_and_names():
    cron = parse_cron("*/15 9-17 * * mon-fri", "UTC")
    saturday = datetime(2026, 5, 30, 10, tzinfo=UTC)
    assert cron.next_after(saturday) == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert cron.next_after(datetime(2026, 6, 1, 9, 0, tzinfo=UTC)) == datetime(
        2026, 6, 1, 9, 15, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 8 * *", "5-field"),
        ("@daily", "5-field"),
        ("0 8 * * * *", "5-field"),
        ("61 * * * *", "minute"),
        ("0 25 * * *", "hour"),
        ("0 8 32 * *", "day of month"),
        ("0 8 * 13 *", "month"),
        ("0 8 * * funday", "day of week"),
        ("*/0 8 * * *", "minute"),
        ("0 8 31 2 *", "never fires"),
    ],
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


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("every 10s", "m, h or d"),
        ("every", "m, h or d"),
        ("every 0m", "at most every minute"),
        ("every 5 weeks", "m, h or d"),
    ],
)
def test_bad_every_schedules_are_refused(expression, problem):
    with pytest.raises(ValueError, match=problem):
        parse_schedule(expression, "UTC")
