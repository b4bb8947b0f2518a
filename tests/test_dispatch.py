"""The feed dispatcher: which feeds are due (pure), then the daemon's one dispatcher run
in-process with an injected clock, a real feed server on 127.0.0.1 and a real SQLite store."""

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from random import Random

import pytest

from monitor.app import Service, build_parts
from monitor.app.wiring import build_web_server
from monitor.config import load_config
from monitor.model import Feed, FeedState
from monitor.rules import load_rules
from monitor.schedule import (
    PollingActivity,
    PollPolicy,
    clamp_next_polls,
    due_feeds,
    plan_first_polls,
    polling_health,
    state_after_new_interval,
)
from tests.conftest import LoopbackHTTP
from tests.fixtures_nlp import shared_annotator

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def feed(feed_id: str, every_s: int = 300) -> Feed:
    return Feed(id=feed_id, url=f"https://news.example.org/{feed_id}.xml", poll_every_s=every_s)


def ids(feeds: list[Feed]) -> list[str]:
    return [one.id for one in feeds]


# --- which feeds are due ------------------------------------------------------------------


def test_a_feed_is_polled_when_its_stored_next_poll_has_come_and_not_before():
    hourly = feed("hourly", every_s=3600)
    states = {"hourly": FeedState(feed_id="hourly", next_poll_at=NOW + seconds(1))}

    # No early window, however long the interval: the stored next poll decides.
    assert due_feeds([hourly], states, NOW, in_flight=()) == []
    assert due_feeds([hourly], states, NOW + seconds(1), in_flight=()) == [hourly]
    assert due_feeds([hourly], {}, NOW, in_flight=()) == [hourly]  # never polled


def test_a_feed_being_polled_is_not_due_again():
    slow, other = feed("slow"), feed("other")

    assert due_feeds([slow, other], {}, NOW, in_flight={"slow"}) == [other]


def test_first_polls_of_a_fresh_store_are_spread_over_at_most_30_s():
    feeds = [feed(f"f{index}") for index in range(10)]

    plan = plan_first_polls(feeds, {}, {}, NOW)

    assert sorted((moment - NOW).total_seconds() for moment in plan.values()) == [
        3.0 * index for index in range(10)
    ]
    assert ids(due_feeds(feeds, {}, NOW, in_flight=(), first_polls=plan)) == ["f0"]
    assert len(due_feeds(feeds, {}, NOW + seconds(27), in_flight=(), first_polls=plan)) == 10
    # Feeds polled more often than every 30 s are spread over their own interval.
    fast = [feed("q0", every_s=10), feed("q1", every_s=10)]
    assert sorted(plan_first_polls(fast, {}, {}, NOW).values()) == [NOW, NOW + seconds(5)]


def test_the_first_poll_plan_keeps_its_times_and_spreads_newcomers_from_their_arrival():
    feeds = [feed("a"), feed("b"), feed("c")]
    plan = plan_first_polls(feeds, {}, {}, NOW)
    polled = {"a": FeedState(feed_id="a", next_poll_at=NOW + seconds(300))}

    later = plan_first_polls([*feeds[:2], feed("new")], polled, plan, NOW + seconds(12))

    assert later == {"b": plan["b"], "new": NOW + seconds(12)}  # a polled, c removed


def test_a_changed_interval_replans_a_healthy_feed_and_leaves_a_backed_off_one_alone():
    last = NOW - seconds(1200)
    healthy = FeedState(feed_id="a", last_polled_at=last, next_poll_at=last + seconds(3600))
    failing = replace(healthy, error_streak=2, next_poll_at=last + seconds(3600))

    def replanned(state: FeedState, every_s: int) -> FeedState:
        return state_after_new_interval(
            state, feed("a", every_s), recent_published=(), policy=PollPolicy(), rng=Random(1)
        )

    shorter = replanned(healthy, 600).next_poll_at
    longer = replanned(healthy, 7200).next_poll_at
    assert shorter is not None and last + seconds(600) <= shorter <= last + seconds(660)
    assert longer is not None and last + seconds(7200) <= longer <= last + seconds(7920)
    assert replanned(failing, 600) == failing  # the backoff (or a Retry-After) stands
    assert replanned(FeedState(feed_id="a"), 600) == FeedState(feed_id="a")  # never polled


# --- stored times from another clock ------------------------------------------------------


def test_a_stored_next_poll_beyond_the_longest_planned_wait_is_clamped():
    quick = feed("quick", every_s=10)
    ahead = FeedState(feed_id="quick", last_polled_at=NOW, next_poll_at=NOW + timedelta(days=30))

    [clamped] = clamp_next_polls([quick], {"quick": ahead}, NOW, PollPolicy(max_interval_s=3600))

    # At most max_interval plus its 10 % jitter; clamped once, it stays where it is.
    assert clamped == replace(ahead, next_poll_at=NOW + seconds(3960))
    assert clamp_next_polls([quick], {"quick": clamped}, NOW + seconds(60), PollPolicy()) == []
    assert due_feeds([quick], {"quick": clamped}, NOW + seconds(3960), in_flight=()) == [quick]


def test_a_poll_recorded_after_now_counts_its_wait_from_now():
    quick = feed("quick", every_s=10)
    # Polled "tomorrow" by a host whose clock ran a day fast, next poll 10 s after that.
    tomorrow = NOW + timedelta(days=1)
    state = FeedState(feed_id="quick", last_polled_at=tomorrow, next_poll_at=tomorrow + seconds(10))

    [clamped] = clamp_next_polls([quick], {"quick": state}, NOW, PollPolicy())

    assert (clamped.last_polled_at, clamped.next_poll_at) == (NOW, NOW + seconds(10))
    assert clamp_next_polls([quick], {"quick": clamped}, NOW, PollPolicy()) == []


def test_a_retry_after_within_a_day_still_stands_on_a_failing_feed():
    busy = feed("busy", every_s=10)
    waiting = FeedState(
        feed_id="busy", last_polled_at=NOW, error_streak=1, next_poll_at=NOW + timedelta(hours=20)
    )

    # The server asked for the wait: honoured up to a day, and no further.
    assert clamp_next_polls([busy], {"busy": waiting}, NOW, PollPolicy(max_interval_s=3600)) == []
    far = replace(waiting, next_poll_at=NOW + timedelta(days=9))
    [clamped] = clamp_next_polls([busy], {"busy": far}, NOW, PollPolicy())
    assert clamped.next_poll_at == NOW + timedelta(days=1)


# --- is polling moving ----------------------------------------------------------------------


def test_a_dispatcher_that_stopped_is_reported_after_three_periods_and_ten_seconds():
    feeds = [feed("a")]
    activity = PollingActivity(started_at=NOW, last_dispatch_at=NOW, last_poll_done_at=NOW)
    states = {"a": FeedState(feed_id="a", next_poll_at=NOW + seconds(300))}

    alive = polling_health(activity, feeds, states, now=NOW + seconds(16), dispatch_every_s=2)
    stalled = polling_health(activity, feeds, states, now=NOW + seconds(17), dispatch_every_s=2)

    assert alive.is_healthy and alive.problem is None
    assert not stalled.is_healthy and not stalled.is_dispatcher_alive
    assert stalled.problem == "the feed dispatcher has not run for 17 s (it should run every 2 s)"


def test_polls_that_stop_finishing_while_feeds_are_due_are_reported():
    feeds = [feed("a", every_s=60), feed("b", every_s=120)]  # the slowest: 3 × 120 s
    states = {
        "a": FeedState(feed_id="a", next_poll_at=NOW),
        "b": FeedState(feed_id="b", next_poll_at=NOW + seconds(3600)),
    }
    finished_long_ago = NOW - timedelta(hours=5)

    def at(offset_s: float):
        activity = PollingActivity(
            started_at=NOW - timedelta(days=1),
            last_dispatch_at=NOW + seconds(offset_s),
            last_poll_done_at=finished_long_ago,
        )
        return polling_health(
            activity, feeds, states, now=NOW + seconds(offset_s), dispatch_every_s=2
        )

    # Counted from when feed a became due, not from the last poll five hours ago.
    assert at(360).is_healthy
    stalled = at(361)
    assert stalled.is_dispatcher_alive and not stalled.is_polling
    assert stalled.problem == (
        "no feed poll has finished for 361 s while 1 feed(s) are due (the limit is 360 s)"
    )


def test_no_feed_due_is_no_stall_and_short_intervals_get_a_minute():
    feeds = [feed("a", every_s=10)]
    activity = PollingActivity(started_at=NOW, last_dispatch_at=NOW + seconds(3600))
    waiting = {"a": FeedState(feed_id="a", next_poll_at=NOW + seconds(7200))}
    due = {"a": FeedState(feed_id="a", next_poll_at=NOW + seconds(3600 - 61))}

    def health(states, offset_s):
        return polling_health(
            activity, feeds, states, now=NOW + seconds(offset_s), dispatch_every_s=2
        )

    assert health(waiting, 3600).is_healthy  # backed off for hours: nothing is owed
    assert not health(due, 3600).is_polling  # due for 61 s, limit max(3 × 10 s, 60 s)
    assert health(due, 3600 - 2).is_healthy


# --- the dispatcher in the service ------------------------------------------------------------

ITEM = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{name}</title><link>https://news.example.org/</link>
<item><title>Une dépêche de {name}</title><link>https://news.example.org/{name}/1</link>
<guid isPermaLink="false">{name}-1</guid><pubDate>Mon, 01 Jun 2026 10:00:00 +0000</pubDate>
<description>Le conseil municipal a voté le budget.</description></item>
</channel></rss>
"""


class Feeds:
    """A feed server on 127.0.0.1 that counts requests: /ok/NAME.xml answers a small RSS,
    /busy.xml a 503 with Retry-After: 3600 (/busy-once.xml only the first time, then a
    small RSS), /hang.xml waits until `release` is set."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        hits, release = self.hits, self.release

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[self.path] += 1
                if self.path == "/hang.xml":
                    release.wait(30)
                if self.path == "/busy.xml" or (
                    self.path == "/busy-once.xml" and hits[self.path] == 1
                ):
                    self.send_response(503)
                    self.send_header("Retry-After", "3600")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                name = self.path.strip("/").removesuffix(".xml").replace("/", "-")
                body = ITEM.format(name=name).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = LoopbackHTTP(Handler)
        self.base = self.http.base

    def close(self) -> None:
        self.release.set()
        self.http.close()


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    server = Feeds()
    yield server
    server.close()


class Clock:
    """The service's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by_s: float) -> None:
        self.now += seconds(by_s)


def write_config(project: Path, server: Feeds, feeds: dict[str, tuple[str, str]]) -> Path:
    """A config with `feeds` (id: (path on the server, every)) and the shipped rules."""
    lines = [
        "store: var/monitor.db",
        "health: null",
        "fetch: {deadline_s: 60, host_spacing_s: 0}",
        "subscriptions: []",
        "feeds:",
    ]
    for feed_id, (path, every) in feeds.items():
        lines.append(
            f"  - {{id: {feed_id}, url: '{server.base}{path}', every: {every}, "
            "allow_private: true, language: fr}"
        )
    config = project / "config.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def start_service(config_path: Path, clock: Clock, *, strict: bool = True) -> Service:
    config = load_config(config_path)
    rules = load_rules(config.rules_dir)
    parts = build_parts(config, rules, annotator=shared_annotator())
    return Service(config, rules, parts=parts, clock=clock, strict=strict)


async def dispatch(service: Service) -> None:
    """One dispatch, then wait for the polls it started; a strict service's crash is raised."""
    await asyncio.gather(*service.dispatch())
    if service.crash is not None:
        raise service.crash


def test_a_shortened_interval_is_polled_at_the_next_dispatch_after_a_reload(project, feeds):
    config = write_config(project, feeds, {"city": ("/ok/city.xml", "1h")})
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        try:
            await dispatch(service)
            assert feeds.hits["/ok/city.xml"] == 1
            clock.advance(20 * 60)
            await dispatch(service)
            assert feeds.hits["/ok/city.xml"] == 1  # next poll in 40 minutes

            # Every 10 minutes now, and a second feed: the last poll + 10 min has passed.
            write_config(
                project,
                feeds,
                {"city": ("/ok/city.xml", "10m"), "port": ("/ok/port.xml", "1h")},
            )
            await service.reload_all()  # what SIGHUP runs
            await dispatch(service)
            assert feeds.hits["/ok/city.xml"] == 2
            assert feeds.hits["/ok/port.xml"] == 1

            # A removed feed is not polled again, however overdue.
            write_config(project, feeds, {"port": ("/ok/port.xml", "1h")})
            await service.reload_all()
            clock.advance(3 * 3600)
            await dispatch(service)
            assert feeds.hits == Counter({"/ok/city.xml": 2, "/ok/port.xml": 2})
        finally:
            await service.close()

    asyncio.run(scenario())


def test_retry_after_keeps_the_feed_waiting_across_dispatches(project, feeds):
    config = write_config(project, feeds, {"busy": ("/busy.xml", "10s")})
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        try:
            await dispatch(service)
            assert feeds.hits["/busy.xml"] == 1
            for offset_s in (2, 4, 20, 60, 600, 1800, 3598):
                clock.now = NOW + seconds(offset_s)
                await dispatch(service)
            assert feeds.hits["/busy.xml"] == 1  # every 10 s, but the server said an hour
            clock.now = NOW + seconds(3600)
            await dispatch(service)
            assert feeds.hits["/busy.xml"] == 2
        finally:
            await service.close()

    asyncio.run(scenario())


def test_a_retry_after_makes_every_feed_on_that_host_wait(project, feeds):
    # Both every 10 s on one loopback host: "busy" is planned at +0 s, "calm" at +5 s.
    config = write_config(
        project, feeds, {"busy": ("/busy-once.xml", "10s"), "calm": ("/ok/calm.xml", "10s")}
    )
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        try:
            await dispatch(service)
            assert feeds.hits["/busy-once.xml"] == 1  # 503, Retry-After: 3600
            for offset_s in (5, 15, 60, 600, 3599):
                clock.now = NOW + seconds(offset_s)
                await dispatch(service)
            assert feeds.hits["/ok/calm.xml"] == 0  # the host asked for an hour
            calm = service.parts.store.feed_state("calm")
            assert calm is not None and calm.last_error is not None
            assert "host '127.0.0.1' asked every feed on it to wait" in calm.last_error
            assert calm.next_poll_at == NOW + seconds(3600)  # when the host allows it
            clock.now = NOW + seconds(3600)
            await dispatch(service)
            assert feeds.hits == Counter({"/busy-once.xml": 2, "/ok/calm.xml": 1})
            calm = service.parts.store.feed_state("calm")
            assert calm is not None and calm.error_streak == 0
        finally:
            await service.close()

    asyncio.run(scenario())


def test_a_hung_poll_neither_holds_up_the_dispatcher_nor_starts_twice(project, feeds):
    config = write_config(
        project, feeds, {"hung": ("/hang.xml", "10s"), "quick": ("/ok/quick.xml", "10s")}
    )
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        try:
            first = service.dispatch()
            clock.advance(5)  # the quick feed's planned first poll (spread over 10 s)
            await asyncio.gather(*service.dispatch())
            for _ in range(3):
                clock.advance(12)
                await asyncio.gather(*service.dispatch())
            assert feeds.hits["/ok/quick.xml"] == 4
            assert feeds.hits["/hang.xml"] == 1  # still in flight: not started again
            feeds.release.set()
            await asyncio.gather(*first)
            await dispatch(service)
            assert feeds.hits["/hang.xml"] == 2
        finally:
            await service.close()

    asyncio.run(scenario())


def get_health(address: tuple[str, int]) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_healthz_fails_when_the_dispatcher_or_the_polls_stall(project, feeds):
    config = write_config(project, feeds, {"hung": ("/hang.xml", "10s")})
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        server = build_web_server(
            lambda: service.config,
            service.parts.store,
            lambda: service.pipeline.rules,
            clock=clock,
            listen=("127.0.0.1", 0),
            health=service.health,
            metrics=lambda: (b"", "text/plain"),
        )
        await server.start()
        try:
            hung = service.dispatch()
            assert await asyncio.to_thread(get_health, server.address) == (
                200,
                {
                    "status": "ok",
                    "reasons": [],
                    "scheduler_alive": True,
                    "polling": True,
                    "problem": None,
                    "store_writable": True,
                    "last_dispatch_age_s": 0.0,
                    "last_poll_age_s": None,
                    "polls_in_flight": 1,
                    "rules": 2,
                    "rules_error": None,
                    "rules_from_snapshot": False,
                },
            )
            # The dispatcher stops running: unhealthy after 3 × 2 s + 10 s.
            clock.advance(16)
            assert service.health()[0]
            clock.advance(1)
            status, body = await asyncio.to_thread(get_health, server.address)
            assert (status, body["status"], body["scheduler_alive"]) == (503, "failing", False)
            assert "dispatcher has not run for 17 s" in body["problem"]

            # It runs again, but the one due feed's poll never finishes: unhealthy once
            # a minute has passed (3 × 10 s is shorter) since it became due.
            service.dispatch()
            assert service.health()[0]
            clock.now = NOW + seconds(60)
            service.dispatch()
            assert service.health()[0]
            clock.now = NOW + seconds(61)
            service.dispatch()
            is_healthy, details = service.health()
            assert not is_healthy and details["scheduler_alive"] and not details["polling"]
            assert details["problem"].startswith("no feed poll has finished for 61 s")
            assert (await asyncio.to_thread(get_health, server.address))[0] == 503

            # The poll ends: polling moves again. Its success counts from when it started,
            # 61 s ago, past 3 × 10 s and a minute: the next poll's success makes it healthy.
            feeds.release.set()
            await asyncio.gather(*hung)
            is_healthy, details = service.health()
            assert details["polling"] and details["problem"] is None
            assert details["last_poll_age_s"] == 0.0
            assert not is_healthy
            assert details["reasons"][0].startswith("no feed has been polled successfully for 61 s")
            await dispatch(service)
            assert service.health()[0]
        finally:
            await server.close()
            await service.close()

    asyncio.run(scenario())


def test_an_unexpected_error_in_a_poll_is_counted_logged_and_raised_when_strict(
    project, feeds, caplog
):
    config = write_config(project, feeds, {"city": ("/ok/city.xml", "1h")})

    async def broken_poll(feed, now, **_):
        raise RuntimeError("a bug in the pipeline")

    async def scenario(strict: bool) -> Service:
        service = start_service(config, Clock(NOW), strict=strict)
        service.pipeline.ingest_feed = broken_poll  # the seam: an unexpected bug behind the job
        try:
            await asyncio.gather(*service.dispatch())
        finally:
            await service.close()
        return service

    lenient = asyncio.run(scenario(strict=False))
    assert lenient.crash is None
    assert "job.crashed" in caplog.text and "a bug in the pipeline" in caplog.text
    exposition = lenient.metrics.exposition().decode()
    assert 'monitor_errors_total{job="poll"} 1.0' in exposition

    strict = asyncio.run(scenario(strict=True))
    assert isinstance(strict.crash, RuntimeError)


def test_a_poll_that_brings_articles_waits_neither_for_their_analysis_nor_their_delivery(
    project, feeds
):
    config = write_config(project, feeds, {"city": ("/ok/city.xml", "1h")})
    analysed, delivered = asyncio.Event(), asyncio.Event()
    release = asyncio.Event()
    steps: list[str] = []

    async def slow_analysis(now):
        steps.append("analysing")
        await release.wait()  # a busy annotator
        analysed.set()
        return 1  # one match: its alert is due at once

    async def slow_delivery(now):
        steps.append("delivering")
        await release.wait()  # a mail server that takes its time
        delivered.set()

    async def scenario() -> None:
        service = start_service(config, Clock(NOW))
        # The seams: the analysis and the channel behind the pipeline are slow.
        service.pipeline.match_pending = slow_analysis
        service.pipeline.deliver_due = slow_delivery
        try:
            await asyncio.wait_for(dispatch(service), timeout=10)
            # The poll is over and the feed free for its next dispatch, although its
            # articles are still being analysed.
            assert service.dispatcher.polls_in_flight == 0
            await asyncio.sleep(0)
            assert steps == ["analysing"]
            release.set()
            await asyncio.wait_for(delivered.wait(), timeout=10)
            assert steps == ["analysing", "delivering"] and analysed.is_set()
        finally:
            await service.close()

    asyncio.run(scenario())


def test_a_clock_stepped_back_a_day_does_not_silence_a_10_s_feed(project, feeds):
    config = write_config(project, feeds, {"quick": ("/ok/quick.xml", "10s")})
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        try:
            await dispatch(service)
            assert feeds.hits["/ok/quick.xml"] == 1
            clock.now = NOW - timedelta(days=1)  # NTP steps the clock back a day
            for _ in range(15):  # 30 s of dispatches
                clock.advance(2)
                await dispatch(service)
            assert feeds.hits["/ok/quick.xml"] >= 3  # every 10-11 s, as configured
        finally:
            await service.close()

    asyncio.run(scenario())


def test_a_store_from_a_fast_clock_is_polled_within_the_longest_interval(project, feeds):
    config = write_config(project, feeds, {"quick": ("/ok/quick.xml", "10s")})
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        try:
            # A copied database: the feed's next poll is a year away, its last poll unknown.
            service.parts.store.save_feed_state(
                FeedState(feed_id="quick", next_poll_at=NOW + timedelta(days=365))
            )
            await service.close()
            service = start_service(config, clock)
            await dispatch(service)
            assert feeds.hits["/ok/quick.xml"] == 0
            clock.advance(6.6 * 3600)  # fetch.max_interval (6 h) plus its jitter
            await dispatch(service)
            assert feeds.hits["/ok/quick.xml"] == 1
        finally:
            await service.close()

    asyncio.run(scenario())


def test_a_forward_clock_jump_polls_each_feed_once_not_a_burst(project, feeds):
    names = ("a", "b", "c")
    config = write_config(project, feeds, {name: (f"/ok/{name}.xml", "10s") for name in names})
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        try:
            for _ in range(6):  # the first polls, spread over 10 s
                await dispatch(service)
                clock.advance(2)
            assert all(feeds.hits[f"/ok/{name}.xml"] == 1 for name in names)
            clock.advance(3 * 24 * 3600)  # a suspended VM wakes up three days later
            for _ in range(4):  # 8 s: less than one interval
                await dispatch(service)
                clock.advance(2)
            assert [feeds.hits[f"/ok/{name}.xml"] for name in names] == [2, 2, 2]
        finally:
            await service.close()

    asyncio.run(scenario())


def test_a_poll_starts_from_the_state_the_dispatcher_holds_and_hands_back_the_one_it_stored(
    project, feeds
):
    config = write_config(
        project, feeds, {"city": ("/ok/city.xml", "10m"), "busy": ("/busy.xml", "10m")}
    )
    clock = Clock(NOW)

    async def scenario() -> None:
        service = start_service(config, clock)
        store = service.parts.store
        reads: list[str] = []
        read_state = store.feed_state

        def counted_read(feed_id: str):
            reads.append(feed_id)
            return read_state(feed_id)

        store.feed_state = counted_read  # the seam: count the store's reads of one state
        try:
            await dispatch(service)
            clock.advance(30)  # the two first polls are spread over 30 s
            await dispatch(service)
            assert sorted(reads) == ["busy", "city"]  # never polled: nothing held yet
            reads.clear()
            for _ in range(2):
                clock.advance(3601)  # past the busy host's Retry-After
                await dispatch(service)
            assert reads == []
            held = dict(service.dispatcher.states())
            assert held == {feed_id: read_state(feed_id) for feed_id in ("busy", "city")}
            assert held["busy"].error_streak == 3  # each poll went on from the last one's state
            assert feeds.hits == Counter({"/ok/city.xml": 3, "/busy.xml": 3})
        finally:
            await service.close()

    asyncio.run(scenario())
