"""What the daemon and `monitor check` refuse to start with: an XML parser (expat) too old
to resist entity-expansion bombs. The linked expat cannot be swapped, so its version is
injected (the pure check takes it as a parameter; the commands see a patched pyexpat)."""

import pyexpat

import pytest

from monitor.ingest import expat_problem
from tests.conftest import run_cli


@pytest.mark.parametrize("version", [(2, 4, 1), (2, 5, 0), (2, 10, 0), (3, 0, 0)])
def test_expat_2_4_1_and_later_pass(version):
    assert expat_problem(version) is None


@pytest.mark.parametrize("version", [(2, 4, 0), (2, 2, 10), (1, 95, 8)])
def test_older_expat_is_named_with_the_floor(version):
    problem = expat_problem(version)
    assert problem is not None
    assert problem.startswith(f"expat {'.'.join(map(str, version))} is older than 2.4.1")


def test_the_running_expat_passes():
    assert expat_problem() is None, pyexpat.version_info


@pytest.mark.parametrize("command", [("check",), ("run", "--once")])
def test_an_old_expat_stops_the_daemon_and_check_with_one_line(project, monkeypatch, command):
    monkeypatch.setattr(pyexpat, "version_info", (2, 2, 10))

    result = run_cli(project, *command)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert result.stderr.splitlines() == [
        "monitor: expat 2.2.10 is older than 2.4.1, which first resists entity-expansion "
        "bombs (billion laughs): upgrade the system's libexpat or the Python build before "
        "monitor reads any feed"
    ]
    assert not (project / "var" / "monitor.db").exists()  # stopped before anything ran
