"""`python -m tests.relevance.report`: print the per-rule table and every FP and FN."""

from __future__ import annotations

import time

from monitor.nlp import Annotator
from tests.relevance.scoring import format_errors, format_table, load_items, load_rule_set, run
from tests.relevance.scoring import scores as score_rules


def main() -> None:
    started = time.perf_counter()
    items = load_items()
    rules = load_rule_set()
    outcomes = run(items, Annotator(), rules)
    table = score_rules(outcomes, sorted(r.id for r in rules.rules))
    print(format_table(table, len(items)))
    print()
    print(format_errors(table))
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
