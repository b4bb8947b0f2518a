"""Hostile and broken files: a store that cannot be written, rule files that leave their
folder, a local feed that is a FIFO. Each gives one line naming the path, never a traceback
or a hang. Real files in tmp_path; as root, `chattr +i` stands in for a read-only folder."""

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` cannot be written, even by root (who ignores the permission bits)."""
    immutable = os.geteuid() == 0
    if immutable:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        probe = path / ".probe" if path.is_dir() else path
        with pytest.raises(OSError):
            probe.open("a").close()
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o755 if path.is_dir() else 0o644)


def assert_one_line(stderr: str, *needles: str) -> None:
    lines = [line for line in stderr.splitlines() if line.startswith("monitor: ")]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# --- the store ----------------------------------------------------------------------------


def test_a_read_only_store_folder_is_one_line_and_a_runtime_exit_code(project):
    (project / "var").mkdir(exist_ok=True)
    with read_only(project / "var"):
        result = run_cli(project, "run", "--once")
    assert result.returncode == 3
    assert_one_line(result.stderr, f"'{project / 'var'}'", "writable")


def test_an_existing_store_in_a_read_only_folder_names_the_database(project):
    # The lock file exists, but SQLite cannot create its -wal and -shm files beside the store.
    assert run_cli(project, "run", "--once").returncode == 0
    for extra in ("monitor.db-wal", "monitor.db-shm"):
        (project / "var" / extra).unlink(missing_ok=True)
    with read_only(project / "var"):
        result = run_cli(project, "run", "--once")
        status = run_cli(project, "status")
    assert result.returncode == status.returncode == 3
    assert_one_line(result.stderr, f"'{project / 'var' / 'monitor.db'}'", "writable")
    assert_one_line(status.stderr, f"'{project / 'var' / 'monitor.db'}'", "writable")


def test_a_read_only_lock_file_is_one_line_not_a_traceback(project):
    assert run_cli(project, "run", "--once").returncode == 0
    lock = project / "var" / "monitor.db.lock"
    with read_only(lock):
        result = run_cli(project, "run", "--once")
    assert result.returncode == 3
    assert_one_line(result.stderr, f"lock file '{lock}'", "writable")


def test_a_store_whose_folder_is_a_file_is_one_line(project):
    (project / "var").write_text("not a folder\n", encoding="utf-8")
    result = run_cli(project, "run", "--once")
    assert result.returncode == 3
    assert_one_line(result.stderr, str(project / "var"))


# --- rule files -------------------------------------------------------------------------------


def test_a_rule_file_linking_out_of_the_rules_folder_is_refused_with_its_name(project, tmp_path):
    outside = tmp_path / "elsewhere.yaml"
    shutil.copy(project / "rules" / "jo2024-security.yaml", outside)
    (project / "rules" / "jo2024-security.yaml").unlink()
    (project / "rules" / "linked.yaml").symlink_to(outside)
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert "rules/linked.yaml" in result.stderr
    assert "outside the rules folder" in result.stderr


def test_a_link_inside_the_rules_folder_is_still_a_rule(project):
    rules = project / "rules"
    (rules / "jo2024-security.yaml").rename(rules / ".real.yaml")
    (rules / "jo2024-security.yaml").symlink_to(rules / ".real.yaml")
    result = run_cli(project, "check")
    assert result.returncode == 0, result.stderr


def test_a_fifo_in_the_rules_folder_is_reported_not_read(project):
    os.mkfifo(project / "rules" / "pipe.yaml")
    result = run_in_thread(lambda: run_cli(project, "check"))
    assert result.returncode == 1
    assert "pipe.yaml" in result.stderr and "not a regular file" in result.stderr


# --- local feeds --------------------------------------------------------------------------------


def test_a_fifo_as_a_local_feed_fails_that_feed_and_does_not_hang(project):
    os.mkfifo(project / "seeds" / "feeds" / "pipe.xml")
    config = project / "config.yaml"
    text = config.read_text(encoding="utf-8").replace(
        "url: seeds/feeds/wire-en.atom", "url: seeds/feeds/pipe.xml"
    )
    config.write_text(text, encoding="utf-8")
    result = run_in_thread(lambda: run_cli(project, "run", "--once"))
    assert result.returncode == 0
    assert "feed seed-fr: new" in result.stdout
    [line] = [line for line in result.stdout.splitlines() if line.startswith("feed wire-en")]
    assert "failed" in line and "pipe.xml" in line and "not a regular file" in line


def run_in_thread(call, timeout_s: float = 60):
    """`call()`, failing the test instead of hanging it when it blocks (a FIFO would)."""
    box: list = []
    worker = threading.Thread(target=lambda: box.append(call()), daemon=True)
    worker.start()
    worker.join(timeout_s)
    assert not worker.is_alive(), f"still blocked after {timeout_s} s"
    return box[0]
