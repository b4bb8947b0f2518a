"""`monitor check` on a project with the mistakes users make: names that point at nothing,
addresses that are not addresses, several config errors at once, secrets not readable here.

Each test plants mistakes in the shipped project and reads `check`'s output as a user would.
"""

from pathlib import Path

from tests.conftest import run_cli

SMTP = (
    "smtp:\n  host: mail.example.org\n  port: 587\n  username: alerts@example.org\n"
    "  password: ${MONITOR_TEST_SMTP_PASSWORD}\n  from: alerts@example.org\n"
)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def lines(stderr: str) -> list[str]:
    return [line.removeprefix("monitor: ") for line in stderr.splitlines()]


def test_a_subscription_naming_a_missing_rule_or_tag_is_refused_with_a_suggestion(project):
    config = (project / "config.yaml").resolve()
    edit(
        config,
        "rules: [jo2024-security, morocco-france-security]",
        "rules: [jo2042-security, securty, nowhere]",
    )
    result = run_cli(project, "check")
    assert result.returncode == 1
    rules_dir = config.parent / "rules"
    assert lines(result.stderr) == [
        f"{config}:33: subscriptions['security-desk-daily'].rules: no rule has the id or tag "
        f"'jo2042-security' in {rules_dir} (did you mean 'jo2024-security'?)",
        f"{config}:33: subscriptions['security-desk-daily'].rules: no rule has the id or tag "
        f"'securty' in {rules_dir} (did you mean 'security'?)",
        f"{config}:33: subscriptions['security-desk-daily'].rules: no rule has the id or tag "
        f"'nowhere' in {rules_dir}",
    ]
    assert result.stdout == ""


def test_the_line_is_the_list_item_s_own_in_a_block_list(project):
    config = (project / "config.yaml").resolve()
    edit(
        config,
        "rules: [jo2024-security, morocco-france-security]",
        "rules:\n      - olympics\n      - moroco",
    )
    result = run_cli(project, "check")
    assert result.returncode == 1
    (line,) = lines(result.stderr)
    assert line.startswith(f"{config}:35: subscriptions['security-desk-daily'].rules: ")
    assert line.endswith(f"'moroco' in {config.parent / 'rules'} (did you mean 'morocco'?)")


def test_a_rule_naming_a_missing_feed_is_refused_with_a_suggestion(project):
    rule = (project / "rules" / "jo2024-security.yaml").resolve()
    edit(
        rule, "tags: [security, olympics]", "tags: [security, olympics]\nsources: [seed-fr, sed-fr]"
    )
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert lines(result.stderr) == [
        f"{rule}:4: rule 'jo2024-security': key 'sources': no feed has the id or tag 'sed-fr' "
        f"in {(project / 'config.yaml').resolve()} (did you mean 'seed-fr'?)"
    ]


def test_a_feed_tag_is_a_valid_source(project):
    edit(project / "config.yaml", "    language: fr\n", "    language: fr\n    tags: [maghreb]\n")
    edit(
        project / "rules" / "jo2024-security.yaml",
        "tags: [security, olympics]",
        "tags: [security, olympics]\nsources: [maghreb, wire-en]",
    )
    result = run_cli(project, "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 2 feeds, 2 subscriptions, 2 rules")


def test_an_undeclared_actor_is_refused_with_a_suggestion(project):
    rule = project / "rules" / "morocco-france-security.yaml"
    text = rule.read_text("utf-8")
    actor = text.split("actors:", 1)[1].split("[", 1)[1].split(",", 1)[0].split("]", 1)[0].strip()
    rule.write_text(text.replace(actor, actor[:-1] + "x", 1), "utf-8")
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert f"undefined actor '{actor[:-1]}x'" in result.stderr
    assert f"(did you mean '{actor}'?)" in result.stderr


def test_addresses_that_are_not_addresses_are_refused_naming_the_subscription(project, monkeypatch):
    monkeypatch.setenv("MONITOR_TEST_SMTP_PASSWORD", "x")
    config = project / "config.yaml"
    edit(
        config,
        "    to: {folder: var/outbox}\n",
        "    to: {email: [not-an-address, desk@example.org]}\n",
    )
    config.write_text(
        config.read_text("utf-8") + SMTP.replace("from: alerts@example.org", "from: also-bad"),
        "utf-8",
    )
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert lines(result.stderr) == [
        "config.yaml:28: subscriptions['security-desk-alerts'].to.email[0]: 'not-an-address' is "
        "not an email address (expected name@domain or Name <name@domain>, e.g. desk@example.org)",
        "config.yaml:52: smtp.from: 'also-bad' is not an email address (expected name@domain or "
        "Name <name@domain>, e.g. desk@example.org)",
    ]


def test_every_config_error_is_reported_at_once_in_plain_words(project):
    config = project / "config.yaml"
    edit(config, "every: 5m", "evry: 5m")
    edit(config, "immediate: high", "immediate: urgent")
    edit(
        config,
        "    to: {folder: var/outbox}\n\n  # Every",
        "    to: {folder: var/outbox, webhook: {url: ftp://x}}\n\n  # Every",
    )
    edit(config, "timezone: Europe/Paris", "timezone: Europe/Paris\n    max_items: many")
    config.write_text(config.read_text("utf-8") + "fecth:\n  timeout_s: 5\n", "utf-8")
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert lines(result.stderr) == [
        "config.yaml:14: feeds['seed-fr'].evry: unknown key (did you mean 'every'?)",
        "config.yaml:27: subscriptions['security-desk-alerts'].immediate: should be 'low', "
        "'normal' or 'high', got 'urgent'",
        "config.yaml:28: subscriptions['security-desk-alerts'].to.webhook.url: should start "
        "with http:// or https://, got 'ftp://x'",
        "config.yaml:36: subscriptions['security-desk-daily'].max_items: should be a whole "
        "number, got 'many'",
        "config.yaml:48: fecth: unknown key (did you mean 'fetch'?)",
    ]
    for internal in ("Input should", "ChannelSpec", "Spec", "pydantic", "errors.pydantic.dev"):
        assert internal not in result.stderr


def test_a_to_entry_naming_two_kinds_says_which(project):
    edit(
        project / "config.yaml",
        "    to: {folder: var/outbox}\n",
        "    to: [{folder: out}, {folder: var/outbox, email: [a@example.org]}]\n",
    )
    result = run_cli(project, "check")
    assert lines(result.stderr) == [
        "config.yaml:28: subscriptions['security-desk-alerts'].to[1]: each 'to' entry names "
        "exactly one of folder, email, webhook, apprise (this one names folder and email)"
    ]


def test_check_and_status_work_without_the_secrets_and_run_refuses(project):
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8") + SMTP, "utf-8")
    missing = (
        "config.yaml:51: secret 'MONITOR_TEST_SMTP_PASSWORD' is not set in the environment "
        "(needed by smtp.password)"
    )

    check = run_cli(project, "check")
    assert check.returncode == 0, check.stderr
    assert lines(check.stderr) == [f"{missing}; `monitor run` will not start without it"]
    assert check.stdout.startswith("ok: 2 feeds, 2 subscriptions, 2 rules")
    assert "1 secrets not readable here" in check.stdout

    status = run_cli(project, "status")
    assert status.returncode == 0, status.stderr
    assert lines(status.stderr) == [missing]
    assert "seed-fr" in status.stdout

    run = run_cli(project, "run", "--once")
    assert run.returncode == 1
    assert lines(run.stderr) == [missing]


def test_an_unreadable_password_file_is_reported_by_check(project):
    config = project / "config.yaml"
    config.write_text(
        config.read_text("utf-8")
        + SMTP.replace(
            "password: ${MONITOR_TEST_SMTP_PASSWORD}", "password_file: /nonexistent/smtp"
        ),
        "utf-8",
    )
    check = run_cli(project, "check")
    assert check.returncode == 0, check.stderr
    assert lines(check.stderr) == [
        "config.yaml:51: secret file '/nonexistent/smtp' cannot be read: No such file or "
        "directory (needed by smtp.password_file); `monitor run` will not start without it"
    ]
    assert run_cli(project, "run", "--once").returncode == 1


def test_the_daemon_starts_but_warns_about_a_subscription_naming_a_missing_rule(project):
    edit(
        project / "config.yaml",
        "rules: [jo2024-security, morocco-france-security]",
        "rules: [jo2024-security, nowhere]",
    )
    result = run_cli(project, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "monitor: warning: " in result.stderr
    assert (
        "subscriptions['security-desk-daily'].rules: no rule has the id or tag 'nowhere'"
        in result.stderr
    )
