"""/healthz tells the truth: failing (503) when nothing is being watched or stored, degraded
(200, with the reason) while rules or some feeds are broken; per-feed metrics survive a restart.

The verdict is pure and tested with facts; the service is tested in-process with a real feed
server on 127.0.0.1, a real SQLite store and an injected clock."""

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from importlib import metadata

from prometheus_client.parser import text_string_to_metric_families

from monitor.app.verdict import HealthFacts, health_verdict
from monitor.model import Feed, FeedState
from tests.test_dispatch import Clock, dispatch, feeds, start_service, write_config  # noqa: F401

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FEEDS = (
    Feed(id="a", url="https://news.example.org/a.xml", poll_every_s=300),
    Feed(id="b", url="https://news.example.org/b.xml", poll_every_s=600),  # the slowest
)


def facts(**changes) -> HealthFacts:
    base = {
        "started_at": NOW - timedelta(days=1),
        "feeds": FEEDS,
        "states": {
            "a": FeedState(feed_id="a", last_success_at=NOW),
            "b": FeedState(feed_id="b", last_success_at=NOW),
        },
        "polling_problem": None,
        "is_store_writable": True,
        "store_path": "var/monitor.db",
    }
    return HealthFacts(**(base | changes))


def test_no_success_within_three_slowest_intervals_is_failing_after_the_grace():
    stale = {
        "a": FeedState(feed_id="a", last_success_at=NOW - timedelta(seconds=1801)),
        "b": FeedState(feed_id="b", error_streak=4, last_success_at=NOW - timedelta(hours=2)),
    }
    assert health_verdict(facts(states=stale), NOW - timedelta(seconds=1)).status == "degraded"
    verdict = health_verdict(facts(states=stale), NOW)
    assert verdict.status == "failing" and not verdict.is_healthy
    assert verdict.reasons[0] == (
        "no feed has been polled successfully for 1801 s "
        "(the limit is 3 × the slowest feed's interval, 1800 s)"
    )
    # Never polled: failing only once the start-up grace (the same 1800 s) is over.
    fresh = facts(started_at=NOW - timedelta(seconds=1800), states={})
    assert health_verdict(fresh, NOW).status == "ok"
    assert health_verdict(fresh, NOW + timedelta(seconds=1)).reasons == (
        "no feed has ever been polled successfully since the start "
        "(the limit is 3 × the slowest feed's interval, 1800 s)",
    )


def test_some_feeds_failing_or_broken_rules_are_degraded_not_failing():
    one_failing = facts(
        states={
            "a": FeedState(feed_id="a", last_success_at=NOW),
            "b": FeedState(feed_id="b", error_streak=2, last_success_at=NOW),
        }
    )
    verdict = health_verdict(one_failing, NOW)
    assert (verdict.status, verdict.is_healthy) == ("degraded", True)
    assert verdict.reasons == ("1 of 2 feeds failing: b",)

    rules = health_verdict(facts(rules_error="rules/x.yaml:3: bad"), NOW)
    assert rules.status == "degraded" and "rules on disk do not validate" in rules.reasons[0]
    snapshot = health_verdict(facts(rules_error="bad", is_on_snapshot=True), NOW)
    assert "last good rules saved in the store" in snapshot.reasons[0]
    assert health_verdict(facts(), NOW).status == "ok"


def test_an_unwritable_store_or_stalled_polling_is_failing():
    store = health_verdict(facts(is_store_writable=False), NOW)
    assert store.status == "failing"
    assert store.reasons == (
        "the store 'var/monitor.db' is not writable (read-only, full or locked)",
    )
    stalled = health_verdict(facts(polling_problem="the feed dispatcher has not run"), NOW)
    assert stalled.status == "failing" and stalled.reasons == ("the feed dispatcher has not run",)


# --- in the service --------------------------------------------------------------------------


def test_healthz_is_503_while_another_writer_holds_the_store(project, feeds):  # noqa: F811
    config = write_config(project, feeds, {"city": ("/ok/city.xml", "1h")})

    async def scenario() -> None:
        service = start_service(config, Clock(NOW))
        try:
            await dispatch(service)
            assert service.health() == (True, service.health()[1])
            blocker = sqlite3.connect(project / "var" / "monitor.db", isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                is_healthy, details = service.health()
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert not is_healthy and details["status"] == "failing"
            assert details["store_writable"] is False
            assert "is not writable" in details["reasons"][0]
            assert service.health()[0]
        finally:
            await service.close()

    asyncio.run(scenario())


def test_one_failing_feed_of_two_is_degraded_and_counted_per_feed(project, feeds):  # noqa: F811
    config = write_config(
        project, feeds, {"city": ("/ok/city.xml", "1h"), "busy": ("/busy.xml", "1h")}
    )

    async def scenario() -> None:
        clock = Clock(NOW)
        service = start_service(config, clock)
        try:
            await dispatch(service)
            clock.advance(31)  # first polls of a fresh store are spread over 30 s
            await dispatch(service)
            is_healthy, details = service.health()
            assert is_healthy and details["status"] == "degraded"
            assert details["reasons"] == ["1 of 2 feeds failing: busy"]
            samples = metric_samples(service)
            assert samples[("monitor_feed_polls_total", ("city", "new"))] == 1
            assert samples[("monitor_feed_polls_total", ("busy", "failed"))] == 1
            assert samples[("monitor_feed_error_streak", ("busy",))] == 1
        finally:
            await service.close()

    asyncio.run(scenario())


def test_last_success_times_and_build_info_survive_a_restart(project, feeds):  # noqa: F811
    config = write_config(project, feeds, {"city": ("/ok/city.xml", "1h")})

    async def first_run() -> None:
        service = start_service(config, Clock(NOW))
        try:
            await dispatch(service)
        finally:
            await service.close()

    async def restarted() -> dict:
        service = start_service(config, Clock(NOW + timedelta(minutes=5)))
        try:
            return metric_samples(service)
        finally:
            await service.close()

    asyncio.run(first_run())
    samples = asyncio.run(restarted())
    assert samples[("monitor_feed_last_success_timestamp_seconds", ("city",))] == NOW.timestamp()
    assert samples[("monitor_last_successful_poll_timestamp_seconds", ())] == NOW.timestamp()
    assert samples[("monitor_rules_last_reload_success", ())] == 1
    assert samples[("monitor_build_info", (metadata.version("monitor"),))] == 1


def test_a_refused_reload_is_marked_in_the_metrics(project, feeds):  # noqa: F811
    config = write_config(project, feeds, {"city": ("/ok/city.xml", "1h")})

    async def scenario() -> None:
        service = start_service(config, Clock(NOW))
        try:
            rule = project / "rules" / "jo2024-security.yaml"
            good = rule.read_text(encoding="utf-8")
            rule.write_text(good.replace("priority: high", "priority: urgent"), encoding="utf-8")
            await service.reload_rules_if_changed()
            assert metric_samples(service)[("monitor_rules_last_reload_success", ())] == 0
            assert service.health()[1]["status"] == "degraded"
            rule.write_text(good + "\n", encoding="utf-8")
            await service.reload_rules_if_changed()
            assert metric_samples(service)[("monitor_rules_last_reload_success", ())] == 1
            assert service.health()[1]["status"] == "ok"
        finally:
            await service.close()

    asyncio.run(scenario())


def metric_samples(service) -> dict[tuple[str, tuple[str, ...]], float]:
    text = service.metrics.exposition().decode("utf-8")
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_reload_names_a_rule_source_that_no_feed_has(project, feeds, caplog):  # noqa: F811
    config = write_config(project, feeds, {"city": ("/ok/city.xml", "1h")})

    async def scenario() -> None:
        service = start_service(config, Clock(NOW))
        try:
            rule = project / "rules" / "jo2024-security.yaml"
            rule.write_text(rule.read_text(encoding="utf-8") + "sources: [cty]\n", encoding="utf-8")
            caplog.clear()
            await service.reload_rules_if_changed()
            # The valid rules still run, with the new source.
            reloaded = service.pipeline.rules.rule("jo2024-security")
            assert reloaded is not None and reloaded.sources == ("cty",)
        finally:
            await service.close()

    asyncio.run(scenario())
    warnings = [line for line in caplog.text.splitlines() if "rules.dangling_reference" in line]
    assert len(warnings) == 1, caplog.text
    assert "no feed has the id or tag 'cty'" in warnings[0]
    assert "did you mean 'city'?" in warnings[0]
