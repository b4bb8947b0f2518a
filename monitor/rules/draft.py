"""One rule that is not in the rules folder yet (pasted in the workspace, `--file draft.yaml`),
validated by the very checks `monitor check` runs, with its file name and line numbers.

Reads no file and no folder: it is given the bytes and the actors the folder declares.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.errors import RuleError
from monitor.model import Actor, Rule
from monitor.rules.files import MAX_FILE_BYTES, FileCheck, file_text, parse_text
from monitor.rules.rule import read_rule

__all__ = ["MAX_FILE_BYTES", "read_draft_rule"]


def read_draft_rule(
    raw: bytes, *, name: str, actors: Sequence[Actor]
) -> tuple[Rule | None, tuple[RuleError, ...]]:
    """The rule in `raw`, named `name` in messages, or None and every problem found.

    The same size cap, encoding, YAML and rule checks as a file of the rules folder; its
    actor references are checked against `actors`.
    """
    check = FileCheck(path=name, errors=[], actor_ids=frozenset(actor.id for actor in actors))
    if len(raw) > MAX_FILE_BYTES:
        check.fail(None, f"file too large ({len(raw)} bytes, at most {MAX_FILE_BYTES})")
        return None, tuple(check.errors)
    text = file_text(raw, check)
    if text is None:
        return None, tuple(check.errors)
    data = parse_text(text, check)
    rule = None if check.found else read_rule(data, check)
    return rule, tuple(check.errors)
