"""How bench.e2e decides that the daemon fell behind the publication rate: matched under 95%
of published, or an analysis backlog that grows over the step, judged on the slope of the
scraped counters so that the analyser's 64-article batches do not read as stalls."""

from __future__ import annotations

from bench.e2e import MATCH_BATCH, Step, fell_behind, slope
from bench.e2e_probe import STAGES, Sample

WINDOW_S = 60
EVERY_S = 3


def step(rate: float, matched_at, ingested_at=None) -> Step:
    """A step whose counters follow `matched_at(t)` and `ingested_at(t)`, scraped every 3 s."""
    ingested_at = ingested_at or (lambda t: rate * t)
    samples = tuple(
        Sample(t, ingested_at(t), matched_at(t), dict.fromkeys(STAGES, 0.0), 0.0, 0.0)
        for t in range(0, WINDOW_S + 1, EVERY_S)
    )
    return Step(rate, samples)


def test_slope_is_the_least_squares_rate():
    assert slope([(0, 1), (1, 3), (2, 5)]) == 2
    assert slope([(5, 1)]) == 0


def test_a_daemon_matching_what_is_published_keeps_up():
    kept_up = step(10, lambda t: 10 * t - 30)  # 3 s behind, steadily
    assert kept_up.matched_per_s == 10
    assert not fell_behind(kept_up)


def test_matching_in_whole_batches_at_the_published_rate_keeps_up():
    # One 64-article batch lands every 6.4 s: the counter is a staircase at 10 a second.
    batches = step(10, lambda t: MATCH_BATCH * (t // 6.4), lambda t: 10 * t)
    assert 9.5 <= batches.matched_per_s <= 10.5
    assert not fell_behind(batches)


def test_matching_under_95_percent_of_the_published_rate_falls_behind():
    assert not fell_behind(step(10, lambda t: 9.6 * t))
    assert fell_behind(step(10, lambda t: 9.4 * t))


def test_a_backlog_that_grows_over_the_step_falls_behind_even_at_the_matched_rate():
    # Articles pile up in the store (ingested runs ahead) while matched keeps the rate:
    # 3 more a second over 60 s is 180 waiting, more than a batch and 5% of 600 published.
    growing = step(10, lambda t: 10 * t, lambda t: 13 * t)
    assert growing.backlog_growth == 180
    assert fell_behind(growing)
    assert not fell_behind(step(10, lambda t: 10 * t, lambda t: 10.5 * t + 40))


def test_a_step_without_two_answered_scrapes_falls_behind():
    assert fell_behind(Step(4, ()))
