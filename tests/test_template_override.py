"""A subscription's own templates override the configured ones, one file at a time."""

from tests.conftest import run_cli


def test_a_subscription_folder_overrides_only_the_templates_it_has(project):
    custom = project / "desk-templates"
    custom.mkdir()
    (custom / "alert.txt.j2").write_text(
        "DESK ALERT: {{ digest.article_count }} articles\n"
        "{% for group in digest.groups %}{% for item in group.entries %}"
        "- {{ item.title }}\n{% endfor %}{% endfor %}",
        encoding="utf-8",
    )
    config = project / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace(
            "    immediate: high\n", "    immediate: high\n    templates: desk-templates\n", 1
        ),
        "utf-8",
    )
    assert run_cli(project, "check").returncode == 0
    result = run_cli(project, "run", "--once")
    assert result.returncode == 0, result.stderr
    (message,) = (project / "var" / "outbox").glob("*.eml")
    raw = message.read_text("utf-8", "replace")
    assert "DESK ALERT: 3 articles" in raw
    (preview,) = (project / "var" / "outbox").glob("*.html")
    assert "JO 2024 security" in preview.read_text("utf-8")  # HTML still from the default set


def test_a_broken_override_is_named_by_check(project):
    custom = project / "desk-templates"
    custom.mkdir()
    (custom / "alert.txt.j2").write_text("{% for x in %}\n", encoding="utf-8")
    config = project / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace(
            "    immediate: high\n", "    immediate: high\n    templates: desk-templates\n", 1
        ),
        "utf-8",
    )
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert "desk-templates/alert.txt.j2:1" in result.stderr
