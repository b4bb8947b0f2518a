"""`monitor digest preview|send` and `monitor outbox retry`, run as a user runs them."""

import email
import json
from email import policy

from tests.conftest import run_monitor

SEED_TITLE = "Le réchauffement des relations franco-marocaines se confirme"


def messages(project):
    folder = project / "var" / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_preview_renders_the_daily_digest_without_sending_or_storing(project):
    assert run_monitor(project, "run", "--once").returncode == 0
    before = messages(project)
    result = run_monitor(
        project, "digest", "preview", "security-desk-daily", "--out", "preview.html"
    )
    assert result.returncode == 0, result.stderr
    # The shipped subscriptions are French: the subject names the rules, typeset in French.
    assert result.stdout.startswith("Subject: Security desk daily digest — JO 2024 security")
    assert "\u202f: 4 articles\n" in result.stdout
    assert SEED_TITLE in result.stdout
    assert "morocco-france-security" not in result.stdout  # rule names, not ids, are shown
    html = (project / "preview.html").read_text(encoding="utf-8")
    assert SEED_TITLE in html and "<mark" in html
    assert messages(project) == before


def test_send_delivers_the_digest_once_and_the_schedule_does_not_repeat_it(project):
    run_monitor(project, "run", "--once")
    first = run_monitor(project, "digest", "send", "security-desk-daily")
    assert first.returncode == 0, first.stderr
    assert "1 deliveries, 1 sent" in first.stdout
    digest = messages(project)[-1]
    with digest.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert SEED_TITLE in text
    again = run_monitor(project, "digest", "send", "security-desk-daily")
    assert "nothing new for 'security-desk-daily'" in again.stdout


def test_an_unknown_subscription_is_named(project):
    result = run_monitor(project, "digest", "preview", "nope")
    assert result.returncode == 1
    assert "no subscription 'nope'" in result.stderr and "security-desk-daily" in result.stderr


def test_outbox_retry_sends_a_dead_delivery_again(project):
    # A folder channel pointing at a file cannot be written: the delivery fails.
    config = project / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace("to: {folder: var/outbox}", "to: {folder: blocked}", 1)
    )
    (project / "blocked").write_text("a file where a folder should be")
    run_monitor(project, "run", "--once")
    report = json.loads(run_monitor(project, "status", "--json").stdout)
    pending = report["outbox"]["pending"] + report["outbox"]["dead"]
    assert len(pending) == 1 and pending[0]["last_error"]
    (project / "blocked").unlink()
    result = run_monitor(project, "outbox", "retry", pending[0]["id"][:8])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": sent")
    assert len(list((project / "blocked").glob("*.eml"))) == 1
    assert json.loads(run_monitor(project, "status", "--json").stdout)["outbox"]["sent"] == 1
