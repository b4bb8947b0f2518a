"""Say in a terminal why a rule matched an article or not: verdict, score, each hit highlighted.

Pure: matches, verdicts and a rule in, a string out; the caller decides whether the output is
a colour terminal (`color`). Article text is untrusted: control characters are replaced before
printing, so a feed cannot drive the terminal with escape sequences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from monitor.match.verdict import RuleVerdict
from monitor.model import Hit, Match, Rule

_BOLD = "\x1b[1m"
_GREEN = "\x1b[1;32m"
_RED = "\x1b[1;31m"
_MARK = "\x1b[1;30;43m"  # black on yellow, readable on dark and light themes
_RESET = "\x1b[0m"
# C0 and C1 control characters (ESC included), except none: tabs and newlines are folded away.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def format_verdict(
    article_title: str,
    matches: Sequence[Match],
    rule: Rule,
    *,
    color: bool,
    verdict: RuleVerdict | None = None,
) -> str:
    """The verdict of `rule` on one article, with its hits, for a terminal.

    `matches` may hold matches of other rules (they are ignored). Pass the `verdict` from
    `match.evaluate_rule` to also explain a miss: the reasons and what was found anyway.
    """
    paint = _Painter(color)
    match = next((found for found in matches if found.rule_id == rule.id), None)
    lines = [paint(_BOLD, _clean(article_title) or "(untitled article)")]
    if match is not None:
        lines.append(_heading(rule, paint, is_match=True, score=match.score))
        lines.extend(_hit_lines(match.hits, paint))
        return "\n".join(lines)
    score = verdict.score if verdict is not None else 0.0
    lines.append(_heading(rule, paint, is_match=False, score=score))
    if verdict is None:
        lines.append("  nothing in this article satisfies the rule")
        return "\n".join(lines)
    lines.append("  why:")
    lines.extend(f"    - {_clean(reason)}" for reason in verdict.reasons)
    if verdict.hits:
        lines.append("  found:")
        lines.extend(_hit_lines(verdict.hits, paint, indent=4))
    if verdict.excluded_by:
        lines.append("  excluded by:")
        lines.extend(_hit_lines(verdict.excluded_by, paint, indent=4))
    return "\n".join(lines)


class _Painter:
    """Wraps text in ANSI styles, or leaves it plain when the output is not a terminal."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if self.color else text

    def mark(self, text: str) -> str:
        return f"{_MARK}{text}{_RESET}" if self.color else f"[{text}]"


def _heading(rule: Rule, paint: _Painter, *, is_match: bool, score: float) -> str:
    verdict = paint(_GREEN, "✔ matched") if is_match else paint(_RED, "✘ not matched")
    threshold = f" (min_score {rule.min_score:g})" if rule.min_score is not None else ""
    return (
        f"{verdict}  {rule.id} '{_clean(rule.name)}'  priority {rule.priority.label}  "
        f"score {score:g}{threshold}"
    )


def _hit_lines(hits: Sequence[Hit], paint: _Painter, *, indent: int = 2) -> list[str]:
    lines = []
    margin = " " * indent
    for hit in hits:
        where = " · ".join(part for part in (hit.field, hit.clause) if part)
        via = ""
        if hit.alias and hit.alias.casefold() not in (
            hit.wanted.casefold(),
            hit.matched.casefold(),
        ):
            via = f" via '{_clean(hit.alias)}'"
        weight = f"  weight {hit.weight:g}" if hit.weight != 1.0 else ""
        matched = _clean(hit.matched)
        lines.append(f'{margin}{where}: {_clean(hit.wanted)} → "{matched}"{via}{weight}')
        lines.append(f"{margin}    " + _highlight(hit, paint))
    return lines


def _highlight(hit: Hit, paint: _Painter) -> str:
    """The hit's snippet with the hit marked: where the hit says it is, else where the words
    first occur (by case, then ignoring it)."""
    snippet, start, end = hit.snippet, hit.snippet_start, hit.snippet_end
    text = _clean(snippet)
    if 0 <= start < end <= len(snippet) and len(text) == len(snippet):
        return text[:start] + paint.mark(text[start:end]) + text[end:]
    matched = hit.matched
    words = " ".join(_clean(matched).split())
    if not words:
        return text
    start = text.find(words)
    if start < 0:
        start = text.casefold().find(words.casefold())
        if start < 0 or len(text.casefold()) != len(text):
            return text  # casefold changed lengths (ß -> ss): offsets would be wrong
    end = start + len(words)
    return text[:start] + paint.mark(text[start:end]) + text[end:]


def _clean(text: str) -> str:
    """Untrusted text made safe for a terminal: control characters become spaces, runs fold."""
    return " ".join(_CONTROL.sub(" ", text).split())
