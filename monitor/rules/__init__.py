"""rules/*.yaml → a validated `RuleSet`: rule files, items, actors, the clause in words,
cheap change detection for the folder, and a `RuleFolder` that reloads only the files that
changed. Errors name file, line, rule and key.
"""

from monitor.rules.clause import rule_clauses
from monitor.rules.draft import MAX_FILE_BYTES, read_draft_rule
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
    "MAX_FILE_BYTES",
    "FolderLoad",
    "RuleFolder",
    "RulesWatch",
    "load_rules",
    "read_draft_rule",
    "rule_clauses",
    "rule_errors",
    "rule_file_texts",
    "rule_files",
    "rules_snapshot",
]
