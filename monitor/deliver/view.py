"""Turn a Digest into the view templates display: groups, entries, subject, explanations.

Owns what a reader sees and in which order: entries grouped by rule (priority, then best
score), dates in the recipient's time zone and language, highlighted snippets, why each
article matched, worded through the subscription's catalog (`i18n`). Pure: no Jinja2, no
clock. Every string it produces is plain text; escaping is the template engine's job.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.deliver.highlight import SnippetPart, highlight_snippet
from monitor.deliver.i18n import Words, format_number, local_time, words_for
from monitor.logs import log_event
from monitor.model import Digest, DigestEntry, Match, Priority
from monitor.text import one_line, truncate

if TYPE_CHECKING:
    # spikeview builds on this module; the view only names its types.
    from monitor.deliver.spikeview import SpikeView, TrendView

__all__ = [
    "DevelopingView",
    "DigestView",
    "EntryView",
    "OutletLink",
    "ReasonView",
    "RuleGroupView",
    "SnippetPart",
    "build_subject",
    "build_view",
    "explain_match",
    "ordered_entries",
    "rule_names",
]

MAX_SUBJECT_CHARS = 200
_MAX_HEADLINE_CHARS = 120
_FIELD_NAMES = ("title", "summary", "body")


def _field_words(words: Words) -> dict[str, str]:
    # Spelled out so that extraction sees each msgid.
    gettext = words.gettext
    return {"title": gettext("title"), "summary": gettext("summary"), "body": gettext("body")}


def priority_label(priority: Priority, words: Words) -> str:
    """The priority in the reader's language: "haute", "normale", "basse"."""
    gettext = words.gettext
    labels = {"high": gettext("high"), "normal": gettext("normal"), "low": gettext("low")}
    return labels.get(priority.label, priority.label)


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReasonView:
    """Why one rule matched one article."""

    rule_name: str
    why: str  # e.g. "terms: sécurité, JO 2024; actors: Abdellatif Hammouchi"
    terms: tuple[str, ...]
    actors: tuple[str, ...]
    found_in: tuple[str, ...]  # the article fields the hits were in, in words: title, summary


@dataclass(frozen=True, slots=True)
class OutletLink:
    """Another outlet that covered the story, linked to its copy."""

    name: str
    url: str | None  # only http(s) links; None when the copy has no safe link


@dataclass(frozen=True, slots=True)
class EntryView:
    """One article under the first rule of the digest that matched it, ready to display."""

    title: str
    url: str | None  # only http(s) links; None when the article has no safe link
    domain: str  # the link's host, e.g. "wire.example", for a short "read on …" label
    source: str
    published: str  # e.g. "Friday 2 June 2023, 18:40 (Paris time)", in the recipient's zone
    snippet: tuple[SnippetPart, ...]
    why: str  # e.g. "terms: sécurité, JO 2024; actors: Abdellatif Hammouchi"
    terms: tuple[str, ...]
    actors: tuple[str, ...]
    found_in: tuple[str, ...]  # the article fields the hits were in, in words: title, summary
    score: float
    also_in: tuple[str, ...] = ()  # other outlets that carried the same story
    also_matched: tuple[ReasonView, ...] = ()  # the other rules that matched it, and why
    also_covered: tuple[OutletLink, ...] = ()  # the other outlets, each linked to its copy


@dataclass(frozen=True, slots=True)
class DevelopingView:
    """A story already sent that grew since: the story as it stands and what is new."""

    entry: EntryView  # under the best rule it matched; the others are in entry.also_matched
    outlet_count: int  # outlets carrying it now
    new_outlets: tuple[str, ...]  # outlets new since it was last sent
    new_actors: tuple[str, ...]  # actors new since it was last sent


@dataclass(frozen=True, slots=True)
class RuleGroupView:
    """The articles one rule matched."""

    rule_id: str
    rule_name: str
    priority: str  # "high" | "normal" | "low"
    priority_label: str  # the priority in the reader's language: "haute", "normale", "basse"
    clause: str  # the rule in words ("" when the digest does not carry it)
    entries: tuple[EntryView, ...]  # the articles shown under this rule
    article_count: int  # every article the rule matched, including those listed above
    listed_above: tuple[str, ...] = ()  # titles shown under an earlier rule of this digest


@dataclass(frozen=True, slots=True)
class DigestView:
    """Everything a digest or alert template may use (the template variable `digest`)."""

    subject: str
    heading: str
    rules: str  # the names of the rules that matched, most urgent first, as in the subject
    language: str  # "fr" | "en": the HTML `lang` and the catalog every label came from
    subscription_id: str
    kind: str  # "immediate" | "digest" | "developing" | "spike"
    is_alert: bool  # an immediate alert or a follow-up alert
    is_developing: bool  # a follow-up alert: only stories already sent that grew
    created: str
    timezone: str
    article_count: int
    groups: tuple[RuleGroupView, ...]
    feed_problems: tuple[str, ...]
    developing: tuple[DevelopingView, ...] = ()  # follow-ups, after the new stories
    spike: SpikeView | None = None  # kind "spike": the surge, explained
    trends: tuple[TrendView, ...] = ()  # digests: each rule's stories per day, as bars


def build_view(digest: Digest) -> DigestView:
    """Group entries by rule (priority, then best score) and prepare them for display."""
    zone = recipient_zone(digest.timezone)
    words = words_for(digest.language)
    groups = _rule_groups(digest, zone, words)
    return DigestView(
        subject=build_subject(digest, groups, words),
        heading=_heading(digest, groups, words),
        rules=rule_names(groups),
        language=digest.language,
        subscription_id=digest.subscription_id,
        kind=digest.kind,
        is_alert=digest.kind in ("immediate", "developing"),
        is_developing=digest.kind == "developing",
        created=local_time(digest.created_at, zone, digest.language),
        timezone=digest.timezone,
        article_count=len(digest.entries),
        groups=groups,
        feed_problems=tuple(one_line(problem) for problem in digest.feed_problems),
        developing=tuple(
            _developing_view(entry, zone, words) for entry in digest.developing if entry.matches
        ),
    )


def _developing_view(entry: DigestEntry, zone: tzinfo, words: Words) -> DevelopingView:
    developing = entry.developing
    return DevelopingView(
        entry=_entry_view(entry, ordered_matches(entry.matches)[0], zone, words),
        outlet_count=developing.outlet_count if developing else 1 + len(entry.also_in),
        new_outlets=tuple(one_line(name) for name in developing.new_outlets) if developing else (),
        new_actors=tuple(one_line(name) for name in developing.new_actors) if developing else (),
    )


def _rule_groups(digest: Digest, zone: tzinfo, words: Words) -> tuple[RuleGroupView, ...]:
    """Rules by urgency; each article shown once, under the first rule that matched it."""
    by_rule: dict[str, list[tuple[DigestEntry, Match]]] = {}
    for entry in digest.entries:
        for match in entry.matches:
            by_rule.setdefault(match.rule_id, []).append((entry, match))
    for pairs in by_rule.values():
        # Within a rule: strongest match first, then newest.
        pairs.sort(key=lambda pair: (-pair[1].score, -pair[0].article.published_at.timestamp()))
    order = sorted(
        by_rule,
        key=lambda rule_id: (
            -max(match.priority for _, match in by_rule[rule_id]),
            -by_rule[rule_id][0][1].score,
            rule_id,
        ),
    )
    clauses = dict(digest.rule_clauses)
    shown: set[str] = set()
    groups = []
    for rule_id in order:
        pairs = by_rule[rule_id]
        fresh = [(entry, match) for entry, match in pairs if entry.article.key not in shown]
        first = pairs[0][1]
        priority = Priority(first.priority).label
        groups.append(
            RuleGroupView(
                rule_id=rule_id,
                rule_name=one_line(first.rule_name),
                priority=priority,
                priority_label=priority_label(Priority(first.priority), words),
                clause=one_line(clauses.get(rule_id, "")),
                entries=tuple(_entry_view(entry, match, zone, words) for entry, match in fresh),
                article_count=len(pairs),
                listed_above=tuple(
                    _title(entry.article.title, words)
                    for entry, _ in pairs
                    if entry.article.key in shown
                ),
            )
        )
        shown.update(entry.article.key for entry, _ in fresh)
    return tuple(groups)


def _title(title: str, words: Words) -> str:
    return one_line(title) or words.gettext("(untitled)")


def _entry_view(entry: DigestEntry, match: Match, zone: tzinfo, words: Words) -> EntryView:
    article = entry.article
    url = linkable(article.url)
    reason = _reason(match, words)
    return EntryView(
        title=_title(article.title, words),
        url=url,
        domain=(urlsplit(url).hostname or "") if url else "",
        source=source_name(entry),
        published=local_time(article.published_at, zone, words.language),
        snippet=highlight_snippet(article, match.hits),
        why=reason.why,
        terms=reason.terms,
        actors=reason.actors,
        found_in=reason.found_in,
        score=round(match.score, 3),
        also_in=tuple(one_line(outlet) for outlet in entry.also_in),
        also_covered=_outlet_links(entry),
        also_matched=tuple(
            _reason(other, words)
            for other in ordered_matches(entry.matches)
            if other.rule_id != match.rule_id
        ),
    )


def _outlet_links(entry: DigestEntry) -> tuple[OutletLink, ...]:
    if entry.copies:
        return tuple(OutletLink(one_line(copy.outlet), linkable(copy.url)) for copy in entry.copies)
    # An entry built with outlet names only (a custom caller): named, not linked.
    return tuple(OutletLink(one_line(outlet), None) for outlet in entry.also_in)


def _reason(match: Match, words: Words) -> ReasonView:
    found = {hit.field for hit in match.hits}
    fields = _field_words(words)
    return ReasonView(
        rule_name=one_line(match.rule_name),
        why=explain_match(match, words),
        terms=tuple(_unique(one_line(h.wanted) for h in match.hits if h.actor_id is None)),
        actors=tuple(_unique(one_line(h.wanted) for h in match.hits if h.actor_id is not None)),
        found_in=tuple(fields[name] for name in _FIELD_NAMES if name in found),
    )


def explain_match(match: Match, words: Words | None = None) -> str:
    """Why an article matched, e.g. 'terms: sécurité, JO 2024; actors: Abdellatif Hammouchi'."""
    gettext = (words or words_for("en")).gettext
    terms = _unique(one_line(hit.wanted) for hit in match.hits if hit.actor_id is None)
    actors = _unique(one_line(hit.wanted) for hit in match.hits if hit.actor_id is not None)
    said_terms = gettext("terms: %(terms)s") % {"terms": ", ".join(terms)} if terms else ""
    said_actors = gettext("actors: %(actors)s") % {"actors": ", ".join(actors)} if actors else ""
    if said_terms and said_actors:
        return gettext("%(terms)s; %(actors)s") % {"terms": said_terms, "actors": said_actors}
    return said_terms or said_actors


# --- subject -------------------------------------------------------------------


def rule_names(groups: Sequence[RuleGroupView]) -> str:
    """'JO 2024 security, Morocco-France': the rules that matched, most urgent first.

    The one wording of "which rules" that both the subject and the alert banner use.
    """
    return ", ".join(_unique(group.rule_name for group in groups))


def build_subject(digest: Digest, groups: Sequence[RuleGroupView], words: Words) -> str:
    """'JO 2024 security, Morocco-France: 3 articles', in the subscription's language.

    Alerts name the rules that fired; digests put the subscription's title first.
    """
    count = len(digest.entries)
    articles = words.ngettext("%(count)s article", "%(count)s articles", count) % {
        "count": format_number(count, words.language)
    }
    names = rule_names(groups)
    if digest.kind == "developing":
        subject = _developing_subject(digest, words)
    elif digest.kind == "immediate":
        subject = (
            words.gettext("%(rules)s: %(articles)s") % {"rules": names, "articles": articles}
            if names
            else words.gettext("Alert: %(articles)s") % {"articles": articles}
        )
    else:
        title = one_line(digest.title) or digest.subscription_id
        if names:
            subject = words.gettext("%(title)s — %(rules)s: %(articles)s") % {
                "title": title,
                "rules": names,
                "articles": articles,
            }
        elif digest.developing:
            subject = words.gettext("%(title)s: %(developing)s") % {
                "title": title,
                "developing": _stories_developing(len(digest.developing), words),
            }
        else:
            subject = words.gettext("%(title)s: no new articles") % {"title": title}
    # The names and title are one line already; one_line here would turn the catalog's
    # narrow no-break spaces (French typography) into plain ones.
    return truncate(subject, MAX_SUBJECT_CHARS, marker="…")


def _developing_subject(digest: Digest, words: Words) -> str:
    """'Story developing: <title>' for one story, 'N stories developing' for more."""
    if len(digest.developing) == 1:
        return words.gettext("Story developing: %(title)s") % {
            "title": headline(digest.developing[0])
        }
    return _stories_developing(len(digest.developing), words)


def _stories_developing(count: int, words: Words) -> str:
    return words.ngettext("%(count)s story developing", "%(count)s stories developing", count) % {
        "count": format_number(count, words.language)
    }


def _heading(digest: Digest, groups: Sequence[RuleGroupView], words: Words) -> str:
    if digest.kind == "immediate" and groups:
        return rule_names(groups)
    if digest.kind == "developing" and digest.developing:
        if len(digest.developing) == 1:
            return _title(digest.developing[0].article.title, words)
        return _stories_developing(len(digest.developing), words)
    return one_line(digest.title) or digest.subscription_id


def headline(entry: DigestEntry) -> str:
    """The entry's title on one line, bounded for a subject or a chat message."""
    return truncate(one_line(entry.article.title) or "(untitled)", _MAX_HEADLINE_CHARS, marker="…")


# --- ordering and small shared helpers ----------------------------------------


def ordered_matches(matches: Iterable[Match]) -> list[Match]:
    """Highest priority first, then best score, then rule id for determinism."""
    return sorted(matches, key=lambda match: (-match.priority, -match.score, match.rule_id))


def ordered_entries(entries: Iterable[DigestEntry]) -> list[DigestEntry]:
    """Most urgent first: best priority, best score, newest, then key for determinism."""

    def urgency(entry: DigestEntry) -> tuple[int, float, float, str]:
        best = ordered_matches(entry.matches)[0] if entry.matches else None
        return (
            -(best.priority if best else 0),
            -(best.score if best else 0.0),
            -entry.article.published_at.timestamp(),
            entry.article.key,
        )

    return sorted(entries, key=urgency)


def source_name(entry: DigestEntry) -> str:
    """The outlet to show: the feed's title, else its id."""
    return one_line(entry.feed_title) or entry.article.feed_id


def linkable(url: str | None) -> str | None:
    """The URL if it is safe to put in an href (http or https), else None."""
    if not url or one_line(url) != url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def recipient_zone(name: str) -> tzinfo:
    """The IANA zone `name`; UTC (with a warning) when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log_event(log, logging.WARNING, "render.unknown_timezone", timezone=name, fallback="UTC")
        return UTC


_WHITESPACE = re.compile(r"\s+")


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))
