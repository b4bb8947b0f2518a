"""Read a server's timing hints: Retry-After, Cache-Control max-age, Expires against Date.

Pure: header values and `now` in, seconds out; no httpx, no clock. The scheduler treats
each figure as a floor on the feed's next poll.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    when = http_date(text)
    return None if when is None else max(0.0, (when - now).total_seconds())


def max_age_seconds(
    cache_control: str, expires: str | None, date: str | None, now: datetime
) -> float | None:
    """How long the server says the answer stays fresh: max-age, else Expires minus Date."""
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age" and value.strip().strip('"').isdigit():
            return float(value.strip().strip('"'))
    if expires is None:
        return None
    expires_at = http_date(expires)
    if expires_at is None:  # RFC 9111 5.3: an invalid Expires means "already stale"
        return 0.0
    # Against the server's own Date, so a skewed server clock does not skew the hint.
    sent_at = http_date(date or "") or now
    return max(0.0, (expires_at - sent_at).total_seconds())


def http_date(text: str) -> datetime | None:
    """An HTTP-date as an aware datetime; None when it does not parse."""
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when  # RFC 9110: GMT
