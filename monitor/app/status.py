"""What `monitor status` shows: whether a daemon runs, feeds' health, subscriptions' next
runs (in their own time zone), the rule files on disk, spike rules and event stories, the
rules analysts judge worst, quarantined articles, the outbox.

Reads the store and the running configuration; changes nothing. Kept apart from
the CLI so that the health endpoint can serve the same facts. Every URL and error it
shows passes through `redact`: a status is pasted into tickets and chats.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.app.lock import StoreLock
from monitor.app.story_status import story_lines, story_report
from monitor.config import Config
from monitor.deliver import rule_ids_for
from monitor.logs import redact
from monitor.model import RuleSet
from monitor.pipeline import Pipeline
from monitor.rules import rule_errors, rule_files
from monitor.schedule import moved_url, parse_schedule
from monitor.store import Store
from monitor.web import PrecisionLine

# A rule is ranked by its feedback precision only from this many votes: below it, one
# unlucky vote would put a good rule at the top of the list.
MIN_VOTES = 5
WORST_RULES = 5


def collect_status(
    config: Config, pipeline: Pipeline, store: Store, now: datetime
) -> dict[str, Any]:
    """A JSON-ready picture of the daemon's state."""
    states = {state.feed_id: state for state in store.feed_states()}
    feeds = []
    for feed in config.feeds:
        state = states.get(feed.id)
        feeds.append(
            {
                "id": feed.id,
                "url": redact(feed.url),
                "last_success_at": state.last_success_at if state else None,
                "last_error": _redacted(state.last_error if state else None),
                "last_error_at": state.last_error_at if state else None,
                "error_streak": state.error_streak if state else 0,
                "next_poll_at": state.next_poll_at if state else None,
                "moved_to": _redacted(moved_url(feed, state)),
            }
        )
    subscriptions = []
    for subscription in config.subscriptions:
        next_digest = None
        if subscription.schedule:
            cron = parse_schedule(subscription.schedule, subscription.timezone)
            last = store.last_digest_at(subscription.id) or now
            next_digest = cron.next_after(last)
        local = next_digest.astimezone(ZoneInfo(subscription.timezone)) if next_digest else None
        subscriptions.append(
            {
                "id": subscription.id,
                "immediate": subscription.immediate.label if subscription.immediate else None,
                "schedule": subscription.schedule,
                "timezone": subscription.timezone,
                "next_digest_at": next_digest,
                "next_digest_local": local,
                "rules": sorted(rule_ids_for(pipeline.rules, subscription)),
            }
        )
    health = pipeline.deliverer.feed_health(now)
    quarantined = store.quarantined()
    pending = store.deliveries("pending")
    dead = store.deliveries("dead")
    return {
        "generated_at": now,
        "daemon": _daemon(config, store, now),
        "feeds": feeds,
        "feed_health": health,
        "subscriptions": subscriptions,
        "outbox": {
            "pending": [_delivery_row(delivery) for delivery in pending],
            "dead": [_delivery_row(delivery) for delivery in dead],
            "sent": len(store.deliveries("sent")),
            "gone_endpoints": store.gone_endpoints(),
        },
        "analysis": {
            "quarantined": quarantined.count,
            "last_error": _redacted(quarantined.last_error),
            "last_article_key": quarantined.last_article_key,
        },
        "spikes": spike_rows(pipeline, store, now),
        "stories": story_report(store, config.stories, now),
        "rules": {
            **_rule_file_health(config.rules_dir),
            "count": len(pipeline.rules.rules),
            "loaded_at": store.notes().get("rules_loaded_at"),
            "error": _redacted(store.notes().get("rules_error")),
            "snapshot_saved_at": store.notes().get("rules_snapshot"),
        },
        "feedback": _feedback_ranking(store, pipeline.rules),
    }


def _feedback_ranking(store: Store, rules: RuleSet) -> dict[str, Any]:
    """The rules with the worst measured precision (from MIN_VOTES votes), with counts."""
    tallies = store.feedback_tallies()
    names = {rule.id: rule.name for rule in rules.rules}
    ranked = sorted(
        (tally.precision or 0.0, -tally.votes, rule_id, tally)
        for rule_id, tally in tallies.items()
        if tally.votes >= MIN_VOTES
    )
    return {
        "min_votes": MIN_VOTES,
        "votes": sum(tally.votes for tally in tallies.values()),
        "rules_with_votes": len(tallies),
        "worst_rules": [
            {
                "rule_id": rule_id,
                "rule_name": names.get(rule_id, ""),
                "relevant": tally.relevant,
                "not_relevant": tally.not_relevant,
                "votes": tally.votes,
                "precision": tally.precision,
            }
            for _, _, rule_id, tally in ranked[:WORST_RULES]
        ],
        "unranked_rules": len(tallies) - len(ranked),
    }


def _daemon(config: Config, store: Store, now: datetime) -> dict[str, Any]:
    """Whether a daemon holds the SQLite store's lock; on PostgreSQL, which has no daemon
    lock, running is None (not known from here) and `leases` lists, per daemon id, the work
    it holds by kind and its lapsed (`stale`) leases: a daemon that died or hangs."""
    if config.store_path is None:
        return {"running": None, "pid": None, "leases": lease_rows(store, now)}
    pid = StoreLock(config.store_path).holder()
    return {"running": pid is not None, "pid": pid}


LEASE_KINDS = ("feeds", "articles", "deliveries", "subscriptions", "digest_slots")


def lease_rows(store: Store, now: datetime) -> list[dict[str, Any]]:
    """One row per daemon id holding leases on a shared store: live counts and stale ones."""
    rows: dict[str, dict[str, Any]] = {}
    for holding in store.lease_holdings(now):
        row = rows.setdefault(
            holding.owner, {"daemon_id": holding.owner, **dict.fromkeys(LEASE_KINDS, 0), "stale": 0}
        )
        row[holding.kind] += holding.live
        row["stale"] += holding.stale
    return list(rows.values())


def spike_rows(pipeline: Pipeline, store: Store, now: datetime) -> list[dict[str, Any]]:
    """Each spike rule's last check: its state now, its count against the usual one."""
    states = store.spike_states()
    rows = []
    for rule in pipeline.rules.rules:
        if rule.spike is None:
            continue
        state = states.get(rule.id)
        rows.append(
            {
                "rule": rule.id,
                "state": effective_spike_state(state.state, state.quiet_until, now)
                if state
                else "unchecked",
                "count": state.count if state else None,
                "outlets": state.outlets if state else None,
                "expected": round(state.expected, 2) if state else None,
                "spread": round(state.spread, 2) if state else None,
                "checked_at": state.checked_at if state else None,
                "last_fired_at": state.last_fired_at if state else None,
                "quiet_until": state.quiet_until if state else None,
            }
        )
    return rows


def effective_spike_state(state: str, quiet_until: datetime | None, now: datetime) -> str:
    """A cool-down that has run out is quiet again, whenever the rule was last checked."""
    if state == "cooling" and (quiet_until is None or quiet_until <= now):
        return "quiet"
    return state


def _rule_file_health(folder: Path) -> dict[str, Any]:
    """How many rule files the folder holds, and which of them (or actors.yaml) are broken."""
    errors = rule_errors(folder)
    broken = sorted({error.path for error in errors if error.path})
    files = [str(path) for path in rule_files(folder)]
    return {
        "files": len(files),
        "valid_files": len([path for path in files if path not in broken]),
        "broken_files": broken,
        "errors": [_redacted(str(error)) for error in errors],
    }


def _redacted(text: str | None) -> str | None:
    return redact(text) if text is not None else None


def _delivery_row(delivery: Any) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "subscription": delivery.subscription_id,
        "channel": delivery.channel.kind,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_error": _redacted(delivery.last_error),
        "subject": delivery.message.subject,
    }


def format_status(report: dict[str, Any]) -> str:
    """The status as aligned plain-text tables."""
    daemon = report["daemon"]
    lines = [
        f"DAEMON  running (pid {daemon['pid']})"
        if daemon["running"]
        else "DAEMON  not known (a PostgreSQL store has no daemon lock)"
        if daemon["running"] is None
        else "DAEMON  not running (no process holds the store lock)",
    ]
    if daemon.get("leases"):
        lines += ["", "LEASES (work each daemon holds; stale: lapsed, another daemon takes it)"]
        lines += _table(
            ["daemon", *LEASE_KINDS, "stale"],
            [
                [row["daemon_id"], *(str(row[kind]) for kind in (*LEASE_KINDS, "stale"))]
                for row in daemon["leases"]
            ],
        )
    lines += ["", "FEEDS"]
    lines += _table(
        ["feed", "last success", "streak", "next poll", "last error"],
        [
            [
                feed["id"],
                _when(feed["last_success_at"]),
                str(feed["error_streak"]),
                _when(feed["next_poll_at"]),
                (feed["last_error"] or "")[:80],
            ]
            for feed in report["feeds"]
        ],
    )
    lines += [f"  ! {line}" for line in report["feed_health"]]
    lines += [
        f"  ! feed '{feed['id']}' moved permanently to {feed['moved_to']}: polled there now; "
        "update its url in the config"
        for feed in report["feeds"]
        if feed["moved_to"]
    ]
    lines += ["", "SUBSCRIPTIONS"]
    lines += _table(
        ["subscription", "immediate", "schedule", "next digest", "rules"],
        [
            [
                sub["id"],
                sub["immediate"] or "-",
                f"{sub['schedule']} {sub['timezone']}" if sub["schedule"] else "-",
                _local_when(sub["next_digest_local"], sub["next_digest_at"]),
                ", ".join(sub["rules"]) or "(none)",
            ]
            for sub in report["subscriptions"]
        ],
    )
    rules = report["rules"]
    lines += [
        "",
        f"RULES  {rules['valid_files']} of {rules['files']} rule files valid on disk; "
        f"the daemon loaded its rules at {rules['loaded_at'] or '-'}",
    ]
    lines += [f"  broken: {path}" for path in rules["broken_files"]]
    if rules["snapshot_saved_at"]:
        lines.append(
            "  the daemon started on the last good rules saved in the store at "
            f"{rules['snapshot_saved_at']}, because the rules folder does not validate:"
        )
    elif rules["error"]:
        lines.append("  the daemon kept its last good rules because of:")
    if rules["error"]:
        lines += [f"  {line}" for line in str(rules["error"]).splitlines()]
    if report["spikes"]:
        lines += ["", "SPIKES"]
        lines += _table(
            ["rule", "state", "last count", "usually", "last fired", "quiet until"],
            [
                [
                    row["rule"],
                    row["state"],
                    "-" if row["count"] is None else f"{row['count']} ({row['outlets']} outlets)",
                    "-" if row["expected"] is None else f"{row['expected']:g} ± {row['spread']:g}",
                    _when(row["last_fired_at"]),
                    _when(row["quiet_until"]),
                ]
                for row in report["spikes"]
            ],
        )
    lines += story_lines(report["stories"], _table, _when)
    lines += _feedback_lines(report["feedback"])
    analysis = report["analysis"]
    lines += ["", f"ANALYSIS  quarantined: {analysis['quarantined']}"]
    if analysis["quarantined"]:
        lines += [
            f"  last: {analysis['last_article_key']}  {(analysis['last_error'] or '')[:120]}",
            "  their analysis failed repeatedly; `monitor rematch --since` retries them",
        ]
    outbox = report["outbox"]
    lines += [
        "",
        f"OUTBOX  sent: {outbox['sent']}  pending: {len(outbox['pending'])}  "
        f"dead: {len(outbox['dead'])}",
    ]
    for gone in outbox["gone_endpoints"]:
        lines.append(
            f"  webhook {gone['display']} answered 410 Gone at {gone['gone_at']}: disabled "
            "until its URL changes in the config"
        )
    for row in outbox["pending"] + outbox["dead"]:
        lines.append(
            f"  {row['id'][:12]}  {row['subscription']}  {row['channel']}  "
            f"attempts={row['attempts']}  {row['last_error'] or ''}"
        )
    return "\n".join(lines)


def _feedback_lines(feedback: dict[str, Any]) -> list[str]:
    if not feedback["votes"]:
        return ["", "FEEDBACK  no vote yet (mark matches relevant or not in the workspace)"]
    lines = [
        "",
        f"FEEDBACK  {feedback['votes']} votes on {feedback['rules_with_votes']} rules; "
        f"worst precision among rules with at least {feedback['min_votes']} votes:",
    ]
    rows = [
        [
            row["rule_id"],
            f"{PrecisionLine('', row['relevant'], row['not_relevant']).percent} %",
            str(row["relevant"]),
            str(row["not_relevant"]),
            str(row["votes"]),
        ]
        for row in feedback["worst_rules"]
    ]
    if rows:
        header = ["rule", "precision", "relevant", "not relevant", "votes"]
        lines += ["  " + line for line in _table(header, rows)]
    else:
        lines.append("  (none yet)")
    if feedback["unranked_rules"]:
        lines.append(f"  {feedback['unranked_rules']} rules with fewer votes are not ranked yet")
    return lines


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _local_when(local: datetime | None, utc: datetime | None) -> str:
    """'2026-06-02 08:00 CEST (06:00Z)': the subscriber's clock first."""
    if local is None or utc is None:
        return "-"
    return f"{local.strftime('%Y-%m-%d %H:%M %Z')} ({utc.strftime('%H:%MZ')})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
