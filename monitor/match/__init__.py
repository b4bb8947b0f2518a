"""RuleSet × annotations → `Match`: the compiled presearch plan, patterns, evidence and
explanations of hits and misses. Pure: no I/O, no clock.
"""

from monitor.match.candidates import CandidateTest, candidate_test
from monitor.match.compiled import PresearchObserver, PresearchSummary
from monitor.match.entity_gate import EntityGate, entity_gate
from monitor.match.evaluate import CompiledRules, compile_rules, evaluate
from monitor.match.explain import format_verdict
from monitor.match.frequency import SAMPLE_ARTICLES, TermFrequencies, term_frequencies
from monitor.match.near_miss import ClauseOutcome, NearMiss, near_miss, near_miss_words, rule_parts
from monitor.match.presearch import Anchor
from monitor.match.verdict import RuleVerdict, evaluate_rule

__all__ = [
    "SAMPLE_ARTICLES",
    "Anchor",
    "CandidateTest",
    "ClauseOutcome",
    "CompiledRules",
    "EntityGate",
    "NearMiss",
    "PresearchObserver",
    "PresearchSummary",
    "RuleVerdict",
    "TermFrequencies",
    "candidate_test",
    "compile_rules",
    "entity_gate",
    "evaluate",
    "evaluate_rule",
    "format_verdict",
    "near_miss",
    "near_miss_words",
    "rule_parts",
    "term_frequencies",
]
