"""rules/*.yaml → a validated `RuleSet`: rule files, items, actors, the clause in words,
and cheap change detection for the folder. Errors name file, line, rule and key.
"""

from monitor.rules.clause import rule_clauses
from monitor.rules.load import load_rules, rule_errors, rule_file_texts, rule_files
from monitor.rules.watch import RulesWatch, rules_snapshot

__all__ = [
    "RulesWatch",
    "load_rules",
    "rule_clauses",
    "rule_errors",
    "rule_file_texts",
    "rule_files",
    "rules_snapshot",
]
