"""Render a Digest into a Message: subject, plain text, HTML and the webhook JSON.

Owns Jinja2 (it never leaves this module) and the versioned webhook payload, which is
built field by field in code. Feed text only ever reaches templates as escaped variables,
never as template source. Must not send anything, read the store or read the clock.
"""

from __future__ import annotations

import json
import logging
import re
import types
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from monitor.errors import ConfigError
from monitor.model import Article, Digest, DigestEntry, Hit, Match, Message, Priority

WEBHOOK_SCHEMA = "monitor.digest/1"
TEMPLATE_NAMES: tuple[str, ...] = (
    "digest.html.j2",
    "digest.txt.j2",
    "alert.html.j2",
    "alert.txt.j2",
)
_MAX_SUBJECT_CHARS = 200
_MAX_HEADLINE_CHARS = 120
_MAX_SNIPPET_CHARS = 320
_SNIPPET_CONTEXT_CHARS = 120
_SNIPPET_FIELD_PREFERENCE = ("summary", "body", "title")

log = logging.getLogger(__name__)


# --- what templates see --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnippetPart:
    """A run of snippet text; `is_marked` runs are the words the rule matched."""

    text: str
    is_marked: bool


@dataclass(frozen=True, slots=True)
class EntryView:
    """One article under one rule, ready to display."""

    title: str
    url: str | None
    source: str
    published: str
    snippet: tuple[SnippetPart, ...]
    why: str
    score: float
    also_in: tuple[str, ...] = ()  # other outlets that carried the same story


@dataclass(frozen=True, slots=True)
class RuleGroupView:
    """The articles one rule matched."""

    rule_id: str
    rule_name: str
    priority: str
    entries: tuple[EntryView, ...]


@dataclass(frozen=True, slots=True)
class DigestView:
    """Everything a digest or alert template may use (the template variable `digest`)."""

    subject: str
    heading: str
    subscription_id: str
    kind: str
    created: str
    timezone: str
    article_count: int
    groups: tuple[RuleGroupView, ...]
    feed_problems: tuple[str, ...]


# --- the renderer --------------------------------------------------------------


class Renderer:
    """Renders digests with the templates of one folder."""

    def __init__(self, templates_dir: Path) -> None:
        self._templates_dir = templates_dir
        # Sandboxed because operators may edit the templates; HTML autoescaped, text not.
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(templates_dir)),
            autoescape=_is_html_template,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, digest: Digest) -> Message:
        """Render subject, text, HTML and webhook payload; raise ConfigError on a bad template."""
        view = build_view(digest)
        prefix = "alert" if digest.kind == "immediate" else "digest"
        return Message(
            subject=view.subject,
            text=self._render_template(f"{prefix}.txt.j2", view),
            html=self._render_template(f"{prefix}.html.j2", view),
            payload=build_payload(digest),
        )

    def template_errors(self) -> list[str]:
        """One 'path:line: problem' per template that is missing, invalid or fails to render."""
        errors: list[str] = []
        for name in TEMPLATE_NAMES:
            try:
                self._env.get_template(name)
            except jinja2.TemplateNotFound:
                errors.append(f"{self._display_path(name)}: missing template")
            except jinja2.TemplateSyntaxError as exc:
                errors.append(self._describe(exc, exc.name or name, exc.lineno))
        if errors:
            return errors
        # Undefined variables only show up when rendering, so try every template once.
        for kind in ("immediate", "digest"):
            try:
                self.render(_sample_digest(kind))
            except ConfigError as exc:
                errors.append(str(exc))
        return errors

    def _render_template(self, name: str, view: DigestView) -> str:
        try:
            return self._env.get_template(name).render(digest=view)
        except jinja2.TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else name
            raise ConfigError("missing template", path=self._display_path(missing)) from exc
        except jinja2.TemplateSyntaxError as exc:
            path = self._display_path(exc.name or name)
            raise ConfigError(exc.message or "syntax error", path=path, line=exc.lineno) from exc
        except jinja2.TemplateError as exc:
            template, line = _template_frame(exc.__traceback__, default=name)
            path = self._display_path(template)
            raise ConfigError(f"cannot render: {exc}", path=path, line=line) from exc

    def _describe(self, exc: jinja2.TemplateSyntaxError, name: str, line: int) -> str:
        return f"{self._display_path(name)}:{line}: {exc.message}"

    def _display_path(self, name: str | None) -> str:
        return str(self._templates_dir / (name or "?"))


def _is_html_template(name: str | None) -> bool:
    # Escape everything except the plain-text templates: a new kind defaults to safe.
    return name is None or not name.endswith(".txt.j2")


def _template_frame(tb: types.TracebackType | None, *, default: str) -> tuple[str, int | None]:
    """The innermost template file and line in a Jinja2-rewritten traceback."""
    found: tuple[str, int | None] = (default, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = (Path(filename).name, tb.tb_lineno)
        tb = tb.tb_next
    return found


# --- the view ------------------------------------------------------------------


def build_view(digest: Digest) -> DigestView:
    """Group entries by rule (priority, then best score) and prepare them for display."""
    zone = _zone(digest.timezone)
    groups = _rule_groups(digest.entries, zone)
    return DigestView(
        subject=build_subject(digest),
        heading=_heading(digest, groups),
        subscription_id=digest.subscription_id,
        kind=digest.kind,
        created=_local_time(digest.created_at, zone),
        timezone=digest.timezone,
        article_count=len(digest.entries),
        groups=groups,
        feed_problems=tuple(_one_line(problem) for problem in digest.feed_problems),
    )


def _rule_groups(entries: Sequence[DigestEntry], zone: tzinfo) -> tuple[RuleGroupView, ...]:
    by_rule: dict[str, list[tuple[DigestEntry, Match]]] = {}
    for entry in entries:
        for match in entry.matches:
            by_rule.setdefault(match.rule_id, []).append((entry, match))
    groups = []
    for rule_id, pairs in by_rule.items():
        pairs.sort(key=lambda pair: (-pair[1].score, -pair[0].article.published_at.timestamp()))
        first_match = pairs[0][1]
        groups.append(
            (
                (-max(match.priority for _, match in pairs), -first_match.score, rule_id),
                RuleGroupView(
                    rule_id=rule_id,
                    rule_name=first_match.rule_name,
                    priority=Priority(first_match.priority).label,
                    entries=tuple(_entry_view(entry, match, zone) for entry, match in pairs),
                ),
            )
        )
    groups.sort(key=lambda keyed: keyed[0])
    return tuple(group for _, group in groups)


def _entry_view(entry: DigestEntry, match: Match, zone: tzinfo) -> EntryView:
    article = entry.article
    return EntryView(
        title=_one_line(article.title) or "(untitled)",
        url=_linkable(article.url),
        source=_source(entry),
        published=_local_time(article.published_at, zone),
        snippet=highlight_snippet(article, match.hits),
        why=explain_match(match),
        score=round(match.score, 3),
        also_in=tuple(_one_line(outlet) for outlet in entry.also_in),
    )


def explain_match(match: Match) -> str:
    """Why an article matched, e.g. 'terms: sécurité, JO 2024; actors: Abdellatif Hammouchi'."""
    terms = _unique(hit.wanted for hit in match.hits if hit.actor_id is None)
    actors = _unique(hit.wanted for hit in match.hits if hit.actor_id is not None)
    parts = []
    if terms:
        parts.append("terms: " + ", ".join(terms))
    if actors:
        parts.append("actors: " + ", ".join(actors))
    return "; ".join(parts)


def highlight_snippet(article: Article, hits: Sequence[Hit]) -> tuple[SnippetPart, ...]:
    """The best snippet of the hits, split into plain and marked runs (no markup added)."""
    chosen = _choose_snippet_hit(hits)
    if chosen is None:
        return ()
    same_sentence = [
        hit for hit in hits if hit.field == chosen.field and hit.snippet == chosen.snippet
    ]
    spans = _merge_spans(
        span
        for span in (_span_in_snippet(article, hit) for hit in same_sentence)
        if span is not None
    )
    text, spans = _clip(_one_line(chosen.snippet), spans)
    return _split(text, spans)


def _choose_snippet_hit(hits: Sequence[Hit]) -> Hit | None:
    # The title is shown anyway, so a sentence from the summary or body says more.
    for field in _SNIPPET_FIELD_PREFERENCE:
        for hit in hits:
            if hit.field == field and hit.snippet.strip():
                return hit
    return None


def _span_in_snippet(article: Article, hit: Hit) -> tuple[int, int] | None:
    """Where the hit lies in its snippet: Hit offsets count from the field, not the snippet."""
    snippet = hit.snippet
    try:
        field_text = article.field_text(hit.field)
    except ValueError:
        field_text = ""
    offset = field_text.find(snippet, max(0, hit.end - len(snippet)))
    if 0 <= offset <= hit.start and hit.end <= offset + len(snippet):
        return hit.start - offset, hit.end - offset
    # The snippet was cleaned or cut: fall back to the matched words themselves.
    found = snippet.find(hit.matched) if hit.matched else -1
    if found < 0:
        return None
    return found, found + len(hit.matched)


def _merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _clip(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """Cut a long snippet to a window around its first highlight, with ellipses."""
    if len(text) <= _MAX_SNIPPET_CHARS:
        return text, spans
    first = spans[0][0] if spans else 0
    start = max(0, first - _SNIPPET_CONTEXT_CHARS)
    end = min(len(text), start + _MAX_SNIPPET_CHARS)
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    shift = len(prefix) - start
    kept = [(max(s, start) + shift, min(e, end) + shift) for s, e in spans if s < end and e > start]
    return prefix + text[start:end] + suffix, kept


def _split(text: str, spans: Sequence[tuple[int, int]]) -> tuple[SnippetPart, ...]:
    parts: list[SnippetPart] = []
    cursor = 0
    for start, end in spans:
        if start > cursor:
            parts.append(SnippetPart(text[cursor:start], is_marked=False))
        parts.append(SnippetPart(text[start:end], is_marked=True))
        cursor = end
    if cursor < len(text):
        parts.append(SnippetPart(text[cursor:], is_marked=False))
    return tuple(parts)


# --- subject -------------------------------------------------------------------


def build_subject(digest: Digest) -> str:
    """The one-line subject: what matched and the top headline."""
    ordered = _ordered_entries(digest.entries)
    if digest.kind == "immediate":
        subject = _alert_subject(ordered)
    else:
        subject = _digest_subject(digest, ordered)
    return _bounded(_one_line(subject), _MAX_SUBJECT_CHARS)


def _alert_subject(ordered: Sequence[DigestEntry]) -> str:
    if not ordered:
        return "[monitor] alert"
    top = ordered[0]
    rule_name = _best_match(top).rule_name if top.matches else "alert"
    subject = f"[monitor] {_one_line(rule_name)}: {_headline(top)}"
    if len(ordered) > 1:
        subject += f" and {len(ordered) - 1} more"
    return subject


def _digest_subject(digest: Digest, ordered: Sequence[DigestEntry]) -> str:
    name = _one_line(digest.title) or digest.subscription_id
    if not ordered:
        return f"[monitor] {name}: no new articles"
    count = "1 article" if len(ordered) == 1 else f"{len(ordered)} articles"
    return f"[monitor] {name}: {count} — {_headline(ordered[0])}"


def _heading(digest: Digest, groups: Sequence[RuleGroupView]) -> str:
    if digest.kind == "immediate" and groups:
        return ", ".join(_unique(_one_line(group.rule_name) for group in groups))
    return _one_line(digest.title) or digest.subscription_id


def _headline(entry: DigestEntry) -> str:
    return _bounded(_one_line(entry.article.title) or "(untitled)", _MAX_HEADLINE_CHARS)


# --- webhook payload -----------------------------------------------------------


def build_payload(digest: Digest) -> bytes:
    """The versioned webhook body (schema monitor.digest/1), as UTF-8 JSON bytes."""
    document = {
        "schema": WEBHOOK_SCHEMA,
        "type": "alert" if digest.kind == "immediate" else "digest",
        "subscription": digest.subscription_id,
        "created_at": _iso_utc(digest.created_at),
        "articles": [_payload_article(entry) for entry in _ordered_entries(digest.entries)],
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def _payload_article(entry: DigestEntry) -> dict[str, object]:
    article = entry.article
    return {
        "key": article.key,
        "title": article.title,
        "url": article.url,
        "source": _source(entry),
        "also_in": list(entry.also_in),
        "published_at": _iso_utc(article.published_at),
        "rules": [_payload_rule(match) for match in _ordered_matches(entry.matches)],
    }


def _payload_rule(match: Match) -> dict[str, object]:
    return {
        "id": match.rule_id,
        "name": match.rule_name,
        "priority": Priority(match.priority).label,
        "score": round(match.score, 3),
        "hits": [
            {
                "wanted": hit.wanted,
                "matched": hit.matched,
                "field": hit.field,
                "snippet": hit.snippet,
            }
            for hit in match.hits
        ],
    }


# --- small helpers -------------------------------------------------------------


def _ordered_matches(matches: Iterable[Match]) -> list[Match]:
    return sorted(matches, key=lambda match: (-match.priority, -match.score, match.rule_id))


def _best_match(entry: DigestEntry) -> Match:
    return _ordered_matches(entry.matches)[0]


def _ordered_entries(entries: Iterable[DigestEntry]) -> list[DigestEntry]:
    """Most urgent first: best priority, best score, newest, then key for determinism."""

    def urgency(entry: DigestEntry) -> tuple[int, float, float, str]:
        best = _best_match(entry) if entry.matches else None
        return (
            -(best.priority if best else 0),
            -(best.score if best else 0.0),
            -entry.article.published_at.timestamp(),
            entry.article.key,
        )

    return sorted(entries, key=urgency)


def _source(entry: DigestEntry) -> str:
    return _one_line(entry.feed_title) or entry.article.feed_id


def _linkable(url: str | None) -> str | None:
    """The URL if it is safe to put in an href (http or https), else None."""
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return url
    return None


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("render.unknown_timezone timezone=%r fallback=UTC", name)
        return UTC


def _local_time(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


_WHITESPACE = re.compile(r"\s+")


def _one_line(text: str) -> str:
    """Text without control characters or line breaks, whitespace collapsed."""
    visible = "".join(" " if unicodedata.category(char).startswith("C") else char for char in text)
    return _WHITESPACE.sub(" ", visible).strip()


def _bounded(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rstrip() + "…"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))


def _sample_digest(kind: str) -> Digest:
    """A small digest that exercises every template branch, for template_errors()."""
    moment = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
    title = "Sécurité des JO 2024 : dispositif renforcé"
    summary = "La sécurité des JO 2024 mobilise les services de renseignement."
    article = Article(
        key="sample",
        feed_id="sample-feed",
        url="https://example.org/article",
        guid=None,
        title=title,
        summary=summary,
        body="",
        published_at=moment,
        fetched_at=moment,
        language="fr",
        content_hash="0",
    )
    hits = (
        Hit("sécurité", "sécurité", "summary", 3, 11, summary),
        Hit("Abdellatif Hammouchi", "Hammouchi", "title", 0, 0, title, actor_id="hammouchi"),
    )
    match = Match("sample-rule", "Sample rule", "sample", Priority.HIGH, 1.0, hits)
    return Digest(
        subscription_id="sample",
        kind=kind,
        created_at=moment,
        timezone="Europe/Paris",
        entries=(DigestEntry(article, (match,), "Sample feed", also_in=("Other feed",)),),
        title="Sample",
        feed_problems=("sample-feed: server error (503 status code)",),
    )
