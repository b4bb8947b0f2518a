"""The daemon as a user runs it: a subprocess that polls a local feed server, hot-reloads
rules and config, reports health and metrics, refuses a second instance and stops cleanly."""

import asyncio
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.app import Service, build_parts, rules_for_start
from monitor.config import load_config
from tests.conftest import MONITOR, FeedServer, run_cli, run_monitor
from tests.fixtures_nlp import shared_annotator

NEW_ITEM = """
    <item>
      <title>OM : dispositif de sécurité renforcé pour le match au Vélodrome</title>
      <link>https://lecourrier-rabat.example/sport/2023/06/20/om-velodrome-securite</link>
      <guid isPermaLink="false">lcr-test-om-velodrome</guid>
      <pubDate>Tue, 20 Jun 2023 18:00:00 +0000</pubDate>
      <description>Le préfet annonce un dispositif de sécurité renforcé autour du Vélodrome
      pour le match de l'Olympique de Marseille.</description>
    </item>
"""

OM_RULE = """id: om-security
name: OM match security
priority: high
match:
  all:
    - any: [Olympique de Marseille, Vélodrome]
    - any: [sécurité]
"""


class Daemon:
    """`monitor run` in a subprocess, with its log captured to a file."""

    def __init__(self, project: Path, name: str = "daemon") -> None:
        self.project = project
        self.log_path = project / f"{name}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*MONITOR, "run"], cwd=project, stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def wait_log(self, text: str, timeout_s: float = 60) -> None:
        wait_for(lambda: text in self.log(), timeout_s, f"'{text}' in the daemon log")

    def health_url(self) -> str:
        self.wait_log("health_url=")
        return re.search(r"health_url=(\S+)", self.log()).group(1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def emails(project: Path) -> list[Path]:
    folder = project / "var" / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8")


@pytest.fixture
def served(project) -> Iterator[tuple[Path, FeedServer]]:
    """The shipped project with its feeds served over HTTP, polled every 10 s."""
    server = FeedServer(project)
    config = project / "config.yaml"
    text = config.read_text("utf-8")
    text = text.replace("url: seeds/", f"allow_private: true\n    url: {server.base}/seeds/")
    text = text.replace("every: 5m", "every: 10s")
    text += "\nhealth: {listen: '127.0.0.1:0'}\nstop_budget: 3s\n"
    config.write_text(text, "utf-8")
    # The fixture feed asks to be cached for 15 minutes (<ttl>); the daemon would honour it.
    feed = project / "seeds" / "feeds" / "seed-fr.xml"
    feed.write_text(re.sub(r"<ttl>\d+</ttl>", "", feed.read_text("utf-8")), "utf-8")
    yield project, server
    server.close()


def test_daemon_alerts_reloads_rules_reports_health_and_stops_on_sigterm(served):
    project, _ = served
    daemon = Daemon(project)
    try:
        # First polls are spread over the interval: wait for both feeds' first alerts.
        daemon.wait_log("feed_id=wire-en", 120)
        daemon.wait_log("feed_id=seed-fr", 120)
        wait_for(lambda: "delivery.sent" in daemon.log(), 60, "the first alert")
        time.sleep(1)
        alerts = len(emails(project))
        assert alerts >= 1

        # Health and metrics, as a monitoring system scrapes them.
        base = daemon.health_url().removesuffix("/healthz")
        status, body = get(f"{base}/healthz")
        assert status == 200 and '"store_writable": true' in body
        status, body = get(f"{base}/metrics")
        families = {family.name: family for family in text_string_to_metric_families(body)}
        changed = [
            sample.value
            for sample in families["monitor_polls"].samples
            if sample.labels.get("outcome") == "changed"
        ]
        assert changed == [2.0]
        assert families["monitor_articles_ingested"].samples[0].value == 15
        assert families["monitor_rules_loaded"].samples[0].value == 2
        sent = {
            (s.labels["channel"], s.labels["status"]): s.value
            for s in families["monitor_deliveries"].samples
        }
        assert sent == {("folder", "sent"): float(alerts)}

        # A second daemon on the same store refuses to start, saying why.
        second = run_monitor(project, "run")
        assert second.returncode == 3
        assert "already using" in second.stderr

        # A broken rule edit is refused with its file and line; the running rules stay.
        rule = project / "rules" / "om-security.yaml"
        rule.write_text(OM_RULE.replace("priority: high", "priority: urgent"), "utf-8")
        daemon.wait_log("rules.rejected", 30)
        assert "om-security.yaml:3" in daemon.log()
        assert get(f"{base}/healthz")[1].count("om-security.yaml:3") == 1

        # Saving the fixed rule is enough; it applies to articles arriving from now on.
        rule.write_text(OM_RULE, "utf-8")
        daemon.wait_log("rules.reloaded", 30)
        feed = project / "seeds" / "feeds" / "seed-fr.xml"
        feed.write_text(feed.read_text("utf-8").replace("</channel>", NEW_ITEM + "</channel>"))
        wait_for(lambda: len(emails(project)) == alerts + 1, 60, "the alert for the new item")
        assert "OM match security" in emails(project)[-1].read_text("utf-8", "replace")

        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert "service.stopped" in daemon.log()
    assert "Traceback" not in daemon.log()


def test_sighup_reloads_the_config_and_keeps_it_when_broken(served):
    project, server = served
    daemon = Daemon(project)
    try:
        daemon.wait_log("service.started")
        config = project / "config.yaml"
        good = config.read_text("utf-8")
        config.write_text(good.replace("every: 10s", "evry: 10s", 1), "utf-8")
        daemon.process.send_signal(signal.SIGHUP)
        daemon.wait_log("config.rejected", 30)
        assert "evry" in daemon.log()

        extra_feed = (
            f"  - id: extra\n    allow_private: true\n"
            f"    url: {server.base}/seeds/feeds/wire-en.atom\n    every: 10s\n"
        )
        config.write_text(good.replace("subscriptions:", extra_feed + "\nsubscriptions:"), "utf-8")
        (project / "rules" / "om-security.yaml").write_text(OM_RULE, "utf-8")
        daemon.process.send_signal(signal.SIGHUP)
        daemon.wait_log("config.reloaded feeds=3", 30)
        assert "rules.reloaded rules=3" in daemon.log()
        daemon.wait_log("feed_id=extra", 30)
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_sigterm_during_a_hung_poll_exits_within_the_budget(served):
    project, server = served
    config = project / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace(f"{server.base}/seeds/", f"{server.base}/slow/"),
        "utf-8",
    )
    daemon = Daemon(project)
    try:
        daemon.wait_log("service.started")
        time.sleep(1)  # both polls are now waiting on the server
        started = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - started < 3 + 5  # the configured budget plus start-up slack
    finally:
        daemon.kill()
    assert "service.stopped" in daemon.log()
    assert "job.abandoned" in daemon.log()
    assert "Traceback" not in daemon.log()


def test_a_second_sigterm_exits_at_once(served):
    project, server = served
    config = project / "config.yaml"
    text = config.read_text("utf-8").replace(f"{server.base}/seeds/", f"{server.base}/slow/")
    config.write_text(text.replace("stop_budget: 3s", "stop_budget: 60s"), "utf-8")
    daemon = Daemon(project)
    try:
        daemon.wait_log("service.started")
        time.sleep(1)  # the polls are hanging on the server
        daemon.process.send_signal(signal.SIGTERM)
        daemon.wait_log("service.stopping", 10)
        started = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.process.wait(timeout=10) != 0  # cut short: not a clean stop
        assert time.monotonic() - started < 5
    finally:
        daemon.kill()
    assert "service.killed" in daemon.log()


# --- starting on the last good rules ------------------------------------------------------


def break_rule(project: Path) -> tuple[Path, str]:
    rule = project / "rules" / "jo2024-security.yaml"
    good = rule.read_text(encoding="utf-8")
    rule.write_text(good.replace("priority: high", "priority: urgent"), encoding="utf-8")
    return rule, good


def test_a_daemon_starts_on_the_last_good_rules_when_rules_are_broken(project):
    assert run_cli(project, "run", "--once").returncode == 0  # validates, saves the snapshot
    break_rule(project)

    started = run_cli(project, "run", "--once")
    assert started.returncode == 0, started.stderr
    assert "jo2024-security.yaml:6" in started.stderr
    assert "running on the last good rules saved in the store" in started.stderr
    [logged] = [line for line in started.stderr.splitlines() if "rules.snapshot_used" in line]
    assert " ERROR " in logged and "rules=2" in logged
    assert "feed seed-fr:" in started.stdout

    status = run_cli(project, "status")
    assert "started on the last good rules saved in the store" in status.stdout
    # `check` validates what is on disk, snapshot or not.
    assert run_cli(project, "check").returncode == 1


def test_without_a_snapshot_broken_rules_still_stop_the_start(project):
    break_rule(project)
    result = run_cli(project, "run", "--once")
    assert result.returncode == 1
    assert "jo2024-security.yaml:6" in result.stderr and "last good rules" not in result.stderr


def test_the_snapshot_daemon_picks_up_the_fixed_files(project):
    assert run_cli(project, "run", "--once").returncode == 0
    rule, good = break_rule(project)

    async def scenario() -> None:
        config = load_config(project / "config.yaml")
        start = rules_for_start(config)
        assert start.refused is not None and len(start.rules.rules) == 2
        # Explanations name the real folder, not the temporary copy the snapshot was read from.
        assert all(r.source.startswith(str(config.rules_dir)) for r in start.rules.rules)
        service = Service(
            config,
            start.rules,
            parts=build_parts(config, start.rules, annotator=shared_annotator()),
            refused=start.refused,
            snapshot_saved_at=start.snapshot_saved_at,
        )
        try:
            is_healthy, details = service.health()
            assert is_healthy and details["status"] == "degraded"
            assert details["rules_from_snapshot"] is True
            assert "last good rules" in details["reasons"][0]
            rule.write_text(good.replace("name: ", "name: Fixed ", 1), encoding="utf-8")
            await service.reload_rules_if_changed()
            details = service.health()[1]
            assert details["rules_from_snapshot"] is False and details["rules_error"] is None
            saved = service.parts.store.rules_snapshot()
            assert saved is not None and "name: Fixed " in saved.files["jo2024-security.yaml"]
        finally:
            await service.close()

    asyncio.run(scenario())
