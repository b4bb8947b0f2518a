"""schedule: public face."""

from monitor.schedule.cron import is_digest_due, is_poll_due, parse_schedule
from monitor.schedule.polling import (
    PollPolicy,
    coverage_gap,
    health_report,
    state_after_failure,
    state_after_success,
)

__all__ = [
    "PollPolicy",
    "coverage_gap",
    "health_report",
    "is_digest_due",
    "is_poll_due",
    "parse_schedule",
    "state_after_failure",
    "state_after_success",
]
