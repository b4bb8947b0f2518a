"""rules/*.yaml → a validated `RuleSet`: rule files, items, actors, the clause in words,
cheap change detection for the folder, and a `RuleFolder` that reloads only the files that
changed. Errors name file, line, rule and key.
"""

from monitor.rules.clause import rule_clauses
from monitor.rules.load import (
    FolderLoad,
    RuleFolder,
    load_rules,
    rule_errors,
    rule_file_texts,
    rule_files,
)
from monitor.rules.watch import RulesWatch, rules_snapshot

__all__ = [
    "FolderLoad",
    "RuleFolder",
    "RulesWatch",
    "load_rules",
    "rule_clauses",
    "rule_errors",
    "rule_file_texts",
    "rule_files",
    "rules_snapshot",
]
