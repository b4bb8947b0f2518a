"""RuleSet: looking a rule or an actor up by id, at the sizes desks run."""

from __future__ import annotations

import time

from monitor.model import Actor, Clause, Rule, RuleSet, Term


def rule(rule_id: str, name: str = "") -> Rule:
    return Rule(id=rule_id, name=name or rule_id, clause=Clause("all", (Term("mot"),)))


def test_lookups_find_the_first_of_an_id_and_nothing_for_an_unknown_one() -> None:
    actors = (Actor("a", "Un", "person", ()), Actor("a", "Autre", "person", ()))
    rules = RuleSet(rules=(rule("r1", "premier"), rule("r2"), rule("r1", "second")), actors=actors)

    found = rules.rule("r1")

    assert found is not None and found.name == "premier"
    assert rules.rule("absent") is None and rules.actor("absent") is None
    assert (actor := rules.actor("a")) is not None and actor.name == "Un"
    assert rules == RuleSet(rules=rules.rules, actors=actors)


def test_a_digest_naming_every_rule_of_ten_thousand_looks_them_up_at_once() -> None:
    # A scan per lookup (50 million comparisons here) took seconds of a delivery round.
    rules = RuleSet(rules=tuple(rule(f"rule-{n}") for n in range(10_000)))

    started = time.process_time()
    found = [rules.rule(f"rule-{n}") for n in range(10_000)]
    spent = time.process_time() - started

    assert all(r is not None and r.id == f"rule-{n}" for n, r in enumerate(found))
    assert spent < 0.5, f"10,000 lookups took {spent:.2f} s of CPU"
