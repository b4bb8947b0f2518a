"""The daemon on a PostgreSQL store, as a user configures it: `store: postgresql://…` in
config.yaml, the password in PGPASSWORD. A wrong URL is refused by `check` and `run` with
the server named and the password hidden, never by quietly writing a local SQLite file;
a right one runs the seed project as SQLite does."""

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli, use_store
from tests.pg_server import PASSWORD

SECRET = "pw-never-shown"


def files_in(project: Path) -> set[Path]:
    return {path.relative_to(project) for path in project.rglob("*")}


def refused(project: Path, store: str) -> list[str]:
    """`check` and `run --once` on `store`: their error lines, once each has exited 1."""
    use_store(project, store)
    before = files_in(project)
    messages = []
    for command in (("check",), ("run", "--once")):
        result = run_cli(project, *command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert SECRET not in result.stderr + result.stdout
        messages.append(result.stderr)
    # Never a fallback: no SQLite file (nor a folder named after the URL) appeared.
    assert files_in(project) == before
    return messages


def test_a_store_of_an_unknown_kind_is_refused_at_its_line(project):
    for message in refused(project, f"mysql://desk:{SECRET}@db.example/monitor"):
        assert re.search(r"config\.yaml:5: .*unknown kind of store 'mysql'", message), message


def test_an_unreachable_server_is_refused_by_check_and_run(project):
    for message in refused(project, f"postgresql://desk:{SECRET}@127.0.0.1:1/monitor"):
        assert (
            "cannot connect to PostgreSQL database 'monitor' on 127.0.0.1:1 as user 'desk'"
            in message
        )
        assert "that the server is running" in message


def test_a_refused_login_is_refused_by_check_and_run(project, pg_server):
    for message in refused(project, pg_server.tcp_url("postgres", password=SECRET)):
        assert f"database 'postgres' on 127.0.0.1:{pg_server.port} as user 'monitor'" in message
        assert "password authentication failed" in message and "PGPASSWORD" in message


def test_a_missing_database_is_refused_by_check_and_run(project, pg_server, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    for message in refused(project, pg_server.tcp_url("no_such_database")):
        assert 'database "no_such_database" does not exist' in message
        assert "createdb" in message


def seed_run(project: Path) -> tuple[list[str], dict]:
    """`run --once` then `status --json` on the project: the alerts' subjects and the
    status with the moments of this run (poll times, generation) left out."""
    run = run_cli(project, "run", "--once")
    assert run.returncode == 0, run.stderr
    outbox = sorted((project / "var" / "outbox").glob("*.eml"))
    subjects = sorted(
        next(line for line in path.read_text("utf-8").splitlines() if line.startswith("Subject:"))
        for path in outbox
    )
    status = run_cli(project, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    report.pop("generated_at")
    report.pop("daemon")
    moments = re.compile(r'"\d{4}-\d\d-\d\dT[^"]+"')
    return subjects, json.loads(moments.sub('"<moment>"', json.dumps(report)))


def test_the_seed_project_runs_on_postgresql_as_on_sqlite(project, pg_databases, monkeypatch):
    on_sqlite = project.parent / "on-sqlite"
    shutil.copytree(project, on_sqlite)
    database = pg_databases.create(migrated=False)  # the daemon migrates it at start
    use_store(project, pg_databases.server.tcp_url(database))
    monkeypatch.setenv("PGPASSWORD", PASSWORD)

    assert run_cli(project, "check").returncode == 0
    subjects, status = seed_run(project)
    expected_subjects, expected_status = seed_run(on_sqlite)

    assert subjects and subjects == expected_subjects
    assert any("JO 2024" in subject for subject in subjects)  # the seed's immediate alert
    assert status == expected_status
    assert not (project / "var" / "monitor.db").exists()
    text = run_cli(project, "status").stdout
    assert "DAEMON  not known (a PostgreSQL store has no daemon lock)" in text
    # A second run finds everything delivered: nothing is sent twice.
    assert run_cli(project, "run", "--once").returncode == 0
    assert len(list((project / "var" / "outbox").glob("*.eml"))) == len(subjects)


@pytest.mark.parametrize("store", ["var/other.db", "sqlite:///var/other.db"])
def test_a_sqlite_store_is_a_path_or_a_sqlite_url_beside_the_config(project, store):
    use_store(project, store)
    assert run_cli(project, "run", "--once").returncode == 0
    assert (project / "var" / "other.db").is_file()
