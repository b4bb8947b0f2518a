"""Say a rule preview in a terminal: the matches explained, the near misses with the clause
that failed, the counts per day (`monitor test-rule RULE --since 30d`).

Pure: a report in, a string out. The match explanations are `match.format_verdict`'s, as
`monitor test-rule --text` prints them.
"""

from __future__ import annotations

from monitor.match import format_verdict, near_miss_words
from monitor.model import Article
from monitor.pipeline.preview import PreviewReport
from monitor.text import one_line


def _as_written(message: str) -> str:
    return message


def preview_text(report: PreviewReport, *, color: bool = False) -> str:
    """The three sections of the preview, then what it read and how far back."""
    rule = report.rule
    assert rule is not None, "a preview with errors has nothing to say but them"
    sections = [f"matches ({report.match_count}):"]
    for found in report.matches:
        explained = format_verdict(found.article.title, (found.match,), rule, color=color)
        sections.append(_indented(f"{_dated(found.article)}\n{explained}"))
    if report.match_count > len(report.matches):
        sections.append(f"  … and {report.match_count - len(report.matches)} more")
    sections.append(f"\nnear misses ({report.near_miss_count}):")
    for missed in report.near_misses:
        title = one_line(missed.article.title) or "(untitled article)"
        lines = [
            _dated(missed.article),
            title,
            f"✘ almost: {near_miss_words(missed.near_miss.failed, _as_written)}"
            f" ({missed.near_miss.failed.key})",
        ]
        held = [f"{o.key}: {', '.join(o.found)}" for o in missed.near_miss.held if o.found]
        if held:
            lines.append("  held: " + "; ".join(held))
        sections.append(_indented("\n".join(lines)))
    if report.near_miss_count > len(report.near_misses):
        sections.append(f"  … and {report.near_miss_count - len(report.near_misses)} more")
    sections.append("\nper day (matches, near misses):")
    sections += [f"  {day.day}  {day.matches:4d}  {day.near_misses:4d}" for day in report.per_day]
    if not report.per_day:
        sections.append("  none")
    sections.append("\n" + _summary(report))
    return "\n".join(sections)


def _summary(report: PreviewReport) -> str:
    assert report.rule is not None and report.since is not None
    text = (
        f"'{report.rule.id}' over the last {report.days} days: {report.match_count} matches, "
        f"{report.near_miss_count} near misses; {report.scanned} articles read, "
        f"{report.annotated} shared a word with the rule and were matched "
        f"({report.elapsed_s:.1f} s); nothing was stored or sent"
    )
    if report.stopped is not None:
        reached = report.reached.isoformat() if report.reached else "nothing"
        text += f"\n{report.stopped}: read back to {reached}, not to {report.since.isoformat()}"
    return text


def _dated(article: Article) -> str:
    return f"{article.published_at.date().isoformat()} · {article.feed_id} · {article.key}"


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
