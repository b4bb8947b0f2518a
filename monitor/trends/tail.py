"""Upper tail probabilities of count distributions: how surprising a count is.

Poisson for counts as regular as news volume usually is, negative binomial when the
baseline varies more than a Poisson allows (over-dispersion). Pure arithmetic, stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# log pmf(k+1) - log pmf(k), as a function of k.
_Step = Callable[[int], float]
# Summing stops once a term adds less than this share of the tail found so far.
_PRECISION = 1e-12


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    # Summed upward from `count` in log space: 1 - CDF would round a 1e-20 tail to 0.
    log_term = count * math.log(mean) - mean - math.lgamma(count + 1)
    return _sum_upward(log_term, lambda k: math.log(mean) - math.log(k + 1), count, mean)


def negative_binomial_tail(count: int, mean: float, variance: float) -> float:
    """P(X >= count) for a negative binomial with this mean and variance (variance > mean)."""
    if variance <= mean:
        return poisson_tail(count, mean)
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    p = mean / variance  # success probability
    r = mean * mean / (variance - mean)  # shape
    log_term = (
        math.lgamma(count + r)
        - math.lgamma(r)
        - math.lgamma(count + 1)
        + r * math.log(p)
        + count * math.log1p(-p)
    )
    return _sum_upward(
        log_term,
        lambda k: math.log(k + r) - math.log(k + 1) + math.log1p(-p),
        count,
        mean,
    )


def _sum_upward(log_first: float, log_step: _Step, start: int, mean: float) -> float:
    """Σ pmf(k) for k >= start, from log pmf(start) and log pmf(k+1)/pmf(k)."""
    if start <= mean:
        # Near or below the mean the tail is large and the terms still grow: sum down to 0.
        return min(1.0, 1.0 - _sum_below(log_first, log_step, start))
    total = 0.0
    log_term = log_first
    k = start
    while True:
        term = math.exp(log_term)
        total += term
        if term <= total * _PRECISION or term == 0.0:
            return min(1.0, total)
        log_term += log_step(k)
        k += 1


def _sum_below(log_at_start: float, log_step: _Step, start: int) -> float:
    """Σ pmf(k) for 0 <= k < start, walking down from pmf(start)."""
    total = 0.0
    log_term = log_at_start
    for k in range(start - 1, -1, -1):
        log_term -= log_step(k)  # pmf(k) = pmf(k+1) / (pmf(k+1)/pmf(k))
        total += math.exp(log_term)
    return total
