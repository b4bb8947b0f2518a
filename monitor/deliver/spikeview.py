"""Turn a fired spike into what its alert shows: the explanation in numbers ("34 stories in
the last hour against 3 ± 2 usually"), the stories behind it, the subject; and a rule's
daily trend into bars. Worded through the subscription's catalog. Pure: no Jinja2, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import tzinfo
from urllib.parse import urlsplit

from monitor.deliver.i18n import Words, format_number, local_time, words_for
from monitor.deliver.view import DigestView, linkable, recipient_zone
from monitor.model import Digest, RuleTrend, SpikeAlert
from monitor.text import one_line

__all__ = [
    "BarView",
    "SpikeStoryView",
    "SpikeView",
    "TrendView",
    "spike_view",
    "trend_view",
    "with_spike_and_trends",
]

# The tallest bar of a trend, in table-cell pixels: mail clients draw cells, not CSS charts.
BAR_MAX_PX = 40


@dataclass(frozen=True, slots=True)
class SpikeStoryView:
    title: str
    url: str | None  # only http(s) links
    domain: str
    source: str
    published: str
    outlets: int


@dataclass(frozen=True, slots=True)
class SpikeView:
    """Everything a spike template may use (the template variable `digest.spike`)."""

    rule_id: str
    rule_name: str
    explanation: str  # "34 stories in the last hour against 3 ± 2 usually"
    count: int
    outlets: int
    expected: str  # "3", "0.5": as the explanation says it
    spread: str
    window: str  # "the last hour", "the last 6 hours"
    fired: str  # when, in the recipient's zone and language
    stories: tuple[SpikeStoryView, ...]


@dataclass(frozen=True, slots=True)
class BarView:
    day: str  # "2026-03-09"
    label: str  # "9/3" or "3/9": day and month, in the reader's order
    count: int
    height_px: int  # 0 for an empty day
    is_spike: bool


@dataclass(frozen=True, slots=True)
class TrendView:
    rule_id: str
    rule_name: str
    bars: tuple[BarView, ...]
    total: int
    has_spike: bool


def window_words(window_s: int, words: Words) -> str:
    """'the last hour', 'the last 6 hours', 'the last 30 minutes', 'the last 2 days'."""
    gettext = words.gettext
    # Spelled out, one msgid each: "the last hour" has no number to put in a plural form.
    if window_s % 86400 == 0:
        days = window_s // 86400
        return (
            gettext("the last day")
            if days == 1
            else gettext("the last %(count)s days") % {"count": days}
        )
    if window_s % 3600 == 0:
        hours = window_s // 3600
        return (
            gettext("the last hour")
            if hours == 1
            else gettext("the last %(count)s hours") % {"count": hours}
        )
    return gettext("the last %(count)s minutes") % {"count": max(1, window_s // 60)}


def _amount(value: float, language: str) -> str:
    """A usual count as people say it: whole when large, one decimal when small."""
    shown = round(value) if value >= 10 else round(value, 1)
    return format_number(shown, language)


def spike_view(spike: SpikeAlert, zone: tzinfo, words: Words) -> SpikeView:
    """The alert's explanation, stories and times, in the reader's language and zone."""
    window = window_words(spike.window_s, words)
    expected = _amount(spike.expected, words.language)
    spread = _amount(spike.spread, words.language)
    explanation = words.ngettext(
        "%(count)s story in %(window)s against %(expected)s ± %(spread)s usually",
        "%(count)s stories in %(window)s against %(expected)s ± %(spread)s usually",
        spike.count,
    ) % {
        "count": format_number(spike.count, words.language),
        "window": window,
        "expected": expected,
        "spread": spread,
    }
    return SpikeView(
        rule_id=spike.rule_id,
        rule_name=one_line(spike.rule_name),
        explanation=explanation,
        count=spike.count,
        outlets=spike.outlets,
        expected=expected,
        spread=spread,
        window=window,
        fired=local_time(spike.fired_at, zone, words.language),
        stories=tuple(
            SpikeStoryView(
                title=one_line(story.title) or words.gettext("(untitled)"),
                url=linkable(story.url),
                domain=_domain(linkable(story.url)),
                source=story.feed_id,
                published=local_time(story.published_at, zone, words.language),
                outlets=story.outlets,
            )
            for story in spike.stories
        ),
    )


def spike_subject(view: SpikeView, words: Words) -> str:
    """'Spike: Cyberattacks — 34 stories in the last hour against 3 ± 2 usually'."""
    return words.gettext("Spike: %(rule)s — %(explanation)s") % {
        "rule": view.rule_name,
        "explanation": view.explanation,
    }


def trend_view(trend: RuleTrend, words: Words) -> TrendView:
    """A rule's daily counts as bars whose heights share one scale, tallest BAR_MAX_PX."""
    peak = max((count for _, count, _ in trend.days), default=0)
    bars = tuple(
        BarView(
            day=day,
            label=_day_label(day, words.language),
            count=count,
            height_px=round(BAR_MAX_PX * count / peak) if peak else 0,
            is_spike=is_spike,
        )
        for day, count, is_spike in trend.days
    )
    return TrendView(
        rule_id=trend.rule_id,
        rule_name=one_line(trend.rule_name),
        bars=bars,
        total=sum(bar.count for bar in bars),
        has_spike=any(bar.is_spike for bar in bars),
    )


def _day_label(day: str, language: str) -> str:
    _, month, date = day.split("-")
    if language == "en":
        return f"{int(month)}/{int(date)}"
    return f"{int(date)}/{int(month)}"


def _domain(url: str | None) -> str:
    return (urlsplit(url).hostname or "") if url else ""


def with_spike_and_trends(view: DigestView, digest: Digest) -> DigestView:
    """`view` with the digest's spike (and its subject) and its rules' trends added."""
    words = words_for(digest.language)
    trends = tuple(trend_view(trend, words) for trend in digest.trends)
    if digest.spike is None:
        return replace(view, trends=trends) if trends else view
    spike = spike_view(digest.spike, recipient_zone(digest.timezone), words)
    return replace(
        view,
        subject=spike_subject(spike, words),
        heading=spike.rule_name,
        rules=spike.rule_name,
        is_alert=True,
        spike=spike,
        trends=trends,
    )
