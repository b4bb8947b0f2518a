"""`monitor store copy`: a SQLite store filled by a real `monitor run --once` (plus feedback,
a mute, a spike) copied into a new database on a real PostgreSQL server gives the same
`monitor status`, and a run on the copy sends nothing again; a filled target, a running
daemon and a wrong source are refused."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app.lock import StoreLock
from monitor.model import SpikeAlert
from monitor.store import COPIED_TABLES, SpikeState, Store
from tests.conftest import run_cli, use_store
from tests.web_harness import seed_project

NOW = datetime(2023, 6, 14, 12, 0, tzinfo=UTC)
TWICE_TOLD = "g:0781898ac9e3242f7082912d6c848ad7"
JO = "jo2024-security"


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """The seed project after a real run on SQLite, with a verdict, a mute and a spike."""
    (tmp_path / "sqlite").mkdir()
    project = seed_project(tmp_path / "sqlite", hostile=True)
    store = Store(project / "var" / "monitor.db")
    try:
        assert store.record_verdict(TWICE_TOLD, JO, "relevant", NOW, by="analyst@desk")
        article = store.article(TWICE_TOLD)
        assert article is not None
        assert store.mute_story(article.story_id, NOW, rule_id=JO)
        fired = SpikeAlert(JO, JO, "JO 2024 security", NOW, 3600, 7, 3, 1.0, 0.5)
        state = SpikeState(JO, NOW, "cooling", 7, 3, 1.0, 0.5, NOW, NOW + timedelta(hours=6))
        store.save_spike_checks([state], [fired])
        store.set_note("copied_from", NOW.isoformat())
    finally:
        store.close()
    return project


def status_of(project: Path) -> dict:
    """`status --json` without what differs between two stores by nature: the moment it
    was made, the daemon line (a PostgreSQL store has no lock) and the store's name."""
    result = run_cli(project, "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for volatile in ("generated_at", "daemon", "store"):
        report.pop(volatile, None)
    return report


def alerts(project: Path) -> list[str]:
    return sorted(path.name for path in (project / "var" / "outbox").glob("*"))


def copy(project: Path, target: str, *extra: str):
    source = f"sqlite:///{project / 'var' / 'monitor.db'}"
    return run_cli(project, "store", "copy", source, target, *extra)


def test_a_copied_store_gives_the_same_status_and_sends_nothing_again(filled, pg_databases):
    target = pg_databases.server.socket_url(pg_databases.create(migrated=False))
    expected = status_of(filled)
    sent = alerts(filled)
    assert sent and any(name.endswith(".eml") for name in sent)

    result = copy(filled, target)
    assert result.returncode == 0, result.stderr
    # Not a terminal here: plain lines, one per table at least, never a redrawn bar.
    assert "\r" not in result.stderr
    articles = re.findall(r"store copy: articles (\d+)/(\d+) rows\n", result.stderr)
    assert articles[0][0] == "0" and articles[-1][0] == articles[-1][1] != "0", result.stderr
    assert "every table's rows are in the target" in result.stdout

    on_postgresql = filled.parent / "postgresql"
    shutil.copytree(filled, on_postgresql, ignore=shutil.ignore_patterns("monitor.db*"))
    use_store(on_postgresql, target)
    assert status_of(on_postgresql) == expected
    # The copy knows what was sent: a run on it polls, matches and sends nothing new.
    run = run_cli(on_postgresql, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert alerts(on_postgresql) == sent
    store = Store(target)
    try:
        # What the copy keeps beyond status: the search index, the mute, the verdict.
        found = store._query(
            "SELECT COUNT(*) AS n FROM articles AS a WHERE "
            "monitor_search_document(a.title, a.summary, a.body) @@ "
            "phraseto_tsquery('monitor_french', 'hammouchi')"
        )
        assert found[0]["n"] >= 1
        article = store.article(TWICE_TOLD)
        assert article is not None and store.muted_story_ids([article.story_id])
        assert store.verdicts_for([TWICE_TOLD]) == {(TWICE_TOLD, JO): "relevant"}
        assert store.spike_states()[JO].state == "cooling"
        assert store.notes()["copied_from"] == NOW.isoformat()
    finally:
        store.close()


def test_a_filled_target_is_refused_unless_copying_into_it(filled, pg_url):
    assert copy(filled, pg_url).returncode == 0
    again = copy(filled, pg_url)
    assert again.returncode == 3
    assert "already holds" in again.stderr and "--into-existing" in again.stderr
    into = copy(filled, pg_url, "--into-existing")
    assert into.returncode == 0, into.stderr
    assert "every table's rows are in the target" in into.stdout


def test_a_store_a_daemon_holds_is_not_copied(filled, pg_url):
    lock = StoreLock(filled / "var" / "monitor.db")
    lock.acquire()
    try:
        result = copy(filled, pg_url)
    finally:
        lock.release()
    assert result.returncode == 3
    assert "a monitor daemon (pid" in result.stderr and "stop it" in result.stderr


def test_the_source_must_be_an_existing_sqlite_file(project, pg_url):
    missing = run_cli(project, "store", "copy", "sqlite:///nowhere/monitor.db", pg_url)
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    wrong = run_cli(project, "store", "copy", pg_url, pg_url)
    assert wrong.returncode == 3 and "must be SQLite" in wrong.stderr


def test_every_table_of_the_postgresql_schema_is_copied(pg_url):
    store = Store(pg_url)
    try:
        rows = store._query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    finally:
        store.close()
    # Sketches and bands are copied with the target's own ids; meta holds the notes. The
    # lease tables hold running daemons' claims on work, which a SQLite store never has.
    # The search documents are the target's own (its trigger writes them as articles are
    # copied), and a cursor is a sequence number of one store: the copy's first pass reads
    # every match, the ledger keeping what was sent from going again.
    assert {row["tablename"] for row in rows} == {
        *COPIED_TABLES,
        "story_sketches",
        "story_bands",
        "meta",
        "feed_leases",
        "subscription_leases",
        "digest_slots",
        "article_search",
        "owed_cursors",
    }
