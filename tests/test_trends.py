"""The spike detector and the daily trend on synthetic count series: steady, surge, slow
growth, daily rhythm, sparse counts, wire copies. Pure: no store, no clock."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.model import SpikeSettings
from monitor.trends import (
    StoryHit,
    baseline_windows,
    check_spike,
    daily_trend,
    negative_binomial_tail,
    poisson_tail,
)

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
SETTINGS = SpikeSettings()  # 1 h against 14 days, medium, 5 stories, 3 outlets, 6 h quiet


def hits_for(counts_by_hour, *, outlets=4, prefix="s"):
    """Stories spread over each hour from START: counts_by_hour[h] of them in hour h."""
    hits = []
    for hour, count in enumerate(counts_by_hour):
        for index in range(count):
            at = START + timedelta(hours=hour, minutes=(index * 7) % 60)
            hits.append(StoryHit(f"{prefix}{hour}-{index}", f"feed{index % outlets}", at))
    return hits


def run(series, settings=SETTINGS):
    """Check every hour from day 15 on, as the daemon would; the hours a spike fired."""
    hits = hits_for(series)
    fired, last = [], None
    for hour in range(15 * 24, len(series)):
        now = START + timedelta(hours=hour + 1)
        window = [h for h in hits if now - timedelta(days=15) <= h.published_at < now]
        check = check_spike(window, settings, now, history_since=START, last_fired_at=last)
        if check.fires:
            fired.append(hour)
            last = now
    return fired


def poisson_series(rate, hours, seed):
    rng = random.Random(seed)
    series = []
    for _ in range(hours):
        # Knuth's Poisson sampler: a count with mean `rate`.
        limit, count, product = pow(2.718281828459045, -rate), 0, rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        series.append(count)
    return series


HOURS = 22 * 24  # two weeks of baseline, then a week of checks


@pytest.mark.parametrize("rate", [0.3, 3.0, 12.0])
def test_a_steady_rule_never_fires(rate):
    assert run(poisson_series(rate, HOURS, seed=int(rate * 10))) == []


def test_a_surge_fires_once_then_stays_quiet_for_the_cool_down():
    series = poisson_series(3.0, HOURS, seed=7)
    surge_at = 17 * 24 + 10
    for hour in range(surge_at, surge_at + 8):  # eight hours of 30 stories an hour
        series[hour] = 30
    fired = run(series)
    assert fired[0] == surge_at
    # Quiet for six hours, then the surge still going at hour +6 may be said once more.
    assert all(hour >= surge_at + 6 for hour in fired[1:])
    assert len(fired) <= 2


def test_without_a_cool_down_the_same_surge_would_fire_every_hour():
    series = poisson_series(3.0, HOURS, seed=7)
    surge_at = 17 * 24 + 10
    for hour in range(surge_at, surge_at + 8):
        series[hour] = 30
    loud = SpikeSettings(cooldown_s=0)
    assert len(run(series, loud)) == 8  # what the cool-down spares the reader


def test_slow_growth_is_not_a_spike():
    # 5% more stories every day for three weeks: the count never doubles against its baseline.
    series = [round(2 * 1.05 ** (hour / 24)) for hour in range(HOURS)]
    assert run(series) == []


@pytest.mark.parametrize("sensitivity", ["low", "medium", "high"])
def test_the_usual_daily_peak_is_not_a_spike(sensitivity):
    # 12 stories at 9:00 every day, 2 an hour otherwise: the 9:00 window is compared with
    # the previous days' 9:00 windows, not with the quieter hours before it.
    alpha = {"low": 1e-4, "medium": 1e-3, "high": 1e-2}[sensitivity]
    series = [12 if hour % 24 == 9 else 2 for hour in range(HOURS)]
    assert run(series, SpikeSettings(sensitivity=alpha)) == []


def test_the_same_count_at_an_unusual_hour_is_a_spike():
    series = [25 if hour % 24 == 9 else 1 for hour in range(HOURS)]
    series[18 * 24 + 15] = 25  # 15:00 on day 18
    assert run(series) == [18 * 24 + 15]


def test_sparse_counts_need_the_minimum_count_and_outlets():
    now = START + timedelta(days=15)
    quiet = hits_for([0] * (15 * 24 - 1))
    burst = [StoryHit(f"b{i}", f"feed{i}", now - timedelta(minutes=5 + i)) for i in range(4)]
    eager = SpikeSettings(sensitivity=1e-2)
    check = check_spike(quiet + burst, eager, now, history_since=START, last_fired_at=None)
    # 4 stories against 0 usually passes the tail test, but they are fewer than 5.
    assert check.tail < eager.sensitivity
    assert not check.fires
    five = [StoryHit(f"b{i}", f"feed{i % 2}", now - timedelta(minutes=5 + i)) for i in range(6)]
    two_outlets = check_spike(five, SETTINGS, now, history_since=START, last_fired_at=None)
    assert not two_outlets.fires  # six stories, but from two outlets only
    three = [StoryHit(f"b{i}", f"feed{i % 3}", now - timedelta(minutes=5 + i)) for i in range(6)]
    assert check_spike(three, SETTINGS, now, history_since=START, last_fired_at=None).fires


def test_wire_copies_count_once():
    now = START + timedelta(days=15)
    copies = [StoryHit("one-story", f"feed{i}", now - timedelta(minutes=i + 1)) for i in range(20)]
    check = check_spike(copies, SETTINGS, now, history_since=START, last_fired_at=None)
    assert (check.count, check.outlets, check.fires) == (1, 20, False)


def test_a_rule_without_history_is_learning_and_does_not_fire():
    now = START + timedelta(days=15)
    surge = [StoryHit(f"x{i}", f"feed{i % 4}", now - timedelta(minutes=i + 1)) for i in range(30)]
    young = check_spike(
        surge, SETTINGS, now, history_since=now - timedelta(days=1), last_fired_at=None
    )
    assert (young.state, young.fires) == ("learning", False)
    old = check_spike(surge, SETTINGS, now, history_since=START, last_fired_at=None)
    assert (old.state, old.fires) == ("surge", True)


def test_the_check_reports_the_counts_of_its_explanation():
    series = [3] * (15 * 24)
    series[-1] = 34
    now = START + timedelta(hours=len(series))
    check = check_spike(hits_for(series), SETTINGS, now, history_since=START, last_fired_at=None)
    assert (check.count, check.expected, check.spread) == (34, 3.0, 0.0)
    assert check.ratio == pytest.approx(34 / 3)


def test_windows_of_a_day_or_more_compare_with_the_windows_just_before():
    daily = SpikeSettings(window_s=86400, baseline_s=7 * 86400)
    now = START + timedelta(days=10)
    windows = baseline_windows(daily, now)
    assert len(windows) == 7
    assert windows[0] == (now - timedelta(days=2), now - timedelta(days=1))
    hourly = baseline_windows(SETTINGS, now)
    assert len(hourly) == 14
    assert hourly[0] == (now - timedelta(days=1, hours=1), now - timedelta(days=1))


def test_tails_match_the_distributions():
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(3, 3.0) == pytest.approx(0.5768, abs=1e-4)
    assert poisson_tail(34, 3.0) == pytest.approx(3.0753e-24, rel=1e-3)  # no rounding to 0
    # Over-dispersed: the same count is far less surprising.
    assert negative_binomial_tail(34, 3.0, 20.0) > 1e-4 > poisson_tail(34, 3.0)
    assert negative_binomial_tail(5, 3.0, 2.0) == poisson_tail(5, 3.0)


def test_the_daily_trend_counts_stories_per_local_day_and_marks_spikes():
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    times = [
        datetime(2026, 3, 8, 23, 30, tzinfo=UTC),  # already the 9th in Paris
        datetime(2026, 3, 9, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 12, 0, tzinfo=UTC),  # eight days ago: not shown
    ]
    trend = daily_trend("r", "Rule", times, [datetime(2026, 3, 3, 13, 0, tzinfo=UTC)], now, paris)
    assert [day for day, _, _ in trend.days] == [f"2026-03-0{d}" for d in range(3, 10)]
    assert [count for _, count, _ in trend.days] == [1, 0, 0, 0, 0, 0, 2]
    assert [fired for _, _, fired in trend.days] == [True] + [False] * 6
