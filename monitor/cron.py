"""When a digest is due: 5-field cron expressions (read by croniter) and 'every 4h' intervals.

A base module, so that the config loader checks a schedule with the very reader the
scheduler runs it with. Pure: `now` is passed in, nothing is read from the clock, the store
or the network. croniter computes the runs; this module adds what it leaves out, so that
"08:00 in the subscriber's time zone" holds across daylight-saving changes (see
`CronSchedule`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

# Each field's name and what it accepts, for messages that say which field is wrong.
CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day of week", "0-7 or sun-sat"),
)
# A repeated autumn hour is at most two hours long anywhere (Antarctica/Troll); skipping
# its second pass minute by minute takes at most this many steps.
_MAX_REPEATED_RUNS = 2 * 60


def _is_second_pass(local: datetime) -> bool:
    """Whether `local` is the second occurrence of a wall time repeated by a DST change."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A 5-field cron expression evaluated in one IANA time zone.

    Day of month and day of week combine with OR when both are restricted (Vixie cron).
    A wall time skipped by a spring-forward change runs once, at the first valid instant
    after it; a wall time repeated by a fall-back change runs once, at its first
    occurrence (croniter alone would run it twice).
    """

    expression: str
    timezone: str

    def next_after(self, after: datetime) -> datetime:
        """The first scheduled instant strictly after `after`, as aware UTC."""
        zone = ZoneInfo(self.timezone)
        runs = croniter(self.expression, after.astimezone(zone), day_or=True)
        for _ in range(_MAX_REPEATED_RUNS + 1):
            try:
                moment: datetime = runs.get_next(datetime)
            except CroniterBadDateError:
                raise ValueError(f"cron '{self.expression}' never fires") from None
            if not _is_second_pass(moment.astimezone(zone)):
                return moment.astimezone(UTC)
        raise ValueError(f"cron '{self.expression}': no run outside a repeated hour")


def parse_cron(expression: str, timezone: str) -> CronSchedule:
    """Read 'minute hour day-of-month month day-of-week'; raise ValueError naming the field."""
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise ValueError(
            f"'{expression}' is not a 5-field cron expression "
            "(minute hour day-of-month month day-of-week)"
        )
    for index, (name, allowed) in enumerate(CRON_FIELDS):
        probe = ["*"] * len(CRON_FIELDS)
        probe[index] = parts[index]
        if not croniter.is_valid(" ".join(probe)):
            raise ValueError(
                f"cron '{expression}': {name}: '{parts[index]}' is not valid "
                f"(use {allowed}, lists, ranges and steps)"
            )
    if not croniter.is_valid(expression):
        raise ValueError(f"cron '{expression}' is not a valid cron expression")
    schedule = CronSchedule(expression, timezone)
    # A schedule that loads also runs: "0 8 31 2 *" (31 February) is refused here.
    schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    return schedule


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    """'every 4h': a digest a fixed time after the previous one."""

    every_s: float

    def next_after(self, after: datetime) -> datetime:
        return after + timedelta(seconds=self.every_s)


DigestSchedule = CronSchedule | IntervalSchedule
EVERY = re.compile(r"^\s*every\s+(\d+)\s*(m|h|d)\s*$", re.IGNORECASE)
_EVERY_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
MIN_EVERY_S = 60


def parse_schedule(expression: str, timezone: str) -> DigestSchedule:
    """Read a digest schedule: 'every 30m' / 'every 4h' / 'every 1d', or a 5-field cron."""
    found = EVERY.match(expression)
    if found is None:
        if expression.strip().lower().startswith("every"):
            raise ValueError(f"'{expression}': write 'every' then a number and m, h or d")
        return parse_cron(expression, timezone)
    every_s = int(found.group(1)) * _EVERY_UNIT_S[found.group(2).lower()]
    if every_s < MIN_EVERY_S:
        raise ValueError(f"'{expression}': a digest runs at most every minute")
    return IntervalSchedule(float(every_s))


def is_digest_due(cron: DigestSchedule, last_run_at: datetime | None, now: datetime) -> bool:
    """Whether a digest is due now.

    A subscription seen for the first time is not due: the caller records `now`
    as its start, so a new daily digest waits for its next 08:00 rather than
    firing at start-up. Runs missed while the daemon was down collapse into one.
    """
    if last_run_at is None:
        return False
    return cron.next_after(last_run_at) <= now
