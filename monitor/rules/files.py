"""Read one file of the rules folder safely, and word what is wrong with it at file:line.

YAML is parsed by `monitor.yamldoc` (line numbers kept, no objects from tags, alias bombs
and absurd nesting refused before anything walks the data); files are checked for placement and
size-capped here. It must not know what a rule means.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import RuleError
from monitor.yamldoc import LineList, LineMap, YamlRefused, parse_yaml_lines

MAX_FILE_BYTES = 1024 * 1024


@dataclass
class FileCheck:
    """The errors found so far, and what a message about the current file needs."""

    path: str
    errors: list[RuleError]
    actor_ids: frozenset[str] = frozenset()
    rule_id: str | None = None
    found: int = field(default=0)

    def fail(self, line: int | None, message: str, *, key: str | None = None) -> None:
        self.found += 1
        self.errors.append(
            RuleError(message, path=self.path, line=line, rule_id=self.rule_id, key=key)
        )


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What a file held when read: equal stamps mean equal content. The digest decides, not
    the modification time: an edit whose time was put back (`touch -d`, some editors and
    sync tools) is still seen, and a file merely touched is not parsed again."""

    size: int
    digest: bytes


def read_file(path: str, check: FileCheck) -> tuple[FileStamp, bytes] | None:
    """The file's stamp and bytes, or None when it may not be read (problem in `check`)."""
    # A str path, not a Path: a reload checks every file of the folder, 10,000 of them.
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode):  # a link or a special file: see where it leads
            problem = _placement_problem(Path(path))
            if problem is not None:
                check.fail(None, problem)
                return None
            found = os.stat(path)
        if found.st_size > MAX_FILE_BYTES:
            check.fail(None, f"file too large ({found.st_size} bytes, at most {MAX_FILE_BYTES})")
            return None
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        check.fail(None, f"cannot read the file: {exc.strerror or exc}")
        return None
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    return FileStamp(found.st_size, digest), raw


def file_text(raw: bytes, check: FileCheck) -> str | None:
    """A file's bytes as text with LF line ends, or None if it is not utf-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        check.fail(None, f"not utf-8 text (byte {exc.start}): save the file as utf-8")
        return None
    # As Path.read_text does (universal newlines): Windows and old Mac line ends become LF.
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def parse_text(text: str, check: FileCheck) -> object | None:
    """The YAML data of a file's text, or None with the problem recorded in `check`."""
    try:
        return parse_yaml_lines(text)
    except YamlRefused as refused:
        check.fail(refused.line, refused.problem)
        return None


def _placement_problem(path: Path) -> str | None:
    """Why `path` may not be read as a rule file: a link out of its folder, or not a
    regular file (a FIFO would block the reader forever, a device never ends)."""
    try:
        real = path.resolve(strict=True)
        mode = real.stat().st_mode
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    folder = path.parent.resolve()
    if not real.is_relative_to(folder):
        return (
            f"a link to '{real}', outside the rules folder '{folder}': "
            "copy the file into the folder instead"
        )
    if not stat.S_ISREG(mode):
        return "not a regular file (a folder, pipe or device): rule files must be plain files"
    return None


# --- line numbers and wording ------------------------------------------------------------


def key_line(node: LineMap, key: str) -> int:
    return node.key_lines[key]


def value_line(node: LineMap, key: str) -> int:
    return node.value_lines[key]


def item_line(node: object, index: int, default: int) -> int:
    """The line of item `index` of a YAML list, or `default` for a list built in code."""
    if isinstance(node, LineList):
        return node.item_lines[index]
    return default


def entry_line(node: object, key: str, default: int) -> int:
    """The line of `key`'s value in a YAML mapping, or `default` for a mapping built in code."""
    if isinstance(node, LineMap) and key in node:
        return value_line(node, key)
    return default


def describe(value: object) -> str:
    """What the user wrote, in words: 'a string', 'a list', 'true/false'..."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a tagged value"


def suggestion(word: str, choices: tuple[str, ...]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keys(
    check: FileCheck, node: dict[object, object], allowed: tuple[str, ...], prefix: str, line: int
) -> None:
    """Report every key of `node` not in `allowed`, with a did-you-mean."""
    for key in node:
        if key not in allowed:
            name = f"{prefix}{key}"
            hint = suggestion(str(key), allowed) or f" (expected one of {', '.join(allowed)})"
            where = key_line(node, str(key)) if isinstance(node, LineMap) else line
            check.fail(where, f"unknown key{hint}", key=name)


def text_value(check: FileCheck, node: LineMap, key: str, *, required: bool = True) -> str | None:
    """The non-empty string at `key`; None (and an error if required or wrong) otherwise."""
    if key not in node:
        if required:
            check.fail(node.line, "missing (expected a non-empty string)", key=key)
        return None
    value = node[key]
    if not isinstance(value, str) or not value.strip():
        check.fail(
            value_line(node, key), f"expected a non-empty string, got {describe(value)}", key=key
        )
        return None
    return value.strip()


ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def id_value(check: FileCheck, node: LineMap) -> str | None:
    """The required `id`: a non-empty string of letters, digits, - _ and ."""
    found = text_value(check, node, "id")
    if found is not None and not ID_PATTERN.match(found):
        check.fail(
            value_line(node, "id"),
            f"invalid id '{found}' (use letters, digits, - _ .)",
            key="id",
        )
    return found


def strings(check: FileCheck, node: LineMap, key: str, *, label: str = "") -> tuple[str, ...]:
    """A list of strings; a single string is read as a list of one."""
    if key not in node:
        return ()
    value = node[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        check.fail(
            value_line(node, key),
            f"expected a list of strings, got {describe(value)}",
            key=label or key,
        )
        return ()
    return tuple(item.strip() for item in value if item.strip())


def number(
    check: FileCheck, value: object, line: int, key: str, *, low: float, high: float | None
) -> float | None:
    """A number with `low` < value (<= `high`), or None with an error saying what was expected."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        amount = float(value)
        if amount > low and (high is None or amount <= high):
            return amount
    wanted = f"a number above {low:g}" + (f" and at most {high:g}" if high is not None else "")
    check.fail(line, f"expected {wanted}, got {describe(value)} '{value}'", key=key)
    return None
