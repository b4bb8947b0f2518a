"""Matches → messages → channels: compose a digest (pure), build its view, render it
(Jinja2 in a sandbox, sanitised), and send it through the durable outbox. Never reads the
store itself: the outbox takes the Protocol it declares.
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
from monitor.deliver.compose import compose_digest, delivery_id, mailing_list, rule_ids_for
from monitor.deliver.i18n import clause_words
from monitor.deliver.outbox import FlushReport, Outbox
from monitor.deliver.render import Renderer, RendererBySubscription

__all__ = [
    "ChannelContext",
    "EndpointGone",
    "FlushReport",
    "MailingList",
    "Outbox",
    "Renderer",
    "RendererBySubscription",
    "build_channels",
    "clause_words",
    "compose_digest",
    "delivery_id",
    "display_url",
    "mailing_list",
    "payload_format",
    "redact_channel",
    "rule_ids_for",
    "target_problems",
]
