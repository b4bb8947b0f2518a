"""Follow-ups of stories already sent: which are due for a subscription, and what each
sending covers, read from the store and decided by `monitor.schedule.follow_up_due`.

Reads the coverage ledger and the stories' copies; never sends and never records (the
deliverer enqueues what this returns, and the ledger is written with the delivery).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from monitor.deliver import developing_entry
from monitor.model import Article, DigestEntry, Match, Priority, StoryCoverage, Subscription
from monitor.schedule import FOLLOW_UP_WINDOW, actor_ids, follow_up_due

StoryCopies = list[tuple[Article, list[Match]]]


class FollowUpStore(Protocol):
    """What follow-ups read: the ledger's stories that grew, and a story's copies."""

    def grown_since_sent(
        self, subscription_id: str, since: datetime
    ) -> list[tuple[StoryCoverage, datetime]]: ...

    def story_copies(
        self, story_ids: Iterable[str], rule_ids: Iterable[str]
    ) -> dict[str, StoryCopies]: ...

    def muted_story_ids(self, story_ids: Iterable[str]) -> set[str]:
        """The stories among these that an analyst muted for every subscription."""
        ...


def follow_ups_due(
    store: FollowUpStore,
    subscription: Subscription,
    rule_ids: Iterable[str],
    feed_titles: Mapping[str, str],
    now: datetime,
    *,
    min_priority: Priority | None = None,
) -> list[DigestEntry]:
    """The "story developing" entries `subscription` is owed now (none when its
    `follow_up` is off); with `min_priority`, only stories a rule that urgent matched."""
    if subscription.follow_up is None:
        return []
    grown = store.grown_since_sent(subscription.id, now - FOLLOW_UP_WINDOW)
    if not grown:
        return []
    # A muted story is never followed up (docs/web.md#feedback), to anyone.
    muted = store.muted_story_ids(sent.story_id for sent, _ in grown)
    copies = store.story_copies((sent.story_id for sent, _ in grown), rule_ids)
    entries: list[DigestEntry] = []
    for sent, _ in grown:
        story = copies.get(sent.story_id, [])
        matches = [match for _, found in story for match in found]
        if not matches or (
            min_priority is not None and max(m.priority for m in matches) < min_priority
        ):
            continue
        due = follow_up_due(
            subscription.follow_up,
            sent,
            coverage_of(sent.story_id, story),
            is_muted=sent.story_id in muted,
        )
        if due is not None:
            entries.append(
                developing_entry(
                    story,
                    feed_titles,
                    new_outlets=due.new_outlets,
                    new_actors=_actor_names(matches, due.new_actors),
                )
            )
    return entries


def sending_coverage(
    store: FollowUpStore, entries: Iterable[DigestEntry], rule_ids: Iterable[str]
) -> list[StoryCoverage]:
    """What sending these entries covers, story by story, as the store holds them now: the
    ledger row the next follow-up is measured against."""
    stories = {entry.article.story_id or entry.article.key for entry in entries}
    if not stories:
        return []
    copies = store.story_copies(stories, rule_ids)
    return [coverage_of(story, copies.get(story, [])) for story in sorted(stories)]


def coverage_of(story_id: str, copies: Sequence[tuple[Article, Sequence[Match]]]) -> StoryCoverage:
    """A story's outlets (feed ids of its copies) and the actors its matches name."""
    return StoryCoverage(
        story_id=story_id,
        outlets=frozenset(article.feed_id for article, _ in copies),
        actors=actor_ids(hit for _, matches in copies for match in matches for hit in match.hits),
    )


def _actor_names(matches: Iterable[Match], wanted: Iterable[str]) -> tuple[str, ...]:
    """The names the rules call these actors by (a hit's `wanted`), in `wanted`'s order."""
    names = {hit.actor_id: hit.wanted for match in matches for hit in match.hits if hit.actor_id}
    return tuple(names.get(actor, actor) for actor in wanted)
