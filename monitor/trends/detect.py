"""Decide whether a rule's latest window is a surge: its count against the same windows
over the baseline period, a tail test, a minimum count, outlets and ratio, the cool-down.

Pure: takes the rule's story times and `now`, returns a `SpikeCheck`. No store, no clock
(see docs/rules.md#spike for the reasoning and the defaults).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.model import SpikeSettings
from monitor.trends.tail import negative_binomial_tail, poisson_tail

DAY_S = 86400
# Below this the usual count is taken as this: a rule that matched nothing for weeks still
# needs a few stories, not one, to look surprising (and the ratio stays finite).
MIN_EXPECTED = 0.5
# The baseline varies more than a Poisson allows past this variance/mean: use a negative
# binomial, whose wider tail keeps a bursty rule from firing on its ordinary bursts.
OVERDISPERSION = 1.5
# Fewer baseline windows than this with history behind them and the rule is still learning.
MIN_BASELINE_WINDOWS = 3

__all__ = ["DAY_S", "SpikeCheck", "StoryHit", "baseline_windows", "check_spike"]


@dataclass(frozen=True, slots=True)
class StoryHit:
    """One distinct story a rule matched in one outlet: when it was published, and where."""

    story_id: str
    feed_id: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class SpikeCheck:
    """What one check of a rule found, and whether it fires now."""

    count: int  # distinct stories in the window
    outlets: int  # distinct feeds carrying them
    expected: float  # the mean count of the baseline windows
    spread: float  # their standard deviation
    tail: float  # P(count or more | the baseline)
    state: str  # "quiet" | "learning" | "surge" | "cooling"
    fires: bool  # a new spike alert goes out now

    @property
    def ratio(self) -> float:
        return self.count / max(self.expected, MIN_EXPECTED)


def baseline_windows(settings: SpikeSettings, now: datetime) -> list[tuple[datetime, datetime]]:
    """The windows the current one is compared with, newest first.

    A window shorter than a day is compared with the same hours of the previous days, so the
    usual morning peak is not a surge; a longer one with the windows just before it.
    """
    window = timedelta(seconds=settings.window_s)
    step = timedelta(seconds=DAY_S if settings.window_s < DAY_S else settings.window_s)
    count = max(1, int(settings.baseline_s // step.total_seconds()))
    ends = [now - step * index for index in range(1, count + 1)]
    return [(end - window, end) for end in ends]


def check_spike(
    hits: Sequence[StoryHit],
    settings: SpikeSettings,
    now: datetime,
    *,
    history_since: datetime | None,
    last_fired_at: datetime | None,
) -> SpikeCheck:
    """Test the window ending at `now` against the baseline.

    `hits` are the rule's story hits over the baseline and the window (later ones count in
    the window: a clock ahead is not a reason to miss a surge); `history_since` is when the
    store's oldest article was published (None: no history at all).
    """
    start = now - timedelta(seconds=settings.window_s)
    current = [hit for hit in hits if hit.published_at >= start]
    count = len({hit.story_id for hit in current})
    outlets = len({hit.feed_id for hit in current})
    windows = [
        (low, high)
        for low, high in baseline_windows(settings, now)
        if history_since is not None and low >= history_since
    ]
    samples = [_stories_between(hits, low, high) for low, high in windows]
    expected = sum(samples) / len(samples) if samples else 0.0
    variance = sum((n - expected) ** 2 for n in samples) / len(samples) if samples else 0.0
    tail = _tail(count, max(expected, MIN_EXPECTED), variance)
    is_surge = (
        count >= settings.min_count
        and outlets >= settings.min_outlets
        and count >= settings.min_ratio * max(expected, MIN_EXPECTED)
        and tail < settings.sensitivity
    )
    is_cooling = last_fired_at is not None and now < last_fired_at + timedelta(
        seconds=settings.cooldown_s
    )
    if len(samples) < MIN_BASELINE_WINDOWS:
        state = "learning"
    elif is_cooling:
        state = "cooling"
    else:
        state = "surge" if is_surge else "quiet"
    return SpikeCheck(
        count=count,
        outlets=outlets,
        expected=expected,
        spread=math.sqrt(variance),
        tail=tail,
        state=state,
        fires=state == "surge",
    )


def _stories_between(hits: Sequence[StoryHit], low: datetime, high: datetime) -> int:
    return len({hit.story_id for hit in hits if low <= hit.published_at < high})


def _tail(count: int, expected: float, variance: float) -> float:
    if variance > OVERDISPERSION * expected:
        return negative_binomial_tail(count, expected, variance)
    return poisson_tail(count, expected)
