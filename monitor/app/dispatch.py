"""The feed dispatcher: at each run, start the poll of every feed whose stored next poll has come.

It decides nothing itself (`schedule.due_feeds` does) and polls nothing itself (the service
passes the poll in). It owns the polls in flight, the plan of first polls, the feed states
it reads once and keeps in step, and the facts `/healthz` needs to tell a stalled daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from monitor.model import Feed, FeedState
from monitor.schedule import (
    PollingActivity,
    PollingHealth,
    PollPolicy,
    clamp_next_polls,
    due_at,
    due_feeds,
    plan_first_polls,
    polling_health,
    state_after_new_interval,
)
from monitor.settings import FetchSettings
from monitor.store import Store

StartPoll = Callable[[Feed], Coroutine[Any, Any, None]]

# How many due feeds a shared-store claim is offered per poll it has room for.
_OFFERED_PER_ROOM = 4


@dataclass(slots=True)
class PollInFlight:
    """One poll's view of its feed's state: as stored when it began, and as it stored it."""

    state: FeedState | None
    saved: FeedState | None = None


class FeedDispatcher:
    """Starts due polls without waiting for them; a feed being polled is not started again."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        every_s: float,
        policy: PollPolicy | None = None,
        max_claims: int = 50,
    ) -> None:
        self.every_s = every_s
        # On a shared store, the most polls in flight this daemon claims feeds for: a daemon
        # claiming every due feed would hold them queued behind its fetch limits while the
        # other daemons sat idle (the fetcher's `max_concurrency`).
        self.max_claims = max_claims
        # The bounds stored next polls are clamped to; a reload's `replan` updates them.
        self.policy = policy or PollPolicy()
        self._store = store
        self._clock = clock
        self.activity = PollingActivity(started_at=clock())
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._first_polls: dict[str, datetime] = {}
        # The stored feed states, read once and then kept in step with every poll and
        # re-plan: this daemon is their only writer on SQLite (StoreLock), and reading 10,000
        # rows at every dispatch costs ~100 ms of event loop (docs/decisions.md, one
        # dispatcher). On a shared store the due ones are read again as they are claimed.
        self._states: dict[str, FeedState] | None = None
        self._rng = random.Random()

    @property
    def polls_in_flight(self) -> int:
        return len(self._in_flight)

    def restart(self) -> None:
        """Count stalls from now (the daemon starts dispatching)."""
        self.activity = PollingActivity(started_at=self._clock())

    def dispatch(self, feeds: Sequence[Feed], start: StartPoll) -> list[asyncio.Task[None]]:
        """Start `start(feed)` as a task for every due feed; return the tasks started.

        How many fetches run at once is the fetcher's limit, not this loop's. Call it
        from the running event loop.
        """
        now = self._clock()
        self.activity = replace(self.activity, last_dispatch_at=now)
        states = self._clamped_states(feeds, now)
        self._first_polls = plan_first_polls(feeds, states, self._first_polls, now)
        due = due_feeds(
            feeds, states, now, in_flight=self._in_flight.keys(), first_polls=self._first_polls
        )
        due = self._claimed(due, now)
        loop = asyncio.get_running_loop()
        started: list[asyncio.Task[None]] = []
        for feed in due:
            task = loop.create_task(start(feed), name=f"poll:{feed.id}")
            self._in_flight[feed.id] = task
            task.add_done_callback(functools.partial(self._forget, feed.id))
            started.append(task)
        return started

    def _claimed(self, due: list[Feed], now: datetime) -> list[Feed]:
        """The due feeds this daemon may poll: on a shared store, those it leased, each with
        its state read again (another daemon may have polled it since this copy was kept)."""
        if not self._store.shares_work or not due:
            return due
        room = self.max_claims - len(self._in_flight)
        if room <= 0:
            return []
        # The longest overdue as this copy of the states has it, a few times the room: the
        # store claims the longest overdue as it has them (another daemon may have polled
        # some since), and the states read back take those polled elsewhere out of `due`.
        states = self._feed_states()
        by_wait = sorted(due, key=lambda feed: due_at(feed, states, self._first_polls, now))
        ids = [feed.id for feed in by_wait[: room * _OFFERED_PER_ROOM]]
        claimed = self._store.claim_feeds(ids, now, limit=room)
        states.update(self._store.feed_states_of(ids))
        return [feed for feed in by_wait if feed.id in claimed]

    @contextlib.contextmanager
    def polling(self, feed_id: str) -> Iterator[PollInFlight]:
        """Wrap one poll: it counts as finished when the block ends without an exception.

        The poll starts from the state held here and hands back the one it stored (`saved`),
        so neither is read from the store again. The feed's lease (shared store) ends with the
        block, after its state is stored: no other daemon polls it again before it is due.
        """
        poll = PollInFlight(self._feed_states().get(feed_id))
        try:
            yield poll
        except asyncio.CancelledError:
            raise  # cut off at shutdown: the store may be closed already
        except Exception:
            self._refresh_state(feed_id)
            self._store.release_feed(feed_id)
            raise
        self._store.release_feed(feed_id)
        self.activity = replace(self.activity, last_poll_done_at=self._clock())
        if poll.saved is None:
            self._refresh_state(feed_id)
        else:
            self._feed_states()[feed_id] = poll.saved

    def replan(
        self, old_feeds: Mapping[str, Feed], feeds: Sequence[Feed], fetch: FetchSettings
    ) -> None:
        """Re-plan the stored next poll of every feed whose `every` changed."""
        policy = self.policy = PollPolicy.from_settings(fetch)
        for feed in feeds:
            before = old_feeds.get(feed.id)
            state = self._store.feed_state(feed.id)
            if before is None or before.poll_every_s == feed.poll_every_s or state is None:
                continue
            recent = self._store.recent_published(feed.id)
            self._store.save_feed_state(
                state_after_new_interval(
                    state, feed, recent_published=recent, policy=policy, rng=self._rng
                )
            )
            self._refresh_state(feed.id)

    def health(self, feeds: Sequence[Feed], now: datetime) -> PollingHealth:
        """Whether polling is moving at `now` (see `schedule.polling_health`)."""
        return polling_health(
            self.activity,
            feeds,
            self._feed_states(),
            now=now,
            dispatch_every_s=self.every_s,
            first_polls=self._first_polls,
        )

    def _forget(self, feed_id: str, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(feed_id, None)

    def states(self) -> Mapping[str, FeedState]:
        """The feed states as stored, kept in step with every poll (no store read)."""
        return self._feed_states()

    def _feed_states(self) -> dict[str, FeedState]:
        if self._states is None:
            self._states = {state.feed_id: state for state in self._store.feed_states()}
        return self._states

    def _clamped_states(self, feeds: Sequence[Feed], now: datetime) -> dict[str, FeedState]:
        """The feed states, any stored time from another clock clamped and stored again."""
        states = self._feed_states()
        for state in clamp_next_polls(feeds, states, now, self.policy):
            self._store.save_feed_state(state)
            states[state.feed_id] = state
        return states

    def _refresh_state(self, feed_id: str) -> None:
        state = self._store.feed_state(feed_id)
        if self._states is not None and state is not None:
            self._states[feed_id] = state
