"""SQL for the feeds: their polling state, their publication rhythm, coverage gaps, and
the webhook endpoints that answered 410 Gone.

Persists what the schedule decided; never decides when a feed is due or failing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from monitor.logs import redact
from monitor.model import FeedState
from monitor.store.db import Database, iso, marks, parse_time, required_time, sha256
from monitor.store.dialect import Row

# How many recent publication times describe a feed's rhythm.
RECENT_PUBLISHED = 20
# The `feed_state` columns a save writes, the key first.
_STATE_COLUMNS = (
    "feed_id",
    "etag",
    "last_modified",
    "body_sha256",
    "last_polled_at",
    "last_success_at",
    "last_error",
    "last_error_at",
    "error_streak",
    "next_poll_at",
    "moved_from",
    "moved_to",
    "ttl_s",
)
_SAVE_STATE = (
    f"INSERT INTO feed_state ({', '.join(_STATE_COLUMNS)}) "
    f"VALUES ({marks(len(_STATE_COLUMNS))}) ON CONFLICT (feed_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _STATE_COLUMNS[1:])
)


class FeedTables(Database):
    """Feed state, rhythm, coverage gaps and gone endpoints."""

    def feed_state(self, feed_id: str) -> FeedState | None:
        rows = self._query("SELECT * FROM feed_state WHERE feed_id = ?", (feed_id,))
        return _feed_state(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        return [_feed_state(row) for row in self._query("SELECT * FROM feed_state ORDER BY 1")]

    def feed_states_of(self, feed_ids: Iterable[str]) -> dict[str, FeedState]:
        """The stored states of these feeds (those never polled are absent), in one read."""
        wanted = sorted(set(feed_ids))
        if not wanted:
            return {}
        rows = self._query(
            f"SELECT * FROM feed_state WHERE feed_id IN ({marks(len(wanted))})", wanted
        )
        return {str(row["feed_id"]): _feed_state(row) for row in rows}

    def save_feed_state(self, state: FeedState) -> None:
        """Replace the feed's state; committed atomically, without waiting for the disk."""
        with self._transaction(durable=False) as db:
            db.execute(
                _SAVE_STATE,
                (
                    state.feed_id,
                    state.etag,
                    state.last_modified,
                    state.body_sha256,
                    iso(state.last_polled_at),
                    iso(state.last_success_at),
                    # A fetch error quotes the feed URL, credentials and all.
                    redact(state.last_error) if state.last_error else None,
                    iso(state.last_error_at),
                    state.error_streak,
                    iso(state.next_poll_at),
                    state.moved_from,
                    state.moved_to,
                    state.ttl_s,
                ),
            )

    def recent_published(self, feed_id: str, limit: int = RECENT_PUBLISHED) -> list[datetime]:
        """Publication times of the feed's newest stored articles (its rhythm)."""
        rows = self._query(
            "SELECT published_at FROM articles WHERE feed_id = ? "
            "ORDER BY published_at DESC LIMIT ?",
            (feed_id, limit),
        )
        return [required_time(row["published_at"]) for row in rows]

    def recent_published_by_feed(
        self, feed_ids: Iterable[str], limit: int = RECENT_PUBLISHED
    ) -> dict[str, list[datetime]]:
        """`recent_published` for many feeds in one query, newest first per feed.

        Feeds without stored articles are absent from the result.
        """
        wanted = sorted(set(feed_ids))
        if not wanted:
            return {}
        rows = self._query(self.dialect.newest_published_per_feed, (json.dumps(wanted), limit))
        found: dict[str, list[datetime]] = {}
        for row in rows:
            found.setdefault(str(row["feed_id"]), []).append(required_time(row["published_at"]))
        return found

    def record_coverage_gap(
        self, feed_id: str, gap: tuple[datetime, datetime], now: datetime
    ) -> None:
        """Remember a window in which a failing feed may have dropped articles."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO coverage_gaps VALUES (?, ?, ?, ?) ON CONFLICT (feed_id, gap_from) "
                "DO UPDATE SET gap_to = excluded.gap_to, recorded_at = excluded.recorded_at",
                (feed_id, iso(gap[0]), iso(gap[1]), iso(now)),
            )

    def coverage_gaps(self, since: datetime) -> list[tuple[str, datetime, datetime]]:
        rows = self._query(
            "SELECT * FROM coverage_gaps WHERE recorded_at >= ? ORDER BY recorded_at",
            (iso(since),),
        )
        return [
            (str(row["feed_id"]), required_time(row["gap_from"]), required_time(row["gap_to"]))
            for row in rows
        ]

    # --- endpoints that said 410 Gone ------------------------------------------

    def record_gone_endpoint(self, url: str, display: str, error: str, now: datetime) -> None:
        """Remember that `url` answered 410: nothing more is sent to it until it changes."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO gone_endpoints VALUES (?, ?, ?, ?) ON CONFLICT (url_sha256) "
                "DO UPDATE SET display = excluded.display, gone_at = excluded.gone_at, "
                "error = excluded.error",
                (sha256(url), display, iso(now), error),
            )

    def gone_endpoints(self) -> list[dict[str, str]]:
        rows = self._query("SELECT * FROM gone_endpoints ORDER BY gone_at")
        return [
            {
                "url_sha256": row["url_sha256"],
                "display": row["display"],
                "gone_at": row["gone_at"],
                "error": row["error"],
            }
            for row in rows
        ]

    def is_gone(self, url: str) -> bool:
        return bool(
            self._query("SELECT 1 FROM gone_endpoints WHERE url_sha256 = ?", (sha256(url),))
        )


def _feed_state(row: Row) -> FeedState:
    return FeedState(
        feed_id=row["feed_id"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_sha256=row["body_sha256"],
        last_polled_at=parse_time(row["last_polled_at"]),
        last_success_at=parse_time(row["last_success_at"]),
        last_error=row["last_error"],
        last_error_at=parse_time(row["last_error_at"]),
        error_streak=row["error_streak"],
        next_poll_at=parse_time(row["next_poll_at"]),
        moved_from=row["moved_from"],
        moved_to=row["moved_to"],
        ttl_s=row["ttl_s"],
    )
