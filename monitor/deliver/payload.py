"""Build webhook bodies: the versioned `monitor.digest/1` JSON and a Slack-compatible message.

Both are built field by field in code, never by dumping an internal object, and never
through a template (docs/webhook.md is the contract). Pure: returns bytes, sends nothing.
"""

from __future__ import annotations

import json
from datetime import tzinfo
from urllib.parse import quote

from monitor.deliver.highlight import highlight_snippet
from monitor.deliver.i18n import Words, local_time, words_for
from monitor.deliver.view import (
    headline,
    iso_utc,
    linkable,
    ordered_entries,
    ordered_matches,
    priority_label,
    recipient_zone,
    source_name,
)
from monitor.model import Digest, DigestEntry, Match, Priority, SpikeAlert
from monitor.text import one_line, truncate

WEBHOOK_SCHEMA = "monitor.digest/1"
PAYLOAD_FORMATS = ("standard", "slack")
# Slack: at most 50 blocks per message and 3,000 characters per section text.
SLACK_MAX_ENTRIES = 20
_SLACK_SECTION_CHARS = 2900
_SLACK_HEADER_CHARS = 150
# The header block's block_id names the event, so the webhook channel can send the right
# `x-monitor-event` for a Slack body too (Slack shows nothing of a block_id).
SLACK_EVENT_BLOCK_IDS = {
    "alert": "monitor-alert",
    "digest": "monitor-digest",
    "story.developing": "monitor-developing",
    "spike": "monitor-spike",
}
# The webhook event each kind of digest is (the body's `type`, the `x-monitor-event` header).
EVENT_TYPES = {
    "immediate": "alert",
    "digest": "digest",
    "developing": "story.developing",
    "spike": "spike",
}


def build_body(digest: Digest, payload_format: str = "standard") -> bytes:
    """The webhook body in `payload_format` ('standard' or 'slack'); ValueError otherwise."""
    if payload_format == "standard":
        return build_payload(digest)
    if payload_format == "slack":
        return build_slack_payload(digest)
    raise ValueError(
        f"unknown webhook format '{payload_format}' (expected one of {', '.join(PAYLOAD_FORMATS)})"
    )


def _dump(document: object) -> bytes:
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


# --- monitor.digest/1 ------------------------------------------------------------


def build_payload(digest: Digest) -> bytes:
    """The versioned webhook body (schema monitor.digest/1), as UTF-8 JSON bytes."""
    if digest.spike is not None:
        return _dump(_spike_payload(digest, digest.spike))
    return _dump(
        {
            "schema": WEBHOOK_SCHEMA,
            "type": EVENT_TYPES[digest.kind],
            "subscription": digest.subscription_id,
            "created_at": iso_utc(digest.created_at),
            "articles": [_payload_article(entry) for entry in ordered_entries(digest.entries)],
            "developing": [_payload_developing(entry) for entry in digest.developing],
        }
    )


def _payload_developing(entry: DigestEntry) -> dict[str, object]:
    developing = entry.developing
    return {
        **_payload_article(entry),
        "outlets": developing.outlet_count if developing else 1 + len(entry.also_in),
        "new_outlets": list(developing.new_outlets) if developing else [],
        "new_actors": list(developing.new_actors) if developing else [],
    }


def _spike_payload(digest: Digest, spike: SpikeAlert) -> dict[str, object]:
    return {
        "schema": WEBHOOK_SCHEMA,
        "type": "spike",
        "subscription": digest.subscription_id,
        "created_at": iso_utc(digest.created_at),
        "spike": {
            "id": spike.id,
            "rule": {"id": spike.rule_id, "name": spike.rule_name},
            "fired_at": iso_utc(spike.fired_at),
            "window_s": spike.window_s,
            "count": spike.count,
            "outlets": spike.outlets,
            "expected": round(spike.expected, 3),
            "spread": round(spike.spread, 3),
            "stories": [
                {
                    "key": story.article_key,
                    "title": story.title,
                    "url": story.url,
                    "source": story.feed_id,
                    "published_at": iso_utc(story.published_at),
                    "outlets": story.outlets,
                }
                for story in spike.stories
            ],
        },
        "articles": [],
    }


def _payload_article(entry: DigestEntry) -> dict[str, object]:
    article = entry.article
    return {
        "key": article.key,
        "title": article.title,
        "url": article.url,
        "source": source_name(entry),
        "also_in": list(entry.also_in),
        "also_covered": [
            {"source": copy.outlet, "url": copy.url, "published_at": iso_utc(copy.published_at)}
            for copy in entry.copies
        ],
        "published_at": iso_utc(article.published_at),
        "rules": [_payload_rule(match) for match in ordered_matches(entry.matches)],
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


# --- Slack-compatible ------------------------------------------------------------


def build_slack_payload(digest: Digest) -> bytes:
    """A Slack incoming-webhook message: `text` for any Slack-compatible receiver, `blocks`
    for Slack itself. Feed text is escaped so a title cannot ping @channel or forge links."""
    words = words_for(digest.language)
    if digest.spike is not None:
        return _dump(_slack_spike(digest.spike, words))
    # Follow-ups after the new stories: they were sent once already.
    ordered = [*ordered_entries(digest.entries), *digest.developing]
    shown = ordered[:SLACK_MAX_ENTRIES]
    title = _slack_title(digest, len(ordered), words)
    zone = recipient_zone(digest.timezone)
    lines = [f"*{_slack_escape(title)}*"]
    event = EVENT_TYPES.get(digest.kind, "digest")
    blocks: list[dict[str, object]] = [
        {
            "type": "header",
            "block_id": SLACK_EVENT_BLOCK_IDS[event],
            "text": {"type": "plain_text", "text": title},
        }
    ]
    for entry in shown:
        section = _slack_entry(entry, zone, words)
        lines.append(section)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": section}})
    if len(ordered) > len(shown):
        more = words.gettext("… and %(count)s more") % {"count": len(ordered) - len(shown)}
        lines.append(more)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return _dump({"text": "\n\n".join(lines), "blocks": blocks})


def _slack_spike(spike: SpikeAlert, words: Words) -> dict[str, object]:
    title = truncate(
        words.gettext("Spike: %(rule)s") % {"rule": one_line(spike.rule_name)},
        _SLACK_HEADER_CHARS,
        marker="…",
    )
    lines = [
        words.ngettext(
            "%(count)s story from %(outlets)s outlets",
            "%(count)s stories from %(outlets)s outlets",
            spike.count,
        )
        % {"count": spike.count, "outlets": spike.outlets}
    ]
    for story in spike.stories:
        url = linkable(story.url)
        name = _slack_escape(one_line(story.title) or words.gettext("(untitled)"))
        lines.append(f"• <{_slack_url(url)}|{name}>" if url else f"• {name}")
    text = truncate("\n".join(lines), _SLACK_SECTION_CHARS, marker="…")
    return {
        "text": f"*{_slack_escape(title)}*\n\n{text}",
        "blocks": [
            {
                "type": "header",
                "block_id": SLACK_EVENT_BLOCK_IDS["spike"],
                "text": {"type": "plain_text", "text": title},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        ],
    }


def _slack_title(digest: Digest, count: int, words: Words) -> str:
    name = one_line(digest.title) or digest.subscription_id
    articles = words.ngettext("%(count)s article", "%(count)s articles", count) % {"count": count}
    if digest.kind == "developing":
        title = words.gettext("Story developing: %(subscription)s (%(articles)s)")
    elif digest.kind == "immediate":
        title = words.gettext("Alert: %(subscription)s (%(articles)s)")
    else:
        title = words.gettext("%(subscription)s: %(articles)s")
    shown = title % {"subscription": name, "articles": articles}
    return truncate(shown, _SLACK_HEADER_CHARS, marker="…")


def _slack_entry(entry: DigestEntry, zone: tzinfo, words: Words) -> str:
    title = _slack_escape(headline(entry))
    url = linkable(entry.article.url)
    heading = f"*<{_slack_url(url)}|{title}>*" if url else f"*{title}*"
    best = ordered_matches(entry.matches)[0] if entry.matches else None
    # Feed text goes on one line; the catalog's wording keeps its no-break spaces.
    meta = [
        one_line(source_name(entry)),
        local_time(entry.article.published_at, zone, words.language),
    ]
    if best is not None:
        priority = priority_label(Priority(best.priority), words)
        meta.append(f"{one_line(best.rule_name)} ({priority})")
    if entry.also_in:
        outlets = ", ".join(one_line(outlet) for outlet in entry.also_in)
        meta.append(words.gettext("also in: %(outlets)s") % {"outlets": outlets})
    if entry.developing and entry.developing.new_outlets:
        outlets = ", ".join(one_line(outlet) for outlet in entry.developing.new_outlets)
        meta.append(words.gettext("new: %(outlets)s") % {"outlets": outlets})
    lines = [heading, _slack_escape(" · ".join(meta))]
    if best is not None:
        snippet = _slack_snippet(entry, best)
        if snippet:
            lines.append("> " + snippet)
    return truncate("\n".join(lines), _SLACK_SECTION_CHARS, marker="…")


def _slack_snippet(entry: DigestEntry, match: Match) -> str:
    parts = highlight_snippet(entry.article, match.hits)
    return "".join(
        f"*{_slack_escape(part.text)}*" if part.is_marked else _slack_escape(part.text)
        for part in parts
    )


def _slack_escape(text: str) -> str:
    # Slack's three control characters: escaping them turns "<!channel>" into plain text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    # Inside <url|label>, '|' and '>' would end the URL early; percent-encode them.
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")
