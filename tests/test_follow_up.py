"""The follow-up decision: given what the last sending covered and what a story holds now,
is one "story developing" update due? Pure, so every case is a value in, a value out."""

from __future__ import annotations

import pytest

from monitor.model import FollowUpPolicy, Hit, StoryCoverage
from monitor.schedule import FollowUpDue, actor_ids, follow_up_due

SENT = StoryCoverage("s", frozenset({"courrier"}), frozenset({"dgst"}))


def now(*outlets: str, actors: tuple[str, ...] = ("dgst",)) -> StoryCoverage:
    return StoryCoverage("s", frozenset({"courrier", *outlets}), frozenset(actors))


@pytest.mark.parametrize(
    ("current", "due"),
    [
        (now("a", "b"), None),  # two new outlets: not yet
        (now("a", "b", "c"), FollowUpDue("s", ("a", "b", "c"), ())),
        (now("a", "b", "c", "d"), FollowUpDue("s", ("a", "b", "c", "d"), ())),
        (now(actors=("dgst", "hammouchi")), None),  # an actor, but new_actor is off
    ],
)
def test_three_new_outlets_since_the_last_sending_make_a_follow_up_due(current, due):
    assert follow_up_due(FollowUpPolicy(outlets=3), SENT, current) == due


def test_the_next_follow_up_counts_from_what_the_last_one_covered():
    followed = now("a", "b", "c")  # the ledger after the first follow-up
    assert follow_up_due(FollowUpPolicy(outlets=3), followed, now("a", "b", "c", "d")) is None


def test_an_actor_new_to_the_story_is_due_when_asked_for():
    policy = FollowUpPolicy(new_actor=True)
    current = now(actors=("dgst", "hammouchi"))
    assert follow_up_due(policy, SENT, current) == FollowUpDue("s", (), ("hammouchi",))
    assert follow_up_due(policy, SENT, now("a", "b", "c", "d", "e")) is None  # outlets: off


def test_off_or_muted_never_follows_up():
    grown = now("a", "b", "c", actors=("dgst", "hammouchi"))
    assert follow_up_due(None, SENT, grown) is None
    policy = FollowUpPolicy(outlets=1, new_actor=True)
    assert follow_up_due(policy, SENT, grown, is_muted=True) is None
    assert follow_up_due(policy, SENT, grown) is not None


def test_a_storys_actors_are_the_actor_ids_of_its_hits():
    hits = (
        Hit("DGST", "DGST", "title", 0, 4, "DGST", actor_id="dgst"),
        Hit("sécurité", "sécurité", "title", 5, 13, "sécurité"),
    )
    assert actor_ids(hits) == frozenset({"dgst"})
