"""Decide when things are due: a feed's recorded next poll and the next run of a digest.

Pure: `now` and the random source are passed in, nothing is read from the clock,
the store or the network. Cron expressions are read here so that the rule of
"08:00 in the subscriber's time zone" holds across daylight-saving changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_SEARCH_DAYS = 366 * 5


def is_poll_due(next_poll: datetime | None, now: datetime, *, early_s: float = 0.0) -> bool:
    """Whether a feed whose next poll is `next_poll` is due at `now` (or within `early_s`)."""
    return next_poll is None or next_poll <= now + timedelta(seconds=early_s)


# --- cron ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed 5-field cron expression evaluated in one IANA time zone."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    is_day_restricted: bool
    is_weekday_restricted: bool
    timezone: str

    def next_after(self, after: datetime) -> datetime:
        """The first scheduled instant strictly after `after`, as aware UTC."""
        zone = ZoneInfo(self.timezone)
        local_start = after.astimezone(zone)
        for offset in range(_SEARCH_DAYS):
            day = local_start.date() + timedelta(days=offset)
            if not self._is_day_scheduled(day):
                continue
            for moment in self._moments_on(day, zone):
                if moment > after:
                    return moment
        raise ValueError("cron expression never fires")

    def _is_day_scheduled(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        day_ok = day.day in self.days
        weekday_ok = (day.isoweekday() % 7) in self.weekdays
        # Vixie cron: when both day fields are restricted, either may match.
        if self.is_day_restricted and self.is_weekday_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def _moments_on(self, day: date, zone: ZoneInfo) -> list[datetime]:
        moments: list[datetime] = []
        for hour in sorted(self.hours):
            for minute in sorted(self.minutes):
                local = datetime.combine(day, time(hour, minute), tzinfo=zone)
                as_utc = local.astimezone(UTC)
                # A wall time inside a spring-forward gap does not exist: PEP 495 maps it
                # one offset-step later, so the run still happens once that day. In the
                # repeated autumn hour fold=0 picks the first occurrence only.
                moments.append(as_utc)
        return sorted(set(moments))


def parse_cron(expression: str, timezone: str) -> CronSchedule:
    """Read 'minute hour day-of-month month day-of-week'; raise ValueError naming the field."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"'{expression}' is not a 5-field cron expression")
    names = ("minute", "hour", "day of month", "month", "day of week")
    sets: list[frozenset[int]] = []
    for text, (low, high), name in zip(parts, _FIELD_RANGES, names, strict=True):
        try:
            sets.append(_parse_field(text, low, high, name))
        except ValueError as exc:
            raise ValueError(f"cron '{expression}': {name}: {exc}") from None
    ZoneInfo(timezone)
    return CronSchedule(
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=frozenset(day % 7 for day in sets[4]),
        is_day_restricted=parts[2] != "*",
        is_weekday_restricted=parts[4] != "*",
        timezone=timezone,
    )


def _parse_field(text: str, low: int, high: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    top = 7 if name == "day of week" else high
    for item in text.lower().split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step must be positive in '{item}'")
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, stop = _value(first, name), _value(last, name)
        else:
            start = _value(body, name)
            stop = high if step_text else start
        if not (low <= start <= top and low <= stop <= top) or start > stop:
            raise ValueError(f"'{item}' is outside {low}-{top}")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def _value(text: str, name: str) -> int:
    if name == "month" and text in _MONTH_NAMES:
        return _MONTH_NAMES.index(text) + 1
    if name == "day of week" and text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    if not text.isdigit():
        raise ValueError(f"'{text}' is not a number")
    return int(text)


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    """'every 4h': a digest a fixed time after the previous one."""

    every_s: float

    def next_after(self, after: datetime) -> datetime:
        return after + timedelta(seconds=self.every_s)


DigestSchedule = CronSchedule | IntervalSchedule
_EVERY = re.compile(r"^\s*every\s+(\d+)\s*(m|h|d)\s*$", re.IGNORECASE)
_EVERY_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
MIN_EVERY_S = 60


def parse_schedule(expression: str, timezone: str) -> DigestSchedule:
    """Read a digest schedule: 'every 30m' / 'every 4h' / 'every 1d', or a 5-field cron."""
    found = _EVERY.match(expression)
    if found is None:
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
