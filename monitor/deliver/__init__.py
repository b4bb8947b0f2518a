"""deliver: public face."""

from monitor.deliver.channels import (
    ChannelContext,
    EndpointGone,
    build_channels,
    display_url,
    payload_format,
    redact_channel,
    target_problems,
)
from monitor.deliver.compose import compose_digest, delivery_id, rule_ids_for
from monitor.deliver.outbox import FlushReport, Outbox
from monitor.deliver.render import Renderer, RendererBySubscription

__all__ = [
    "ChannelContext",
    "EndpointGone",
    "FlushReport",
    "Outbox",
    "Renderer",
    "RendererBySubscription",
    "build_channels",
    "compose_digest",
    "delivery_id",
    "display_url",
    "payload_format",
    "redact_channel",
    "rule_ids_for",
    "target_problems",
]
