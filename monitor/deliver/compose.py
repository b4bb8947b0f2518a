"""Compose what a subscription receives: its rules, one entry per story, the feed-health notes.

Pure: takes stored matches, feed states and the subscription, returns model values.
No store, no clock, no rendering; the pipeline feeds it and passes the result on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.deliver.channels.mime import MailingList
from monitor.model import Article, Digest, DigestEntry, Match, RuleSet, SpikeAlert, Subscription


def rule_ids_for(rules: RuleSet, subscription: Subscription) -> set[str]:
    """Resolve a subscription's rule ids, tags and '*' against the current rules."""
    wanted = set(subscription.rules)
    return {
        rule.id
        for rule in rules.rules
        if "*" in wanted or rule.id in wanted or wanted.intersection(rule.tags)
    }


def mailing_list(subscription: Subscription) -> MailingList:
    """What the subscription's mail says of its list: List-Id phrase, Content-Language."""
    return MailingList(
        subscription_id=subscription.id,
        title=subscription.title,
        language=subscription.language,
    )


def compose_digest(
    subscription: Subscription,
    kind: str,
    found: Sequence[tuple[Article, Sequence[Match]]],
    *,
    feed_titles: Mapping[str, str],
    feed_problems: Sequence[str],
    now: datetime,
    rule_clauses: Sequence[tuple[str, str]] = (),
) -> Digest:
    """A digest (or immediate alert) of `found`, one entry per story, at most max_items."""
    entries = collapse_stories(found, feed_titles)[: subscription.max_items]
    return Digest(
        subscription_id=subscription.id,
        kind=kind,
        created_at=now,
        timezone=subscription.timezone,
        entries=tuple(entries),
        title=subscription.title or subscription.id,
        feed_problems=tuple(feed_problems) if kind == "digest" else (),
        rule_clauses=tuple(rule_clauses),
        language=subscription.language,
    )


def compose_spike(subscription: Subscription, spike: SpikeAlert, *, now: datetime) -> Digest:
    """The spike alert `subscription` receives about `spike` (kind "spike", no entries)."""
    return Digest(
        subscription_id=subscription.id,
        kind="spike",
        created_at=now,
        timezone=subscription.timezone,
        entries=(),
        title=subscription.title or subscription.id,
        language=subscription.language,
        spike=spike,
    )


def collapse_stories(
    found: Sequence[tuple[Article, Sequence[Match]]], feed_titles: Mapping[str, str]
) -> list[DigestEntry]:
    """One entry per story: the earliest copy leads, the other outlets are 'also in'."""
    by_story: dict[str, list[tuple[Article, Sequence[Match]]]] = {}
    for article, matches in found:
        by_story.setdefault(article.story_id or article.key, []).append((article, matches))
    entries: list[DigestEntry] = []
    for copies in by_story.values():
        copies.sort(key=lambda pair: pair[0].published_at)
        lead, matches = copies[0]
        lead_source = feed_titles.get(lead.feed_id, lead.feed_id)
        others = sorted({feed_titles.get(a.feed_id, a.feed_id) for a, _ in copies[1:]})
        entries.append(
            DigestEntry(
                article=lead,
                matches=tuple(sorted(matches, key=match_order)),
                feed_title=lead_source,
                also_in=tuple(other for other in others if other != lead_source),
            )
        )
    entries.sort(
        key=lambda entry: (match_order(entry.matches[0]), -entry.article.published_at.timestamp())
    )
    return entries


def match_order(match: Match) -> tuple[int, float]:
    """Higher priority first, then higher score."""
    return (-int(match.priority), -match.score)


def delivery_id(
    subscription_id: str,
    kind: str,
    channel_position: int,
    article_keys: Sequence[str],
    empty_run_at: datetime | None = None,
) -> str:
    """A stable idempotency key: subscription × kind × channel × article set.

    The same inputs always give the same id, so a retried or re-enqueued delivery
    is recognised by the store and by receivers (Message-ID, webhook-id).
    """
    parts = [subscription_id, kind, str(channel_position), *sorted(article_keys)]
    if empty_run_at is not None:
        parts.append(empty_run_at.isoformat())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
