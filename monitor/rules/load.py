"""The rules folder → a validated `RuleSet`, read again after an edit file by file.

Owns the folder-level checks (rule ids unique, referenced actors declared) and the per-file
cache of a `RuleFolder`: a file whose stamp (size and content digest) is unchanged is not
parsed or validated again, and the cross-file checks are redone from the cached results.
Reading one file is files.py's job, one rule rule.py's, actors actors.py's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import RuleError, RuleSetError
from monitor.model import Actor, ActorRef, Clause, Rule, RuleSet, Term
from monitor.rules.actors import ACTOR_KEYS, ACTOR_TYPES, ACTORS_FILES, read_actors_data
from monitor.rules.files import FileCheck, FileStamp, file_text, parse_text, read_file
from monitor.rules.items import CLAUSE_OPS, ITEM_KEYS
from monitor.rules.rule import MATCH_KEYS, RULE_KEYS, read_rule

__all__ = [
    "ACTOR_KEYS",
    "ACTOR_TYPES",
    "CLAUSE_OPS",
    "ITEM_KEYS",
    "MATCH_KEYS",
    "RULE_KEYS",
    "FolderLoad",
    "RuleFolder",
    "load_rules",
    "needs_entities",
    "rule_errors",
]


def load_rules(folder: Path) -> RuleSet:
    """Load and check every rule and actor in `folder`; raise `RuleSetError` listing all errors."""
    loaded = RuleFolder(folder).load()
    if loaded.errors:
        raise RuleSetError(list(loaded.errors))
    return loaded.rules


def rule_errors(folder: Path) -> list[RuleError]:
    """Every error `load_rules(folder)` would report, in file order (empty when all is well)."""
    return list(RuleFolder(folder).load().errors)


def needs_entities(rules: RuleSet) -> bool:
    """Whether some rule asks for spaCy entity labels: only then must the annotator run NER."""
    actors = {actor.id: actor for actor in rules.actors}

    def asks(item: Term | ActorRef | Clause) -> bool:
        if isinstance(item, Clause):
            return any(asks(child) for child in item.items)
        if isinstance(item, ActorRef):
            actor = actors.get(item.actor_id)
            default = actor is not None and actor.require_entity
            return default if item.require_entity is None else item.require_entity
        return False

    return any(asks(rule.clause) for rule in rules.rules)


def rule_files(folder: Path) -> list[Path]:
    """The rule files in `folder` that `load_rules` reads (actors.yaml apart)."""
    return [folder / name for name in _rule_names(folder)]


def _rule_names(folder: Path) -> list[str]:
    # Editors leave dot-files (".x.yaml.swp", ".#x.yaml") next to the real ones: skip them.
    with os.scandir(folder) as entries:
        return sorted(
            entry.name
            for entry in entries
            if entry.name.endswith((".yaml", ".yml"))
            and entry.name not in ACTORS_FILES
            and not entry.name.startswith(".")
            # Not is_file(): a pipe or device named *.yaml is reported, not skipped silently.
            and not entry.is_dir()
        )


def rule_file_texts(folder: Path) -> dict[str, str]:
    """The text of every regular file `load_rules(folder)` reads, actors included, by name."""
    paths = [*rule_files(folder), *(folder / name for name in ACTORS_FILES)]
    return {path.name: path.read_text(encoding="utf-8") for path in paths if path.is_file()}


@dataclass(frozen=True, slots=True)
class FolderLoad:
    """One load of the folder: the valid rules, every error, the text of every file read."""

    rules: RuleSet
    errors: tuple[RuleError, ...]
    texts: Mapping[str, str]  # by file name, actors.yaml included: what was validated
    parsed: int  # files parsed and validated by this load; the others came from the cache


@dataclass(frozen=True, slots=True)
class _Checked:
    """What validating one file gave, and what that depended on."""

    stamp: FileStamp
    text: str
    errors: tuple[RuleError, ...]
    rule: Rule | None = None
    checked_against: frozenset[str] = frozenset()  # the actor ids declared when validated
    refers_to: frozenset[str] = frozenset()  # the actor ids a valid rule refers to
    actors: tuple[Actor, ...] = ()  # actors.yaml: the valid actors
    declares: frozenset[str] = frozenset()  # actors.yaml: every id declared (even if broken)


# Validates one file's text: a rule file's or actors.yaml's.
_Reader = Callable[[str, FileStamp, FileCheck], _Checked]


@dataclass
class RuleFolder:
    """A rules folder and the per-file results of its last load. One load at a time."""

    folder: Path
    _files: dict[str, _Checked] = field(default_factory=dict)

    @property
    def is_warm(self) -> bool:
        """Whether a load already ran (the next one parses only what changed)."""
        return bool(self._files)

    def load(self) -> FolderLoad:
        """Every rule and actor of the folder, parsing only the files that changed."""
        if not self.folder.is_dir():
            missing = RuleError("rules folder not found", path=str(self.folder))
            return FolderLoad(RuleSet(rules=()), (missing,), {}, 0)
        errors: list[RuleError] = []
        files: dict[str, _Checked] = {}
        parsed = 0
        actors_file = next(
            (self.folder / n for n in ACTORS_FILES if (self.folder / n).is_file()), None
        )
        actors: tuple[Actor, ...] = ()
        actor_ids: frozenset[str] = frozenset()
        if actors_file is not None:
            name = actors_file.name
            checked, is_new = self._check(name, errors, _read_actors_text, frozenset())
            parsed += is_new
            if checked is not None:
                files[name] = checked
                actors, actor_ids = checked.actors, checked.declares
        rules: list[Rule] = []
        first_seen: dict[str, str] = {}
        for name in _rule_names(self.folder):
            checked, is_new = self._check(name, errors, _read_rule_text, actor_ids)
            parsed += is_new
            if checked is not None:
                files[name] = checked
            if checked is None or checked.rule is None:
                continue
            rule = checked.rule
            if rule.id in first_seen:
                errors.append(_duplicate(rule, first_seen[rule.id]))
                continue
            first_seen[rule.id] = rule.source
            rules.append(rule)
        self._files = files
        texts = {name: checked.text for name, checked in files.items()}
        return FolderLoad(RuleSet(tuple(rules), actors), tuple(errors), texts, parsed)

    def _check(
        self, name: str, errors: list[RuleError], read: _Reader, actor_ids: frozenset[str]
    ) -> tuple[_Checked | None, bool]:
        """The file's result (from the cache when still true) and whether it was parsed now."""
        path = _joined(self.folder, name)
        check = FileCheck(path=path, errors=errors, actor_ids=actor_ids)
        found = read_file(path, check)
        if found is None:
            return None, False
        stamp, raw = found
        cached = self._files.get(name)
        if cached is not None and cached.stamp == stamp and _still_valid(cached, actor_ids):
            errors.extend(cached.errors)
            return cached, False
        text = (
            cached.text if cached is not None and cached.stamp == stamp else file_text(raw, check)
        )
        if text is None:
            return None, True
        return read(text, stamp, check), True


def _joined(folder: Path, name: str) -> str:
    """`str(folder / name)` without building a Path (a reload names every file of the folder)."""
    base = str(folder)
    if base == ".":
        return name
    return base + name if base.endswith(os.sep) else base + os.sep + name


def _still_valid(cached: _Checked, actor_ids: frozenset[str]) -> bool:
    """Whether a file's result holds for the actors declared now."""
    if cached.checked_against is actor_ids:  # actors.yaml unchanged: the same set object
        return True
    # A valid rule stays valid while every actor it names is declared; a file with errors
    # is checked again, as an undefined actor's message suggests among the ids declared now.
    if cached.rule is not None:
        return cached.refers_to <= actor_ids
    return cached.checked_against == actor_ids


def _read_rule_text(text: str, stamp: FileStamp, check: FileCheck) -> _Checked:
    start = len(check.errors)
    data = parse_text(text, check)
    rule = None if check.found else read_rule(data, check)
    errors = tuple(check.errors[start:])
    refers_to = frozenset(_actor_ids(rule.clause)) if rule is not None else frozenset()
    return _Checked(stamp, text, errors, rule, check.actor_ids, refers_to)


def _read_actors_text(text: str, stamp: FileStamp, check: FileCheck) -> _Checked:
    start = len(check.errors)
    data = parse_text(text, check)
    actors, ids = read_actors_data(data, check)
    errors = tuple(check.errors[start:])
    return _Checked(stamp, text, errors, actors=tuple(actors), declares=ids)


def _actor_ids(clause: Clause) -> Iterator[str]:
    for item in clause.items:
        if isinstance(item, Clause):
            yield from _actor_ids(item)
        elif isinstance(item, ActorRef):
            yield item.actor_id


def _duplicate(rule: Rule, first: str) -> RuleError:
    line = rule.source.rpartition(":")[2]
    return RuleError(
        f"duplicate rule id, already defined at {first} (ids must be unique)",
        path=rule.source.rpartition(":")[0],
        line=int(line) if line.isdigit() else None,
        rule_id=rule.id,
        key="id",
    )
