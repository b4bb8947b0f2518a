"""When things are due, with `now` passed in: which feeds to poll (rhythm, backoff, hints,
first-poll spread), when digests run (cron through croniter), feed-health verdicts, and
when a story already sent is due a follow-up. Pure.
"""

from monitor.cron import is_digest_due, parse_schedule
from monitor.schedule.follow_up import (
    FOLLOW_UP_WINDOW,
    FollowUpDue,
    actor_ids,
    follow_up_due,
)
from monitor.schedule.health import (
    PollingActivity,
    PollingHealth,
    coverage_gap,
    health_report,
    polling_health,
)
from monitor.schedule.polling import (
    PollPolicy,
    clamp_next_polls,
    due_at,
    due_feeds,
    moved_url,
    plan_first_polls,
    state_after_failure,
    state_after_new_interval,
    state_after_success,
)

__all__ = [
    "FOLLOW_UP_WINDOW",
    "FollowUpDue",
    "PollPolicy",
    "PollingActivity",
    "PollingHealth",
    "actor_ids",
    "clamp_next_polls",
    "coverage_gap",
    "due_at",
    "due_feeds",
    "follow_up_due",
    "health_report",
    "is_digest_due",
    "moved_url",
    "parse_schedule",
    "plan_first_polls",
    "polling_health",
    "state_after_failure",
    "state_after_new_interval",
    "state_after_success",
]
