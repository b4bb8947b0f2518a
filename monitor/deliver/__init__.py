"""deliver: public face."""

from monitor.deliver.channels import EndpointGone, build_channels, check_apprise_urls, display_url
from monitor.deliver.channels.email import SmtpSettings
from monitor.deliver.compose import compose_digest, delivery_id, rule_ids_for
from monitor.deliver.outbox import FlushReport, Outbox, redact_channel
from monitor.deliver.render import Renderer, RendererBySubscription

__all__ = [
    "EndpointGone",
    "FlushReport",
    "Outbox",
    "Renderer",
    "RendererBySubscription",
    "SmtpSettings",
    "build_channels",
    "check_apprise_urls",
    "compose_digest",
    "delivery_id",
    "display_url",
    "redact_channel",
    "rule_ids_for",
]
