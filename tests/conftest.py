"""Shared fixtures: a private copy of the shipped project (config, rules, templates, seeds)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MONITOR = [sys.executable, "-m", "monitor.cli"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped config.yaml, rules/, templates/ and seeds/ in a temporary folder."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    for folder in ("rules", "templates", "seeds"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def run_monitor(project: Path, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    """Run the `monitor` command in `project` the way a user would."""
    return subprocess.run(
        [*MONITOR, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
