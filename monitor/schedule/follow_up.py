"""Whether a story already sent to a subscription is due a "story developing" follow-up.

Pure: given what the ledger says was sent (outlets and actors at the last sending) and what
the story holds now, decide. No store, no clock beyond the `now` and times passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from monitor.model import FollowUpPolicy, Hit, StoryCoverage

# A story last sent more than this long ago is news again, not a development of what the
# reader remembers; it also bounds the ledger rows each delivery pass reads.
FOLLOW_UP_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class FollowUpDue:
    """A follow-up to send: what the story gained since it was last sent."""

    story_id: str
    new_outlets: tuple[str, ...]  # feed ids, sorted
    new_actors: tuple[str, ...]  # actor ids, sorted


def follow_up_due(
    policy: FollowUpPolicy | None,
    sent: StoryCoverage,
    current: StoryCoverage,
    *,
    is_muted: bool = False,
) -> FollowUpDue | None:
    """The follow-up `current` earns over `sent` (the ledger's last sending), or None.

    Due when at least `policy.outlets` outlets carry it that did not when it was last sent,
    or (with `policy.new_actor`) an actor was matched in it that was not then. Each sending
    records the coverage it carried, so the next follow-up needs as much growth again. A
    muted story is never followed up.
    """
    if policy is None or is_muted:
        return None
    new_outlets = tuple(sorted(current.outlets - sent.outlets))
    new_actors = tuple(sorted(current.actors - sent.actors))
    grew = policy.outlets is not None and len(new_outlets) >= policy.outlets
    named = policy.new_actor and bool(new_actors)
    if not (grew or named):
        return None
    return FollowUpDue(current.story_id, new_outlets, new_actors)


def actor_ids(hits: Iterable[Hit]) -> frozenset[str]:
    """The actors a story's matches name: the actor ids of their hits."""
    return frozenset(hit.actor_id for hit in hits if hit.actor_id is not None)
