"""SQL for the delivery outbox: deliveries and their attempts, the delivered ledger
(subscription × story), and when each subscription's digest last ran.

Persists what the outbox and the pipeline decided; never sends and never retries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.model import Delivery, Message, StoryCoverage
from monitor.store.db import Database, iso, parse_time, required_time
from monitor.store.dialect import Row
from monitor.store.follow_ups import record_coverage
from monitor.targets import ChannelTarget, target_from_json, target_to_json

_SAVE_DIGEST_RUN = (
    "INSERT INTO digest_runs VALUES (?, ?) "
    "ON CONFLICT (subscription_id) DO UPDATE SET last_run_at = excluded.last_run_at"
)


class OutboxTables(Database):
    """Deliveries, the delivered ledger and digest runs."""

    def last_digest_at(self, subscription_id: str) -> datetime | None:
        rows = self._query(
            "SELECT last_run_at FROM digest_runs WHERE subscription_id = ?", (subscription_id,)
        )
        return parse_time(rows[0]["last_run_at"]) if rows else None

    def set_last_digest_at(self, subscription_id: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute(_SAVE_DIGEST_RUN, (subscription_id, iso(at)))

    def enqueue(
        self,
        deliveries: Sequence[Delivery],
        story_ids: Iterable[str],
        *,
        digest_run_at: datetime | None = None,
        coverage: Sequence[StoryCoverage] = (),
    ) -> None:
        """Record deliveries and the stories they carry in one transaction (before any send),
        with what each story's sending covered (`coverage`, for follow-ups)."""
        stories = sorted(set(story_ids))
        with self._transaction() as db:
            for delivery in deliveries:
                db.execute(
                    "INSERT INTO deliveries VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL) "
                    "ON CONFLICT DO NOTHING",
                    (
                        delivery.id,
                        delivery.subscription_id,
                        _channel_json(delivery.channel),
                        delivery.message.subject,
                        delivery.message.text,
                        delivery.message.html,
                        delivery.message.payload,
                        json.dumps(list(delivery.article_keys)),
                        iso(delivery.created_at),
                        iso(delivery.next_attempt_at or delivery.created_at),
                    ),
                )
            if deliveries:
                db.executemany(
                    "INSERT INTO delivered VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [(deliveries[0].subscription_id, story, deliveries[0].id) for story in stories],
                )
            if deliveries and coverage:
                record_coverage(
                    db,
                    deliveries[0].subscription_id,
                    deliveries[0].id,
                    coverage,
                    deliveries[0].created_at,
                )
            if digest_run_at is not None and deliveries:
                db.execute(_SAVE_DIGEST_RUN, (deliveries[0].subscription_id, iso(digest_run_at)))

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        rows = self._query(
            "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at LIMIT ?",
            (iso(now), limit),
        )
        return [delivery_of(row) for row in rows]

    def deliveries(self, status: str | None = None) -> list[Delivery]:
        if status is None:
            rows = self._query("SELECT * FROM deliveries ORDER BY created_at")
        else:
            rows = self._query(
                "SELECT * FROM deliveries WHERE status = ? ORDER BY created_at", (status,)
            )
        return [delivery_of(row) for row in rows]

    def delivery(self, delivery_id: str) -> Delivery | None:
        rows = self._query("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return delivery_of(rows[0]) if rows else None

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """Outbox rows by (channel kind, status)."""
        rows = self._query(
            f"SELECT {self.dialect.json_text('channel', 'kind')} AS kind, status, "
            "COUNT(*) AS n FROM deliveries GROUP BY kind, status"
        )
        return {(str(row["kind"]), str(row["status"])): int(row["n"]) for row in rows}

    def mark_sent(self, delivery_id: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE id = ?",
                (iso(now), delivery_id),
            )

    def mark_failed(
        self, delivery_id: str, error: str, *, next_attempt_at: datetime | None
    ) -> None:
        """Count a failed attempt; with no next attempt the delivery is dead-lettered."""
        status = "pending" if next_attempt_at is not None else "dead"
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ? WHERE id = ?",
                (status, error, iso(next_attempt_at), delivery_id),
            )

    def requeue(self, delivery_id: str, now: datetime) -> bool:
        """Put a dead or pending delivery back in line; False when there is no such delivery."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = ? "
                "WHERE id = ? AND status != 'sent'",
                (iso(now), delivery_id),
            )
            return cursor.rowcount > 0


def _channel_json(channel: ChannelTarget) -> str:
    # Secrets stay in config/environment (target_to_json leaves them out): the outbox looks
    # them up at send time, and apprise URLs arrive here already redacted.
    return json.dumps(target_to_json(channel))


def delivery_of(row: Row) -> Delivery:
    """The delivery a row of the `deliveries` table holds."""
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        # Rows written before the typed targets (flat "email_to", "webhook_url", …) read too.
        channel=target_from_json(json.loads(row["channel"])),
        message=Message(
            subject=row["subject"],
            text=row["text"],
            html=row["html"],
            payload=bytes(row["payload"]),
        ),
        article_keys=tuple(json.loads(row["article_keys"])),
        created_at=required_time(row["created_at"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=parse_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        sent_at=parse_time(row["sent_at"]),
    )
