"""RuleSet × annotations → `Match`: the compiled presearch plan, patterns, evidence and
explanations of hits and misses. Pure: no I/O, no clock.
"""

from monitor.match.evaluate import CompiledRules, compile_rules, evaluate, evaluate_rule
from monitor.match.explain import format_verdict

__all__ = [
    "CompiledRules",
    "compile_rules",
    "evaluate",
    "evaluate_rule",
    "format_verdict",
]
