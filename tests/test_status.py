"""`monitor status` after a run: what a user checks when they wonder if it works.

One `monitor status` runs as a real process (the table a user reads); the rest run in-process.
"""

import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.app.lock import StoreLock
from tests.conftest import run_cli, run_monitor


def test_status_after_a_run_shows_feeds_subscriptions_and_outbox(project):
    assert run_cli(project, "run", "--once").returncode == 0
    result = run_monitor(project, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    seed = next(line for line in lines if line.startswith("seed-fr"))
    assert " 0 " in seed  # error streak
    daily = next(line for line in lines if line.startswith("security-desk-daily"))
    assert "0 8 * * * Europe/Paris" in daily
    assert "OUTBOX  sent: 1  pending: 0  dead: 0" in result.stdout


def test_status_json_is_machine_readable(project):
    run_cli(project, "run", "--once")
    report = json.loads(run_cli(project, "status", "--json").stdout)
    feeds = {feed["id"]: feed for feed in report["feeds"]}
    assert feeds["wire-en"]["last_success_at"] and feeds["wire-en"]["last_error"] is None
    daily = next(s for s in report["subscriptions"] if s["id"] == "security-desk-daily")
    # 08:00 in Paris is 06:00 or 07:00 UTC depending on daylight saving time.
    assert daily["next_digest_at"][11:16] in {"06:00", "07:00"}
    assert report["outbox"]["sent"] == 1


def test_a_broken_feed_shows_its_error_and_streak_without_stopping_the_other(project):
    config = project / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace("seeds/feeds/wire-en.atom", "seeds/feeds/missing.atom"),
        "utf-8",
    )
    run = run_cli(project, "run", "--once")
    assert run.returncode == 0
    assert "feed wire-en: failed" in run.stdout
    assert "deliveries: 1 new" in run.stdout  # the other feed still alerts
    report = json.loads(run_cli(project, "status", "--json").stdout)
    feeds = {feed["id"]: feed for feed in report["feeds"]}
    assert feeds["wire-en"]["error_streak"] == 1
    assert "missing.atom" in feeds["wire-en"]["last_error"]
    assert feeds["seed-fr"]["error_streak"] == 0


def test_status_still_works_when_the_rules_on_disk_are_broken(project):
    run_cli(project, "run", "--once")
    (project / "rules" / "bad.yaml").write_text("id: bad\nname: Bad\nmatch: {any: []}\n")
    result = run_cli(project, "status")
    assert result.returncode == 0
    assert "rules/bad.yaml" in result.stderr
    assert "FEEDS" in result.stdout


def test_status_says_whether_a_daemon_holds_the_store(project):
    assert (
        "DAEMON  not running (no process holds the store lock)" in run_cli(project, "status").stdout
    )
    lock = StoreLock(project / "var" / "monitor.db")  # what `monitor run` takes at start
    lock.acquire()
    try:
        shown = run_cli(project, "status")
        report = json.loads(run_cli(project, "status", "--json").stdout)
    finally:
        lock.release()
    assert f"DAEMON  running (pid {os.getpid()})" in shown.stdout
    assert report["daemon"] == {"running": True, "pid": str(os.getpid())}
    assert "DAEMON  not running" in run_cli(project, "status").stdout


def test_status_counts_valid_rule_files_and_names_the_broken_one(project):
    rules = project / "rules"
    (rules / "port.yaml").write_text(
        "id: port\nname: Port\nmatch: {any: [port]}\n", encoding="utf-8"
    )
    (rules / "broken.yaml").write_text("id: broken\nname: Broken\nmatch: {any: [\n", "utf-8")

    result = run_cli(project, "status")
    report = json.loads(run_cli(project, "status", "--json").stdout)

    assert result.returncode == 0
    assert "RULES  3 of 4 rule files valid on disk" in result.stdout
    assert f"  broken: {project / 'rules' / 'broken.yaml'}" in result.stdout
    assert "broken.yaml" in result.stderr  # the error itself, with its line
    assert (report["rules"]["files"], report["rules"]["valid_files"]) == (4, 3)


def test_next_digest_times_are_shown_in_the_subscriptions_time_zone(project):
    shown = run_cli(project, "status").stdout
    report = json.loads(run_cli(project, "status", "--json").stdout)

    daily = next(s for s in report["subscriptions"] if s["id"] == "security-desk-daily")
    local = datetime.fromisoformat(daily["next_digest_local"])
    assert (local.hour, local.minute) == (8, 0)
    assert local == datetime.fromisoformat(daily["next_digest_at"])
    line = next(line for line in shown.splitlines() if line.startswith("security-desk-daily"))
    zone = local.astimezone(ZoneInfo("Europe/Paris")).strftime("%Z")  # CET or CEST
    assert (
        f"{local:%Y-%m-%d} 08:00 {zone} ({datetime.fromisoformat(daily['next_digest_at']):%H:%M}Z)"
        in line
    )
