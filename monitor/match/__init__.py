"""RuleSet × annotations → `Match`: the compiled presearch plan, patterns, evidence and
explanations of hits and misses. Pure: no I/O, no clock.
"""

from monitor.match.entity_gate import EntityGate, entity_gate
from monitor.match.evaluate import CompiledRules, compile_rules, evaluate
from monitor.match.explain import format_verdict
from monitor.match.verdict import RuleVerdict, evaluate_rule

__all__ = [
    "CompiledRules",
    "EntityGate",
    "RuleVerdict",
    "compile_rules",
    "entity_gate",
    "evaluate",
    "evaluate_rule",
    "format_verdict",
]
