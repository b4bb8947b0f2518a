"""Spike alerts where the stages meet: after a batch's matches are stored, record their
stories, check the spike rules they woke against their baseline (`monitor.trends`), store
what fired; when delivering, send each new spike to the subscriptions of its rule.

One batch costs one insert, one read of the rows inside the compared windows per distinct
(window, baseline) setting, one read of the states and one upsert, whatever the number of
articles and rules in it: never one query per rule per article.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from monitor.deliver import compose_spike, delivery_id, payload_format, redact_channel, rule_ids_for
from monitor.logs import log_event
from monitor.metrics import Metrics
from monitor.model import (
    Article,
    Delivery,
    Digest,
    Match,
    Message,
    Rule,
    RuleSet,
    RuleTrend,
    SpikeAlert,
    SpikeStory,
    Subscription,
)
from monitor.store import RuleStory, SpikeState
from monitor.trends import (
    SpikeCheck,
    StoryHit,
    baseline_windows,
    check_spike,
    daily_trend,
    trend_start,
)

_log = logging.getLogger("monitor.pipeline.spikes")
# The stories a spike alert lists: those carried by the most outlets first.
TOP_STORIES = 5
# Where the current window's range ends: stories dated ahead of the clock still count.
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
# A spike older than this is not sent to a subscription that never had it (one added since).
SPIKE_SEND_WITHIN = timedelta(hours=24)


class TrendStore(Protocol):
    """The store as the 7-day trend sees it (digests and the workspace's rule page)."""

    def rule_stories_since(self, rule_ids: Iterable[str], since: datetime) -> list[RuleStory]: ...

    def spikes_since(self, rule_ids: Iterable[str], since: datetime) -> list[SpikeAlert]: ...


class SpikeStore(Protocol):
    """The store as the spike check and the spike delivery see it."""

    def record_rule_stories(
        self, articles: Sequence[Article], matches: Sequence[Match]
    ) -> None: ...

    def rule_stories_since(self, rule_ids: Iterable[str], since: datetime) -> list[RuleStory]: ...

    def rule_stories_between(
        self, rule_ids: Iterable[str], ranges: Sequence[tuple[datetime, datetime]]
    ) -> list[RuleStory]: ...

    def oldest_published_at(self) -> datetime | None: ...

    def spike_states(self) -> dict[str, SpikeState]: ...

    def save_spike_checks(
        self, states: Sequence[SpikeState], fired: Sequence[SpikeAlert]
    ) -> None: ...

    def article(self, key: str) -> Article | None: ...

    def spikes_since(self, rule_ids: Iterable[str], since: datetime) -> list[SpikeAlert]: ...

    def spikes_delivered(self, subscription_id: str, spike_ids: Iterable[str]) -> set[str]: ...

    def mark_spike_delivered(self, subscription_id: str, spike_id: str, now: datetime) -> None: ...

    def enqueue(
        self,
        deliveries: Sequence[Delivery],
        story_ids: Iterable[str],
        *,
        digest_run_at: datetime | None = ...,
    ) -> None: ...


class SpikeWatch:
    """Checks the spike rules a batch of matches woke; keeps no state the store does not."""

    def __init__(self, *, store: SpikeStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._history_since: datetime | None = None

    def check(
        self, rules: RuleSet, articles: Sequence[Article], matches: Sequence[Match], now: datetime
    ) -> list[SpikeAlert]:
        """Record the batch's stories; check and store the spike rules it matched."""
        self._store.record_rule_stories(articles, matches)
        woken = {match.rule_id for match in matches}
        watched = [rule for rule in rules.rules if rule.spike is not None and rule.id in woken]
        if not watched:
            return []
        by_rule: dict[str, list[RuleStory]] = {}
        for ranges, rule_ids in _windows_read(watched, now).items():
            for story in self._store.rule_stories_between(rule_ids, ranges):
                by_rule.setdefault(story.rule_id, []).append(story)
        if self._history_since is None:
            # Read once per process; after that every stored article passes through here.
            self._history_since = self._store.oldest_published_at()
        if articles and self._history_since is not None:
            self._history_since = min(self._history_since, *(a.published_at for a in articles))
        previous = self._store.spike_states()
        states: list[SpikeState] = []
        fired: list[SpikeAlert] = []
        for rule in watched:
            state, alert = self._check_rule(rule, by_rule.get(rule.id, []), previous, now)
            states.append(state)
            if alert is not None:
                fired.append(alert)
        self._store.save_spike_checks(states, fired)
        for state in states:
            self._metrics.set_spike_state(state.rule_id, state.state)
        return fired

    def _check_rule(
        self,
        rule: Rule,
        stories: Sequence[RuleStory],
        previous: dict[str, SpikeState],
        now: datetime,
    ) -> tuple[SpikeState, SpikeAlert | None]:
        settings = rule.spike
        assert settings is not None, "only spike rules are checked"
        before = previous.get(rule.id)
        last_fired_at = before.last_fired_at if before else None
        hits = [StoryHit(s.story_id, s.feed_id, s.published_at) for s in stories]
        found = check_spike(
            hits, settings, now, history_since=self._history_since, last_fired_at=last_fired_at
        )
        alert = None
        if found.fires:
            last_fired_at = now
            alert = self._alert(rule, found, stories, now)
            log_event(
                _log,
                logging.WARNING,
                "spike.fired",
                rule_id=rule.id,
                count=found.count,
                outlets=found.outlets,
                expected=round(found.expected, 2),
                tail=f"{found.tail:.2g}",
            )
        quiet_until = (
            last_fired_at + timedelta(seconds=settings.cooldown_s) if last_fired_at else None
        )
        state = SpikeState(
            rule_id=rule.id,
            checked_at=now,
            state="cooling" if found.fires else found.state,
            count=found.count,
            outlets=found.outlets,
            expected=found.expected,
            spread=found.spread,
            last_fired_at=last_fired_at,
            quiet_until=quiet_until,
        )
        return state, alert

    def _alert(
        self, rule: Rule, found: SpikeCheck, stories: Sequence[RuleStory], now: datetime
    ) -> SpikeAlert:
        assert rule.spike is not None, "only spike rules fire"
        start = now - timedelta(seconds=rule.spike.window_s)
        outlets: dict[str, set[str]] = {}
        lead: dict[str, RuleStory] = {}
        for story in stories:
            if story.published_at < start:
                continue
            outlets.setdefault(story.story_id, set()).add(story.feed_id)
            if story.story_id not in lead or story.published_at < lead[story.story_id].published_at:
                lead[story.story_id] = story
        top = sorted(lead, key=lambda sid: (-len(outlets[sid]), lead[sid].published_at))
        shown = []
        for story_id in top[:TOP_STORIES]:
            first = lead[story_id]
            article = self._store.article(first.article_key)
            shown.append(
                SpikeStory(
                    article_key=first.article_key,
                    title=article.title if article else "",
                    url=article.url if article else None,
                    feed_id=first.feed_id,
                    published_at=first.published_at,
                    outlets=len(outlets[story_id]),
                )
            )
        spike_id = hashlib.sha256(f"{rule.id}\x1f{now.isoformat()}".encode()).hexdigest()[:32]
        return SpikeAlert(
            id=spike_id,
            rule_id=rule.id,
            rule_name=rule.name,
            fired_at=now,
            window_s=rule.spike.window_s,
            count=found.count,
            outlets=found.outlets,
            expected=found.expected,
            spread=found.spread,
            stories=tuple(shown),
        )


def _windows_read(
    rules: Sequence[Rule], now: datetime
) -> dict[tuple[tuple[datetime, datetime], ...], list[str]]:
    """The time ranges each group of rules' checks compare (the window, open-ended for
    clocks ahead, and its baseline windows), so a check reads those rows only: one read per
    distinct window and baseline, not one per rule."""
    groups: dict[tuple[tuple[datetime, datetime], ...], list[str]] = {}
    for rule in rules:
        assert rule.spike is not None, "only spike rules are checked"
        current = (now - timedelta(seconds=rule.spike.window_s), _FAR_FUTURE)
        ranges = (current, *baseline_windows(rule.spike, now))
        groups.setdefault(ranges, []).append(rule.id)
    return groups


class SpikeRenderer(Protocol):
    def render(self, digest: Digest, *, payload_format: str = ...) -> Message: ...


def enqueue_spike_alerts(
    store: SpikeStore,
    renderer: SpikeRenderer,
    subscription: Subscription,
    rules: RuleSet,
    now: datetime,
) -> list[str]:
    """Enqueue one alert per spike `subscription` is owed (fired lately by one of its rules,
    never sent to it): one outbox row per channel, with ids stable across retries."""
    rule_ids = rule_ids_for(rules, subscription)
    recent = store.spikes_since(rule_ids, now - SPIKE_SEND_WITHIN)
    sent = store.spikes_delivered(subscription.id, (spike.id for spike in recent))
    enqueued: list[str] = []
    for spike in recent:
        if spike.id in sent:
            continue
        digest = compose_spike(subscription, spike, now=now)
        formats = {payload_format(channel) for channel in subscription.channels}
        messages = {fmt: renderer.render(digest, payload_format=fmt) for fmt in formats}
        rows = [
            Delivery(
                # The same spike, subscription and channel: the same id, so a crash between
                # enqueue and the ledger below re-enqueues nothing new.
                id=delivery_id(subscription.id, "spike", position, [spike.id]),
                subscription_id=subscription.id,
                channel=redact_channel(channel),
                message=messages[payload_format(channel)],
                article_keys=tuple(story.article_key for story in spike.stories),
                created_at=now,
            )
            for position, channel in enumerate(subscription.channels)
        ]
        # No story goes in the delivered ledger: the digest still owes the articles.
        store.enqueue(rows, ())
        store.mark_spike_delivered(subscription.id, spike.id, now)
        enqueued += [row.id for row in rows]
        log_event(
            _log,
            logging.INFO,
            "spike.enqueued",
            rule_id=spike.rule_id,
            subscription_id=subscription.id,
            deliveries=len(rows),
        )
    return enqueued


def rule_trends(
    store: TrendStore, rules: RuleSet, rule_ids: Iterable[str], now: datetime, timezone: str
) -> tuple[RuleTrend, ...]:
    """Each rule's distinct stories per day over the last days, in `timezone`, marked where
    a spike fired: two reads for all the rules."""
    wanted = sorted(set(rule_ids))
    if not wanted:
        return ()
    zone = ZoneInfo(timezone)
    since = trend_start(now, zone)
    first_seen: dict[tuple[str, str], datetime] = {}
    for story in store.rule_stories_since(wanted, since):
        key = (story.rule_id, story.story_id)
        if key not in first_seen or story.published_at < first_seen[key]:
            first_seen[key] = story.published_at
    fired: dict[str, list[datetime]] = {}
    for spike in store.spikes_since(wanted, since):
        fired.setdefault(spike.rule_id, []).append(spike.fired_at)
    times: dict[str, list[datetime]] = {}
    for (rule_id, _), at in first_seen.items():
        times.setdefault(rule_id, []).append(at)
    names = {rule.id: rule.name for rule in rules.rules}
    return tuple(
        daily_trend(
            rule_id,
            names.get(rule_id, rule_id),
            times.get(rule_id, []),
            fired.get(rule_id, []),
            now,
            zone,
        )
        for rule_id in wanted
    )
