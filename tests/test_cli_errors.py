"""Files named on the command line: a missing one, a folder or an undecodable one is one line
naming the file and the problem, exit code 1 (invalid input), never a traceback; a Latin-1
or cp1252 text is read in its own encoding."""

import subprocess

import pytest

from tests.conftest import MONITOR, run_cli

# Saved by an old Windows editor: é is 0xE9, the apostrophe ’ is 0x92 (cp1252 only).
ARTICLE = (
    "Sécurité des JO 2024 : l’expertise marocaine\n"
    "La sécurité des JO 2024 sera renforcée par des policiers marocains, a annoncé la DGSN.\n"
)
COMMANDS = {
    "test-rule": ("test-rule", "jo2024-security", "--text"),
    "test-rule --feed": ("test-rule", "jo2024-security", "--feed"),
    "replay": ("replay",),
    "feeds import": ("feeds", "import"),
}


def one_line_error(result) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("monitor: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_file_is_named_in_one_line(project, command):
    line = one_line_error(run_cli(project, *COMMANDS[command], "gone.txt"))

    assert "'gone.txt'" in line and "no such file" in line.lower()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_is_named_in_one_line(project, command):
    (project / "saved").mkdir()
    (project / "saved" / "notes.bin").write_bytes(b"\x00\x01\x02\xff\xfe")  # for replay

    line = one_line_error(run_cli(project, *COMMANDS[command], "saved"))

    if command == "replay":  # a folder is what replay walks: its one bad file is named
        assert "saved/notes.bin' is not text" in line
    else:
        assert line.endswith("'saved' is a folder, not a file")


def test_an_undecodable_text_is_named_in_one_line(project):
    (project / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xd8")

    line = one_line_error(run_cli(project, "test-rule", "jo2024-security", "--text", "photo.txt"))

    assert line == (
        "monitor: test-rule: 'photo.txt' is not text in any encoding recognised "
        "(save it as UTF-8 plain text)"
    )


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_a_windows_or_latin_1_text_is_read_in_its_encoding(project, encoding):
    text = ARTICLE if encoding == "cp1252" else ARTICLE.replace("’", "'")
    (project / "article.txt").write_bytes(text.encode(encoding))

    result = run_cli(project, "test-rule", "jo2024-security", "--text", "article.txt")

    assert result.returncode == 0, result.stderr
    assert "✔ matched  jo2024-security" in result.stdout
    assert "[sécurité]" in result.stdout
    assert text.splitlines()[0] in result.stdout  # the title, accents and apostrophe intact


def test_replay_reads_a_cp1252_article(project):
    (project / "article.txt").write_bytes(ARTICLE.encode("cp1252"))

    result = run_cli(project, "replay", "article.txt", "--language", "fr")

    assert result.returncode == 0, result.stderr
    assert "1 articles, 1 new" in result.stdout and "0 failed" in result.stdout


def test_a_reader_that_goes_away_is_not_a_traceback(project):
    # `monitor status | head -1`: the pipe closes before monitor has written.
    process = subprocess.Popen(
        [*MONITOR, "status"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        errors = process.stderr.read().decode("utf-8")
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors
