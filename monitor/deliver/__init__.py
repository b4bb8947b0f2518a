"""Matches → messages → channels: compose a digest (pure), build its view, render it
(Jinja2 in a sandbox, sanitised), and send it through the durable outbox. Never reads the
store itself: the outbox takes the Protocol it declares. The web workspace words and
highlights matches with the same view helpers and catalog.
"""

from monitor.deliver.channels import (
    ChannelContext,
    EndpointGone,
    MailingList,
    build_channels,
    display_url,
    payload_format,
    redact_channel,
    target_problems,
)
from monitor.deliver.compose import (
    compose_digest,
    compose_spike,
    delivery_id,
    developing_entry,
    mailing_list,
    rule_ids_for,
)
from monitor.deliver.highlight import SnippetPart, highlight_snippet
from monitor.deliver.i18n import clause_words, format_number, local_time, translations, words_for
from monitor.deliver.outbox import FlushReport, Outbox
from monitor.deliver.render import Renderer, RendererBySubscription
from monitor.deliver.view import explain_match, linkable, priority_label, recipient_zone

__all__ = [
    "ChannelContext",
    "EndpointGone",
    "FlushReport",
    "MailingList",
    "Outbox",
    "Renderer",
    "RendererBySubscription",
    "SnippetPart",
    "build_channels",
    "clause_words",
    "compose_digest",
    "compose_spike",
    "delivery_id",
    "developing_entry",
    "display_url",
    "explain_match",
    "format_number",
    "highlight_snippet",
    "linkable",
    "local_time",
    "mailing_list",
    "payload_format",
    "priority_label",
    "recipient_zone",
    "redact_channel",
    "rule_ids_for",
    "target_problems",
    "translations",
    "words_for",
]
