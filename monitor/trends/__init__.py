"""Counts over time per rule: spike detection (a rule's window against its usual count, with
a tail test and a cool-down) and the daily trend digests and the rule page draw. Pure: no
store, no clock; the pipeline passes in the story times and `now`.
"""

from monitor.trends.daily import TREND_DAYS, daily_trend, trend_start
from monitor.trends.detect import SpikeCheck, StoryHit, baseline_windows, check_spike
from monitor.trends.tail import negative_binomial_tail, poisson_tail

__all__ = [
    "TREND_DAYS",
    "SpikeCheck",
    "StoryHit",
    "baseline_windows",
    "check_spike",
    "daily_trend",
    "negative_binomial_tail",
    "poisson_tail",
    "trend_start",
]
