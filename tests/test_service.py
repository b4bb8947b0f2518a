"""The daemon as a user runs it: a subprocess that polls a local feed server, hot-reloads
rules and config, reports health and metrics, refuses a second instance and stops cleanly."""

import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MONITOR, FeedServer, run_monitor

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
