"""The daemon's health verdict for /healthz: failing, degraded or ok, and every reason why.

Pure: the facts (polling, store, feed states, rules) and `now` are passed in. Failing means a
supervisor should act (503); degraded means alerts still flow but a human should look (200).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.model import Feed, FeedState
from monitor.schedule import PollingActivity, PollingHealth

# No feed polled successfully for this many × the slowest feed's interval (and never less
# than a minute) means the daemon is running but not watching anything.
SUCCESS_INTERVALS = 3.0
MIN_SUCCESS_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What the service knows at one moment."""

    started_at: datetime
    feeds: Sequence[Feed]
    states: Mapping[str, FeedState]
    polling_problem: str | None
    is_store_writable: bool
    store_path: str
    rules_error: str | None = None
    is_on_snapshot: bool = False


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    status: str  # "ok" | "degraded" | "failing"
    reasons: tuple[str, ...]

    @property
    def is_healthy(self) -> bool:
        return self.status != "failing"


def health_verdict(facts: HealthFacts, now: datetime) -> HealthVerdict:
    """Failing reasons first; degraded reasons only count when nothing is failing."""
    failing = [
        reason
        for reason in (
            facts.polling_problem,
            None
            if facts.is_store_writable
            else f"the store '{facts.store_path}' is not writable (read-only, full or locked)",
            _no_success_problem(facts, now),
        )
        if reason is not None
    ]
    degraded = [reason for reason in (_rules_problem(facts), _feeds_problem(facts)) if reason]
    if failing:
        return HealthVerdict("failing", tuple(failing + degraded))
    if degraded:
        return HealthVerdict("degraded", tuple(degraded))
    return HealthVerdict("ok", ())


def success_window_s(feeds: Sequence[Feed]) -> float:
    """How long the daemon may go without any successful poll."""
    slowest = max((feed.poll_every_s for feed in feeds), default=0)
    return max(SUCCESS_INTERVALS * slowest, MIN_SUCCESS_WINDOW_S)


def _no_success_problem(facts: HealthFacts, now: datetime) -> str | None:
    if not facts.feeds:
        return None
    window_s = success_window_s(facts.feeds)
    if (now - facts.started_at).total_seconds() <= window_s:
        return None  # start-up grace: the first polls are still being spread out
    ids = {feed.id for feed in facts.feeds}
    successes = [
        state.last_success_at
        for feed_id, state in facts.states.items()
        if feed_id in ids and state.last_success_at is not None
    ]
    newest = max(successes, default=None)
    if newest is not None and (now - newest).total_seconds() <= window_s:
        return None
    limit = f"(the limit is 3 × the slowest feed's interval, {window_s:.0f} s)"
    if newest is None:
        return f"no feed has ever been polled successfully since the start {limit}"
    return (
        f"no feed has been polled successfully for {(now - newest).total_seconds():.0f} s {limit}"
    )


def _rules_problem(facts: HealthFacts) -> str | None:
    # The error itself is in the health body's rules_error: said once, not twice.
    if facts.is_on_snapshot:
        return (
            "running on the last good rules saved in the store: "
            "the rules folder does not validate (see rules_error)"
        )
    if facts.rules_error:
        return "the rules on disk do not validate; the running rules are kept (see rules_error)"
    return None


def _feeds_problem(facts: HealthFacts) -> str | None:
    failing = sorted(
        feed.id
        for feed in facts.feeds
        if (state := facts.states.get(feed.id)) is not None and state.error_streak > 0
    )
    if not failing:
        return None
    return f"{len(failing)} of {len(facts.feeds)} feeds failing: {', '.join(failing)}"


def health_body(
    verdict: HealthVerdict,
    facts: HealthFacts,
    polling: PollingHealth,
    activity: PollingActivity,
    *,
    now: datetime,
    polls_in_flight: int,
    rules: int,
) -> dict[str, Any]:
    """The JSON `/healthz` answers with: the verdict, its reasons and the facts behind them."""
    return {
        "status": verdict.status,
        "reasons": list(verdict.reasons),
        "scheduler_alive": polling.is_dispatcher_alive,
        "polling": polling.is_polling,
        "problem": polling.problem,
        "store_writable": facts.is_store_writable,
        "last_dispatch_age_s": _age_s(activity.last_dispatch_at, now),
        "last_poll_age_s": _age_s(activity.last_poll_done_at, now),
        "polls_in_flight": polls_in_flight,
        "rules": rules,
        "rules_error": facts.rules_error,
        "rules_from_snapshot": facts.is_on_snapshot,
    }


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return (now - moment).total_seconds() if moment is not None else None
