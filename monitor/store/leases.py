"""Row leases that let several daemons share one PostgreSQL store: due feeds, batches of
articles awaiting analysis, due outbox rows, a subscription's composing and each digest slot.

A lease is an owner (the daemon id) and the time it lapses. A claim takes only rows that
are free, lapsed or already this daemon's (`FOR UPDATE SKIP LOCKED`, or an upsert that
re-checks the lease), so two daemons never hold one row, and the work of a daemon that died
is taken over once its leases lapse. On SQLite (one daemon per file, `StoreLock`) every
claim is granted and nothing is written. Decides no schedule: callers say what is due.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.model import Article, Delivery
from monitor.store.articles import ArticleTables, article_of
from monitor.store.db import iso, marks
from monitor.store.outbox import OutboxTables, delivery_of

DEFAULT_LEASE_S = 120.0
# What each leased table's live work is: a lease on finished work is neither renewed nor
# counted (a matched article keeps its last owner's name, which means nothing any more).
_LEASED = (
    ("feeds", "feed_leases", "TRUE"),
    ("articles", "articles", "matched_at IS NULL AND quarantined_at IS NULL"),
    ("deliveries", "deliveries", "status = 'pending'"),
    ("subscriptions", "subscription_leases", "TRUE"),
    ("digest_slots", "digest_slots", "done_at IS NULL"),
)


def daemon_id() -> str:
    """This process's name in lease rows: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LeaseHolding:
    """How many rows of one kind a daemon holds: `live` leases, and `stale` ones that lapsed
    (a daemon that died or hung; another daemon takes the work over)."""

    owner: str
    kind: str
    live: int
    stale: int


class LeaseTables(ArticleTables, OutboxTables):
    """Claims, renewals and releases of the work rows, by `daemon_id`, for `lease_s`.

    Lease times come from `lease_clock` (the wall clock: a lease is between processes,
    maybe machines, whose clocks NTP keeps together); tests may pass their own.
    """

    def __init__(
        self,
        where: Path | str,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        lease_clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        super().__init__(where)
        self.daemon_id = daemon_id()
        self.lease_s = lease_s
        self.lease_clock = lease_clock
        # Feeds whose lease row exists (rows are never deleted): inserted once, not per claim.
        self._feed_rows: set[str] = set()

    @property
    def shares_work(self) -> bool:
        """Whether several daemons may use this store at once (PostgreSQL): claims matter."""
        return self.dialect.name == "postgresql"

    def _lease(self) -> tuple[str, str, str]:
        """(owner, lapses at, now) of a claim made now."""
        now = self.lease_clock()
        until = iso(now + timedelta(seconds=self.lease_s))
        assert until is not None  # a datetime always has its text
        return self.daemon_id, until, iso(now) or ""

    # --- feeds -------------------------------------------------------------------------

    def claim_feeds(
        self, feed_ids: Iterable[str], now: datetime, *, limit: int | None = None
    ) -> set[str]:
        """The feeds among `feed_ids` this daemon may poll now: due in the store (its next
        poll at or before `now`, or never polled) and not leased by another daemon; at most
        `limit` of them, the longest overdue first."""
        wanted = sorted(set(feed_ids))
        if not self.shares_work or not wanted:
            return set(wanted[:limit])
        owner, until, at = self._lease()
        missing = [feed_id for feed_id in wanted if feed_id not in self._feed_rows]
        if missing:
            with self._transaction() as db:
                # Sorted: two daemons inserting the same ids take their row locks in one order.
                db.executemany(
                    "INSERT INTO feed_leases (feed_id) VALUES (?) ON CONFLICT DO NOTHING",
                    [(feed_id,) for feed_id in missing],
                )
            self._feed_rows.update(missing)
        with self._transaction() as db:
            rows = db.execute(
                "UPDATE feed_leases SET lease_owner = ?, lease_until = ? WHERE feed_id IN ("
                "SELECT lease.feed_id FROM feed_leases AS lease "
                "LEFT JOIN feed_state AS state ON state.feed_id = lease.feed_id "
                f"WHERE lease.feed_id IN ({marks(len(wanted))}) "
                "AND (lease.lease_owner IS NULL OR lease.lease_owner = ? "
                "OR lease.lease_until < ?) "
                "AND (state.next_poll_at IS NULL OR state.next_poll_at <= ?) "
                # Never polled, then the longest overdue: a daemon with room for fewer feeds
                # than are due polls those that waited longest, whichever it was offered.
                "ORDER BY state.next_poll_at NULLS FIRST, lease.feed_id LIMIT ? "
                "FOR UPDATE OF lease SKIP LOCKED) RETURNING feed_id",
                (owner, until, *wanted, owner, at, iso(now), limit or len(wanted)),
            ).fetchall()
        return {str(row["feed_id"]) for row in rows}

    def release_feed(self, feed_id: str) -> None:
        """End this daemon's lease on the feed (its poll is over and its state stored)."""
        if not self.shares_work:
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE feed_leases SET lease_owner = NULL, lease_until = NULL "
                "WHERE feed_id = ? AND lease_owner = ?",
                (feed_id, self.daemon_id),
            )

    # --- the analysis queue -------------------------------------------------------------

    def unmatched_articles(self, limit: int = 500) -> list[Article]:
        """Articles stored but not matched yet, oldest first, never quarantined ones; on a
        shared store only those free or already this daemon's, leased to it as they are read."""
        if not self.shares_work:
            return super().unmatched_articles(limit)
        owner, until, at = self._lease()
        with self._transaction() as db:
            rows = db.execute(
                "UPDATE articles SET lease_owner = ?, lease_until = ? WHERE key IN ("
                "SELECT key FROM articles WHERE matched_at IS NULL AND quarantined_at IS NULL "
                "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) "
                "ORDER BY stored_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING *",
                (owner, until, owner, at, limit),
            ).fetchall()
        rows.sort(key=lambda row: (row["stored_at"], row["key"]))
        return [article_of(row) for row in rows]

    # --- the outbox -----------------------------------------------------------------------

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose attempt is due; on a shared store only those free or
        already this daemon's, leased to it as they are read (sent by it alone)."""
        if not self.shares_work:
            return super().due_deliveries(now, limit)
        owner, until, at = self._lease()
        with self._transaction() as db:
            rows = db.execute(
                "UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id IN ("
                "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
                "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) "
                "ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING *",
                (owner, until, iso(now), owner, at, limit),
            ).fetchall()
        rows.sort(key=lambda row: (row["next_attempt_at"], row["id"]))
        return [delivery_of(row) for row in rows]

    def mark_sent(self, delivery_id: str, now: datetime) -> None:
        """Record the send; on a shared store only while the row is this daemon's (or was
        never leased): a daemon whose lease another took over changes nothing."""
        if not self.shares_work:
            super().mark_sent(delivery_id, now)
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                "last_error = NULL, lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND status = 'pending' AND (lease_owner IS NULL OR lease_owner = ?)",
                (iso(now), delivery_id, self.daemon_id),
            )

    def mark_failed(
        self, delivery_id: str, error: str, *, next_attempt_at: datetime | None
    ) -> None:
        """Count a failed attempt (dead-lettered without a next one); on a shared store only
        while the row is this daemon's, so a late failure never reopens a row sent since."""
        if not self.shares_work:
            super().mark_failed(delivery_id, error, next_attempt_at=next_attempt_at)
            return
        status = "pending" if next_attempt_at is not None else "dead"
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND status = 'pending' AND (lease_owner IS NULL OR lease_owner = ?)",
                (status, error, iso(next_attempt_at), delivery_id, self.daemon_id),
            )

    # --- composing: a subscription at a time, a digest slot once -------------------------

    def claim_subscription(self, subscription_id: str) -> bool:
        """Whether this daemon may compose what `subscription_id` is owed now (no other
        daemon is composing it): what two daemons read as owed would go out twice."""
        if not self.shares_work:
            return True
        return self._claim_row(
            "INSERT INTO subscription_leases VALUES (?, ?, ?) "
            "ON CONFLICT (subscription_id) DO UPDATE SET lease_owner = excluded.lease_owner, "
            "lease_until = excluded.lease_until WHERE subscription_leases.lease_owner IS NULL "
            "OR subscription_leases.lease_owner = excluded.lease_owner "
            "OR subscription_leases.lease_until < ? RETURNING subscription_id",
            (subscription_id,),
        )

    def release_subscription(self, subscription_id: str) -> None:
        if not self.shares_work:
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE subscription_leases SET lease_owner = NULL, lease_until = NULL "
                "WHERE subscription_id = ? AND lease_owner = ?",
                (subscription_id, self.daemon_id),
            )

    def claim_digest_slot(self, subscription_id: str, slot: datetime) -> bool:
        """Whether this daemon composes the digest of `subscription_id` due at `slot`: the
        first to insert the slot's row does, or whoever finds it unfinished and lapsed."""
        if not self.shares_work:
            return True
        return self._claim_row(
            "INSERT INTO digest_slots VALUES (?, ?, ?, ?, NULL) "
            "ON CONFLICT (subscription_id, slot_at) DO UPDATE SET "
            "lease_owner = excluded.lease_owner, lease_until = excluded.lease_until "
            "WHERE digest_slots.done_at IS NULL AND (digest_slots.lease_owner = "
            "excluded.lease_owner OR digest_slots.lease_until < ?) RETURNING subscription_id",
            (subscription_id, iso(slot)),
        )

    def finish_digest_slot(self, subscription_id: str, slot: datetime) -> None:
        """The slot's digest is in the outbox (or was empty): no daemon composes it again."""
        if not self.shares_work:
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE digest_slots SET done_at = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE subscription_id = ? AND slot_at = ?",
                (iso(self.lease_clock()), subscription_id, iso(slot)),
            )

    def _claim_row(self, sql: str, key: tuple[str | None, ...]) -> bool:
        """Run an upsert claim: `key` values, then owner and lapse time, then now."""
        owner, until, at = self._lease()
        with self._transaction() as db:
            return db.execute(sql, (*key, owner, until, at)).fetchone() is not None

    # --- renewal, release and who holds what --------------------------------------------

    def renew_leases(self) -> int:
        """Extend every lease this daemon holds on unfinished work (long polls, batches and
        sends outlive one lease); return how many rows."""
        if not self.shares_work:
            return 0
        owner, until, _ = self._lease()
        renewed = 0
        with self._transaction() as db:
            for _, table, live in _LEASED:
                cursor = db.execute(
                    f"UPDATE {table} SET lease_until = ? WHERE lease_owner = ? AND {live}",
                    (until, owner),
                )
                renewed += cursor.rowcount
        return renewed

    def release_leases(self) -> None:
        """Give back every lease this daemon holds (a clean stop): the others take the work
        at once instead of waiting for the leases to lapse."""
        if not self.shares_work:
            return
        with self._transaction() as db:
            for _, table, live in _LEASED:
                db.execute(
                    f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL "
                    f"WHERE lease_owner = ? AND {live}",
                    (self.daemon_id,),
                )

    def lease_holdings(self, now: datetime) -> list[LeaseHolding]:
        """Per daemon and kind of work, the leases held at `now` and those lapsed."""
        if not self.shares_work:
            return []
        at = iso(now)
        parts = [
            f"SELECT '{kind}' AS kind, lease_owner, "
            "SUM(CASE WHEN lease_until >= ? THEN 1 ELSE 0 END) AS live, "
            "SUM(CASE WHEN lease_until < ? THEN 1 ELSE 0 END) AS stale "
            f"FROM {table} WHERE lease_owner IS NOT NULL AND {live} GROUP BY lease_owner"
            for kind, table, live in _LEASED
        ]
        rows = self._query(" UNION ALL ".join(parts) + " ORDER BY 2, 1", (at, at) * len(_LEASED))
        return [
            LeaseHolding(
                str(row["lease_owner"]), str(row["kind"]), int(row["live"]), int(row["stale"])
            )
            for row in rows
        ]
