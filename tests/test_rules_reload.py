"""Reloading a rules folder: only the files that changed are parsed again, and the per-file
cache never serves what the disk no longer says (same size and time, deleted files, ids moved
between files, actors removed under cached rules). Real files in tmp_path."""

import os
from pathlib import Path

import pytest

from monitor.rules import RuleFolder, load_rules

ACTORS = """\
actors:
  - id: hammouchi
    name: Abdellatif Hammouchi
    type: person
    aliases: [Hammouchi]
  - id: dgst
    name: DGST
    type: org
"""


def rule_text(rule_id: str, term: str = "sécurité", actor: str | None = None) -> str:
    actors = f"  actors: {{any: [{actor}]}}\n" if actor else ""
    return f"id: {rule_id}\nname: Rule {rule_id}\nmatch:\n  any: [{term}]\n{actors}"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "actors.yaml").write_text(ACTORS, encoding="utf-8")
    for index in range(20):
        actor = "hammouchi" if index % 2 else None
        (rules / f"r{index:02d}.yaml").write_text(rule_text(f"r{index:02d}", actor=actor))
    return rules


def terms(loaded, rule_id: str) -> list[str]:
    rule = loaded.rules.rule(rule_id)
    assert rule is not None, rule_id
    items = [item for clause in rule.clause.items for item in clause.items]
    return [getattr(item, "text", None) or getattr(item, "actor_id", "") for item in items]


def test_a_reload_parses_only_the_file_that_changed(folder):
    cache = RuleFolder(folder)
    assert cache.load().parsed == 21  # 20 rules and actors.yaml
    assert cache.load().parsed == 0
    (folder / "r03.yaml").write_text(rule_text("r03", term="renseignement", actor="hammouchi"))
    loaded = cache.load()
    assert loaded.parsed == 1 and not loaded.errors
    assert terms(loaded, "r03") == ["renseignement", "hammouchi"]
    assert loaded.rules == load_rules(folder)  # the same set a cold load gives


def test_the_content_digest_catches_an_edit_that_keeps_size_and_time(folder):
    cache = RuleFolder(folder)
    cache.load()
    path = folder / "r04.yaml"
    before = path.stat()
    edited = rule_text("r04", term="sécuritÉ")
    assert len(edited.encode()) == before.st_size
    path.write_text(edited, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    loaded = cache.load()
    assert terms(loaded, "r04") == ["sécuritÉ"]
    assert loaded.texts["r04.yaml"] == edited


def test_a_deleted_file_takes_its_rule_with_it(folder):
    cache = RuleFolder(folder)
    cache.load()
    (folder / "r05.yaml").unlink()
    loaded = cache.load()
    assert loaded.rules.rule("r05") is None and len(loaded.rules.rules) == 19
    assert "r05.yaml" not in loaded.texts


def test_an_id_moved_between_files_is_checked_across_the_folder(folder):
    cache = RuleFolder(folder)
    cache.load()
    # r06.yaml takes r07's id while r07.yaml (cached, unchanged) still has it.
    (folder / "r06.yaml").write_text(rule_text("r07"))
    [duplicate] = cache.load().errors
    assert duplicate.path == str(folder / "r07.yaml") and duplicate.line == 1
    assert f"already defined at {folder / 'r06.yaml'}:1" in str(duplicate)
    # r07.yaml moves to a new id: both files load, each under its own id.
    (folder / "r07.yaml").write_text(rule_text("r07-renamed"))
    loaded = cache.load()
    assert not loaded.errors and loaded.parsed == 1
    assert [r.source for r in loaded.rules.rules if r.id.startswith("r07")] == [
        f"{folder / 'r06.yaml'}:1",
        f"{folder / 'r07.yaml'}:1",
    ]
    assert loaded.rules.rule("r06") is None


def test_an_actor_removed_under_a_cached_rule_fails_the_reload_with_file_and_line(folder):
    cache = RuleFolder(folder)
    assert not cache.load().errors
    (folder / "actors.yaml").write_text(
        ACTORS.split("  - id: dgst")[0].replace("hammouchi", "hamouchi")
    )
    loaded = cache.load()
    # Every rule naming the vanished actor is checked again and refused, with its line.
    assert len(loaded.errors) == 10
    first = loaded.errors[0]
    assert first.path == str(folder / "r01.yaml") and first.line == 5
    assert "undefined actor 'hammouchi'" in str(first) and "did you mean 'hamouchi'" in str(first)
    # Rules that name no actor were not parsed again.
    assert loaded.parsed == 1 + 10
    # Declaring the actor again makes the same cached files valid again.
    (folder / "actors.yaml").write_text(ACTORS)
    assert not cache.load().errors


def test_a_broken_file_keeps_failing_until_it_is_fixed(folder):
    cache = RuleFolder(folder)
    cache.load()
    path = folder / "r08.yaml"
    path.write_text(rule_text("r08").replace("name:", "nme:"))
    for _ in range(2):  # the second time from the cache, with the same message
        errors = cache.load().errors
        assert (str(path), 2, "nme") in [(e.path, e.line, e.key) for e in errors]
    path.write_text(rule_text("r08"))
    assert not cache.load().errors
