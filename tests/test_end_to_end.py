"""`monitor run --once` and `monitor check` on the shipped configuration, as a user runs them.

The first run, the clean check and one broken rule go through a real `monitor` process (they
prove the command itself works); the rest run in-process, which is the same code without the
start-up and model load.
"""

import email
from email import policy
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT, run_cli, run_monitor
from tests.mail_reader import plain_text

EXPECTED = YAML(typ="safe").load((ROOT / "seeds" / "expected.yaml").read_text(encoding="utf-8"))
SEED_TITLE = "Le réchauffement des relations franco-marocaines se confirme"


def outbox_files(project: Path) -> list[Path]:
    folder = project / "var" / "outbox"
    return sorted(folder.iterdir()) if folder.exists() else []


def read_message(path: Path) -> tuple[email.message.EmailMessage, str, str]:
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=policy.default)
    text = plain_text(message)  # as a format=flowed reader joins the 72-column lines
    html = message.get_body(("html",)).get_content()
    return message, text, html


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One `run --once` (a real process) then a second one on the same state, shared below."""
    import shutil

    from tests.conftest import ROOT as root

    project = tmp_path_factory.mktemp("project")
    shutil.copy(root / "config.yaml", project / "config.yaml")
    for folder in ("rules", "templates", "seeds"):
        shutil.copytree(root / folder, project / folder)
    first = run_monitor(project, "run", "--once")
    after_first = outbox_files(project)
    second = run_cli(project, "run", "--once")
    return project, first, after_first, second


def test_first_run_writes_one_immediate_alert_as_eml_and_html(first_run):
    _, first, after_first, _ = first_run
    assert first.returncode == 0, first.stderr
    assert [path.suffix for path in after_first] == [".eml", ".html"]
    assert after_first[0].stem == after_first[1].stem
    assert "deliveries: 1 new" in first.stdout


def test_the_alert_lists_the_seed_article_under_its_rule_with_the_terms_that_hit(first_run):
    _, _, after_first, _ = first_run
    message, text, html = read_message(after_first[0])
    assert message.get_content_type() == "multipart/alternative"
    assert "JO 2024 security" in message["Subject"]
    for part in (text, html):
        assert SEED_TITLE in part
        assert "JO 2024 security" in part
        assert "sécurité" in part and "JO 2024" in part
    assert "<mark" in html  # the matched words are highlighted
    assert after_first[1].read_text(encoding="utf-8").count(SEED_TITLE) >= 1


def test_the_alert_lists_every_expected_hit_and_none_of_the_near_misses(first_run):
    _, _, after_first, _ = first_run
    _, text, html = read_message(after_first[0])
    for item in EXPECTED:
        shown = item["title_text"] in text
        if item["expect"]["jo2024-security"] and item.get("role") != "syndicated-copy":
            assert shown, f"expected hit missing: {item['title_text']}"
        elif not item["expect"]["jo2024-security"]:
            assert not shown, f"near-miss alerted: {item['title_text']}"
            assert item["title_text"] not in html


def test_the_syndicated_copy_is_folded_into_the_original_story(first_run):
    _, _, after_first, _ = first_run
    _, text, _ = read_message(after_first[0])
    (copy,) = [item for item in EXPECTED if item.get("role") == "syndicated-copy"]
    assert copy["title_text"] not in text
    assert "Aussi couvert par 1 média\u202f:" in text  # the shipped subscriptions read French


def test_a_second_run_sends_nothing_new(first_run):
    project, _, after_first, second = first_run
    assert second.returncode == 0, second.stderr
    assert outbox_files(project) == after_first
    assert "deliveries: 0 new" in second.stdout


def test_check_accepts_the_shipped_configuration(project):
    result = run_monitor(project, "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 2 feeds, 2 subscriptions")


def test_check_names_file_and_line_of_a_yaml_syntax_error(project):
    broken = project / "rules" / "broken.yaml"
    broken.write_text("id: broken\nname: Broken\nmatch:\n  any: [JO 2024, sécurité\n", "utf-8")
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert "rules/broken.yaml:" in result.stderr
    line = result.stderr.split("rules/broken.yaml:", 1)[1].split(":", 1)[0]
    assert line.isdigit() and int(line) >= 4


def test_check_names_file_and_line_of_an_unknown_key(project):
    typo = project / "rules" / "typo.yaml"
    typo.write_text(
        "id: typo\nname: Typo\npriorty: high\nmatch:\n  any: [sécurité]\n", encoding="utf-8"
    )
    result = run_monitor(project, "check")
    assert result.returncode == 1
    assert "rules/typo.yaml:3:" in result.stderr
    assert "priorty" in result.stderr and "priority" in result.stderr


def test_run_refuses_to_start_on_broken_rules(project):
    (project / "rules" / "typo.yaml").write_text("id: typo\nname: T\nmatch: {any: []}\n", "utf-8")
    result = run_cli(project, "run", "--once")
    assert result.returncode == 1
    assert "rules/typo.yaml:" in result.stderr
    assert not outbox_files(project)


def test_check_names_file_and_line_of_a_config_mistake(project):
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("every: 5m", "evry: 5m", 1), "utf-8")
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert "config.yaml:" in result.stderr and "evry" in result.stderr


def test_an_unknown_command_is_a_usage_error(project):
    result = run_cli(project, "chek")
    assert result.returncode == 2
    assert "invalid choice: 'chek'" in result.stderr
