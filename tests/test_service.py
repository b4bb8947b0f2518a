"""The daemon as a user runs it: a subprocess that polls, hot-reloads rules and stops cleanly."""

import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import MONITOR

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


def test_daemon_alerts_reloads_rules_keeps_last_good_set_and_stops_on_sigterm(project):
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("every: 5m", "every: 10s"), "utf-8")
    log_path = project / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [*MONITOR, "run"], cwd=project, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: len(emails(project)) == 1, 120, "the first alert")

        # A broken edit is refused with its file and line; the running rules stay.
        broken = project / "rules" / "om-security.yaml"
        broken.write_text(OM_RULE.replace("priority: high", "priority: urgent"), "utf-8")
        wait_for(lambda: "rules.rejected" in log_path.read_text(), 30, "the broken rule report")
        assert "om-security.yaml:3" in log_path.read_text()

        # The fixed rule takes effect for articles that arrive from now on.
        broken.write_text(OM_RULE, "utf-8")
        wait_for(lambda: "rules.reloaded" in log_path.read_text(), 30, "the rules reload")
        feed = project / "seeds" / "feeds" / "seed-fr.xml"
        feed.write_text(feed.read_text("utf-8").replace("</channel>", NEW_ITEM + "</channel>"))
        wait_for(lambda: len(emails(project)) == 2, 60, "the alert for the new item")
        assert "Vélodrome" in emails(project)[1].read_bytes().decode("utf-8", "replace") or (
            "V=C3=A9lodrome" in emails(project)[1].read_text("ascii", "replace")
        )

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=25) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    log_text = log_path.read_text()
    assert "service.stopped" in log_text
    assert "Traceback" not in log_text
