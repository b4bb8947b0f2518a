"""Compose what a subscription receives: its rules, one entry per story, the feed-health notes.

Pure: takes stored matches, feed states and the subscription, returns model values.
No store, no clock, no rendering; the pipeline feeds it and passes the result on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from monitor.deliver.channels.mime import MailingList
from monitor.model import (
    Article,
    Developing,
    Digest,
    DigestEntry,
    Match,
    RuleSet,
    SpikeAlert,
    StoryCopy,
    Subscription,
)


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
    developing: Sequence[DigestEntry] = (),
) -> Digest:
    """A digest (or immediate alert) of `found`, one entry per story, at most max_items;
    `developing` are follow-ups of stories already sent (`developing_entry`)."""
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
        developing=tuple(developing[: subscription.max_items]),
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
    entries = [story_entry(copies, feed_titles) for copies in by_story.values()]
    entries.sort(
        key=lambda entry: (match_order(entry.matches[0]), -entry.article.published_at.timestamp())
    )
    return entries


def story_entry(
    copies: Sequence[tuple[Article, Sequence[Match]]], feed_titles: Mapping[str, str]
) -> DigestEntry:
    """The entry of one story's copies (at least one of which matched).

    The earliest copy leads (on a tie, the one fetched first, then the longer text): the
    first report, which stays the lead as later copies arrive, so an alert and the
    follow-up or digest after it show the same one.
    Each other outlet shows once, by its earliest copy. The story carries every rule any
    copy matched: the lead's own match where it has one, else the best copy's.
    """
    ordered = sorted(
        copies,
        key=lambda pair: (
            pair[0].published_at,
            pair[0].fetched_at,
            -len(pair[0].summary) - len(pair[0].body),
        ),
    )
    lead = ordered[0][0]
    lead_source = feed_titles.get(lead.feed_id, lead.feed_id)
    by_outlet: dict[str, StoryCopy] = {}
    for article, _ in ordered[1:]:
        outlet = feed_titles.get(article.feed_id, article.feed_id)
        if outlet != lead_source and outlet not in by_outlet:
            by_outlet[outlet] = StoryCopy(outlet, article.url, article.published_at)
    by_rule: dict[str, Match] = {}
    for _, matches in ordered:
        for match in sorted(matches, key=match_order):
            by_rule.setdefault(match.rule_id, match)
    return DigestEntry(
        article=lead,
        matches=tuple(sorted(by_rule.values(), key=match_order)),
        feed_title=lead_source,
        also_in=tuple(sorted(by_outlet)),
        copies=tuple(by_outlet[outlet] for outlet in sorted(by_outlet)),
    )


def developing_entry(
    copies: Sequence[tuple[Article, Sequence[Match]]],
    feed_titles: Mapping[str, str],
    *,
    new_outlets: Sequence[str],
    new_actors: Sequence[str],
) -> DigestEntry:
    """A follow-up's entry: the story as it stands, and what it gained since it was sent
    (`new_outlets` as feed ids, `new_actors` as names)."""
    entry = story_entry(copies, feed_titles)
    developing = Developing(
        outlet_count=len({article.feed_id for article, _ in copies}),
        new_outlets=tuple(sorted(feed_titles.get(feed, feed) for feed in new_outlets)),
        new_actors=tuple(new_actors),
    )
    return replace(entry, developing=developing)


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
