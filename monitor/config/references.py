"""Check the names config.yaml and the rules use for each other: a subscription's rule ids
and tags, a rule's `sources` (feed ids and tags). Actor names are the rules loader's check.

Pure: takes the loaded `Config` and `RuleSet`, returns messages naming file and line.
"""

from __future__ import annotations

import difflib

from monitor.config.load import Config
from monitor.model import RuleSet


def reference_problems(config: Config, rules: RuleSet) -> list[str]:
    """Every name that points at nothing, as 'FILE:LINE: where: problem (did you mean …?)'."""
    return _subscription_problems(config, rules) + _source_problems(config, rules)


def _subscription_problems(config: Config, rules: RuleSet) -> list[str]:
    known = sorted({rule.id for rule in rules.rules} | {t for r in rules.rules for t in r.tags})
    problems = []
    for index, subscription in enumerate(config.subscriptions):
        for position, name in enumerate(subscription.rules):
            if name == "*" or name in known:
                continue
            line = config.line_of("subscriptions", index, "rules", position)
            where = f"{config.path}:{line}" if line else str(config.path)
            problems.append(
                f"{where}: subscriptions['{subscription.id}'].rules: no rule has the id or tag "
                f"'{name}' in {config.rules_dir}{_did_you_mean(name, known)}"
            )
    return problems


def _source_problems(config: Config, rules: RuleSet) -> list[str]:
    known = sorted({feed.id for feed in config.feeds} | {t for f in config.feeds for t in f.tags})
    return [
        f"{rule.source or rule.id}: rule '{rule.id}': key 'sources': no feed has the id or tag "
        f"'{name}' in {config.path}{_did_you_mean(name, known)}"
        for rule in rules.rules
        for name in rule.sources
        if name not in known
    ]


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
