"""Reloading a rules folder: only the files that changed are parsed again, the per-file cache
never serves what the disk no longer says (same size and time, deleted files, ids moved
between files, actors removed under cached rules), and the daemon reloads in a worker thread,
one reload at a time, answering /healthz meanwhile. Real files in tmp_path, a real daemon."""

import asyncio
import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import Service, build_parts
from monitor.config import load_config
from monitor.rules import RuleFolder, load_rules
from tests.fixtures_nlp import shared_annotator
from tests.test_service import Daemon, get, served  # noqa: F401 (a fixture)

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
    os.utime(folder / "r02.yaml", ns=(1, 1))  # touched: a new time, the same content
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


# --- the daemon: reloads off the event loop ----------------------------------------------


def write_many_rules(rules: Path, count: int, term: str) -> None:
    for index in range(count):
        words = ", ".join(f"{term}{index % 97}-{n}" for n in range(6))
        (rules / f"bulk-{index:05d}.yaml").write_text(
            f"id: bulk-{index:05d}\nname: Bulk {index}\nlanguages: [fr]\n"
            f"match:\n  all:\n    - any: [{words}]\n    - any: [sécurité, gouvernement]\n"
            "  none: [billetterie]\n  near: sentence\n",
            encoding="utf-8",
        )


def test_an_edit_during_a_reload_is_read_by_the_next_and_reloads_never_overlap(
    project, monkeypatch
):
    config = load_config(project / "config.yaml")
    rules = load_rules(config.rules_dir)
    rule = config.rules_dir / "jo2024-security.yaml"
    good = rule.read_text(encoding="utf-8")

    async def scenario() -> None:
        service = Service(
            config, rules, parts=build_parts(config, rules, annotator=shared_annotator())
        )
        book = service.rules_book
        real_read = book.read
        read_done, proceed = threading.Event(), threading.Event()
        active, overlaps = [0], [0]

        def read(folder: Path):
            active[0] += 1
            overlaps[0] = max(overlaps[0], active[0])
            try:
                loaded = real_read(folder)
                read_done.set()
                proceed.wait(10)  # the first reload holds here, its files already read
                return loaded
            finally:
                active[0] -= 1

        monkeypatch.setattr(book, "read", read)
        try:
            rule.write_text(good.replace("name: ", "name: First ", 1), encoding="utf-8")
            first = asyncio.create_task(service.reload_rules_if_changed())
            assert await asyncio.to_thread(read_done.wait, 10)
            # Saved while the first reload is between its read and its swap.
            rule.write_text(good.replace("name: ", "name: Second edit ", 1), encoding="utf-8")
            second = asyncio.create_task(service.reload_rules_if_changed())
            await asyncio.sleep(0.2)
            proceed.set()
            await asyncio.gather(first, second)
            running = service.pipeline.rules.rule("jo2024-security")
            assert running is not None and running.name.startswith("Second edit ")
            assert overlaps[0] == 1
        finally:
            proceed.set()
            await service.close()

    asyncio.run(scenario())


def test_healthz_answers_while_the_daemon_reloads_thousands_of_rule_files(served):  # noqa: F811
    project, _ = served
    rules = project / "rules"
    write_many_rules(rules, 5000, "mot")
    daemon = Daemon(project)
    try:
        base = daemon.health_url().removesuffix("/healthz")
        daemon.wait_log("service.started", 120)
        write_many_rules(rules, 5000, "terme")  # every file changes: the reload reads them all
        latencies: list[float] = []
        deadline = time.monotonic() + 180
        while "rules.reloaded" not in daemon.log() and time.monotonic() < deadline:
            started = time.monotonic()
            status, _ = get(f"{base}/healthz")
            latencies.append(time.monotonic() - started)
            assert status == 200
            time.sleep(0.02)
        [reloaded] = [line for line in daemon.log().splitlines() if "rules.reloaded" in line]
        assert int(re.search(r"files_parsed=(\d+)", reloaded).group(1)) >= 5000
        cpu_s = int(re.search(r"cpu_ms=(\d+)", reloaded).group(1)) / 1000
        assert "rules=5002" in reloaded
        # The reload was long enough to measure, and health never waited for it.
        assert cpu_s > 0.4 and len(latencies) >= 5
        assert max(latencies) < cpu_s / 2, (max(latencies), cpu_s)
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_a_reload_saves_the_snapshot_only_when_the_texts_changed(project):
    config = load_config(project / "config.yaml")
    rules = load_rules(config.rules_dir)
    rule = config.rules_dir / "jo2024-security.yaml"
    times = iter(datetime(2025, 2, 10, hour, tzinfo=UTC) for hour in range(1, 24))

    async def scenario() -> None:
        service = Service(
            config,
            rules,
            parts=build_parts(config, rules, annotator=shared_annotator()),
            clock=lambda: next(times),
        )
        store = service.parts.store
        try:
            started = store.rules_snapshot()
            assert started is not None
            os.utime(rule)  # touched, not changed: reloaded, but nothing new to keep
            await service.reload_rules_if_changed()
            assert service.rules_watch.loaded_at != started.saved_at
            assert store.rules_snapshot() == started
            rule.write_text(rule.read_text("utf-8").replace("name: ", "name: New ", 1), "utf-8")
            await service.reload_rules_if_changed()
            saved = store.rules_snapshot()
            assert saved is not None and saved.saved_at > started.saved_at
            assert "name: New " in saved.files["jo2024-security.yaml"]
        finally:
            await service.close()

    asyncio.run(scenario())
