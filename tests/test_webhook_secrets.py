"""Webhook secrets every Standard Webhooks verifier accepts: `monitor webhook new-secret`
makes one, `check` and `run` refuse a secret receivers could not verify with, and a request
signed with a generated secret verifies with the `standardwebhooks` library itself."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from monitor.deliver.channels import WebhookChannel
from monitor.model import Delivery, Message
from monitor.targets import WebhookTarget
from tests.conftest import run_cli
from tests.test_check import edit, lines
from tests.test_webhook_delivery import ScriptedReceiver, serve

ALERTS_TO = "    to: {folder: var/outbox}\n\n  # Every"
WEBHOOK_TO = (
    "    to: {webhook: {url: 'https://hooks.example.org/monitor', secret: '%s'}}\n\n  # Every"
)
SECRET_LINE = "config.yaml:28: subscriptions['security-desk-alerts'].to.webhook.secret"
HINT = "; generate one with `monitor webhook new-secret`"


def new_secret(project) -> str:
    result = run_cli(project, "webhook", "new-secret")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_new_secret_prints_a_fresh_standard_webhooks_secret_and_says_where_it_goes(project):
    result = run_cli(project, "webhook", "new-secret")
    assert result.returncode == 0
    [secret] = result.stdout.splitlines()  # alone on stdout: `$(monitor webhook new-secret)`
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret(project) != secret
    assert "environment" in result.stderr
    assert 'secret: "${WEBHOOK_SECRET}"' in result.stderr


def test_a_generated_secret_passes_check(project, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRET", new_secret(project))
    edit(project / "config.yaml", ALERTS_TO, WEBHOOK_TO % "${WEBHOOK_SECRET}")
    result = run_cli(project, "check")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (
            "correct horse battery staple",
            "the webhook secret is not a Standard Webhooks secret (it should start with "
            "'whsec_', which receivers' libraries expect)",
        ),
        ("whsec_not*base64", "the webhook secret's text after 'whsec_' is not base64"),
        (
            "whsec_" + base64.b64encode(b"sixteen bytes!!!").decode(),
            "the webhook secret holds a 16-byte key; Standard Webhooks asks for 24 to 64 bytes",
        ),
    ],
    ids=["plain", "not-base64", "short"],
)
def test_check_and_run_refuse_a_secret_receivers_cannot_verify_with(
    project, monkeypatch, secret, problem
):
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    edit(project / "config.yaml", ALERTS_TO, WEBHOOK_TO % "${WEBHOOK_SECRET}")
    for command in ("check", "run"):
        result = run_cli(project, command, *(["--once"] if command == "run" else []))
        assert result.returncode == 1, command
        assert lines(result.stderr) == [f"{SECRET_LINE}: {problem}{HINT}"], command
        assert secret.removeprefix("whsec_") not in result.stderr + result.stdout


def test_check_without_the_secret_in_its_environment_only_notes_it(project, monkeypatch):
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    edit(project / "config.yaml", ALERTS_TO, WEBHOOK_TO % "${WEBHOOK_SECRET}")
    result = run_cli(project, "check")
    assert result.returncode == 0, result.stderr
    assert lines(result.stderr) == [
        "config.yaml:28: secret 'WEBHOOK_SECRET' is not set in the environment (needed by "
        "subscriptions['security-desk-alerts'].to.webhook.secret); `monitor run` will not "
        "start without it"
    ]


def test_a_request_signed_with_a_generated_secret_verifies_with_standardwebhooks(project):
    secret = new_secret(project)
    for receiver in serve(ScriptedReceiver(secret=secret)):
        assert isinstance(receiver, ScriptedReceiver)
        target = WebhookTarget(url=receiver.url, secret=secret, allow_private=True)
        message = Message("s", "t", "h", b'{"type":"alert","articles":[]}')
        moment = datetime.now(UTC)
        delivery = Delivery("d-1", "security-desk", target, message, ("a",), moment)
        asyncio.run(WebhookChannel(timeout_s=5).send(delivery))
        [(headers, body, is_valid)] = receiver.requests
        assert is_valid  # the receiver checked it with Webhook(secret).verify
        assert Webhook(secret).verify(body, headers) == {"type": "alert", "articles": []}
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
