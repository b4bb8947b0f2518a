"""A crash between "sent" and "recorded" leads to exactly one resend with the same
Message-ID, never to a loss (docs/delivery.md).

The SMTP server (aiosmtpd on 127.0.0.1) accepts the message with 250, then SIGKILLs the
daemon when it says QUIT, that is after the 250 and before the outbox marks the row sent.
On both store backends: the SQLite file and a real PostgreSQL server.
"""

import email
import json
import os
import signal
import subprocess
import threading
import time
from email import policy

import pytest

from tests.conftest import MONITOR, LoopbackSMTP, run_monitor

LEASE_S = 2


class KillingOnQuit:
    """Records every message; on QUIT, kills the process named in `victim` once."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.victim: int | None = None
        self.killed = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(message)
        return "250 OK queued"

    async def handle_QUIT(self, server, session, envelope):
        if self.victim is not None and not self.killed.is_set():
            os.kill(self.victim, signal.SIGKILL)
            self.killed.set()
        return "221 Bye"


@pytest.fixture
def smtp_server():
    handler = KillingOnQuit()
    controller = LoopbackSMTP(handler)
    controller.start()
    yield handler, controller.port
    controller.stop()


def test_a_crash_after_the_250_resends_once_with_the_same_message_id(store_project, smtp_server):
    project = store_project
    handler, port = smtp_server
    config = project / "config.yaml"
    text = config.read_text("utf-8").replace(
        "to: {folder: var/outbox}", "to: {email: [desk@example.org]}", 1
    )
    # On PostgreSQL the killed daemon's lease on the row lapses before another sends it.
    config.write_text(
        text + f"\nsmtp: {{host: 127.0.0.1, port: {port}}}\nstore_lease: {LEASE_S}s\n", "utf-8"
    )

    daemon = subprocess.Popen(
        [*MONITOR, "run", "--once"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    handler.victim = daemon.pid
    daemon.communicate(timeout=240)
    assert daemon.returncode == -signal.SIGKILL
    assert handler.killed.is_set()
    assert len(handler.messages) == 1

    # The row was committed before the send and never marked sent: it is still owed.
    status = json.loads(run_monitor(project, "status", "--json").stdout)
    assert len(status["outbox"]["pending"]) == 1 and status["outbox"]["sent"] == 0

    if "postgresql" in config.read_text("utf-8"):
        time.sleep(LEASE_S + 0.5)
    restarted = run_monitor(project, "run", "--once")
    assert restarted.returncode == 0, restarted.stderr
    assert len(handler.messages) == 2
    first, resent = handler.messages
    assert first["Message-ID"] == resent["Message-ID"]
    assert first["Subject"] == resent["Subject"]

    # Nothing more afterwards: recorded as sent, nothing pending, nothing lost.
    again = run_monitor(project, "run", "--once")
    assert again.returncode == 0
    assert len(handler.messages) == 2
    status = json.loads(run_monitor(project, "status", "--json").stdout)
    assert status["outbox"]["sent"] == 1 and not status["outbox"]["pending"]
