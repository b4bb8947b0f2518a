"""The webhook channel: POST the digest JSON, signed the Standard Webhooks way, with httpx's
async client on the event loop, through the address guard (`monitor.netguard`).

Owns httpx for outbound webhooks and the mapping of HTTP statuses to retryable or
permanent DeliveryErrors. Must not read the store or reshape the payload, which
`render` built. See docs/webhook.md for what receivers get.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from monitor.deliver.payload import SLACK_EVENT_BLOCK_IDS
from monitor.errors import DeliveryError
from monitor.logs import log_event
from monitor.model import Delivery
from monitor.netguard import (
    RefusedAddress,
    Resolver,
    VettingBackend,
    VettingTransport,
    system_resolve,
)
from monitor.targets import WebhookTarget

USER_AGENT = "monitor/0.1 (press-monitoring alert daemon; webhook)"
SECRET_PREFIX = "whsec_"
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
SLACK_EVENTS = {block_id: event for event, block_id in SLACK_EVENT_BLOCK_IDS.items()}

log = logging.getLogger(__name__)


class EndpointGone(DeliveryError):
    """The receiver answered 410 Gone: stop sending to `url` until the operator acts.

    Permanent, so the outbox dead-letters the delivery; it also tells the operator
    (see Outbox's `on_endpoint_gone`) and sends nothing more to the same URL.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, channel="webhook", is_permanent=True)
        self.url = url


class WebhookChannel:
    """POSTs `delivery.message.payload` to the delivery's `WebhookTarget.url`, on the event loop."""

    kind = "webhook"

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        max_response_bytes: int = 64 * 1024,
        clock: Callable[[], float] = time.time,
        resolver: Resolver | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._max_response_bytes = max_response_bytes
        self._clock = clock
        self._resolver = resolver or system_resolve

    async def send(self, delivery: Delivery) -> None:
        """POST the payload; raise DeliveryError (retryable or permanent) unless 2xx."""
        target = delivery.channel
        if not isinstance(target, WebhookTarget) or not target.url:
            raise self._error(f"delivery '{delivery.id}' has no webhook url", is_permanent=True)
        url = target.url
        headers = self._headers(delivery, target)
        where = display_url(url)
        try:
            async with (
                self._client(allow_private=target.allow_private) as client,
                client.stream(
                    "POST", url, content=delivery.message.payload, headers=headers
                ) as reply,
            ):
                # The status line is the receiver's verdict; the body is only read (a bounded
                # amount, within the time left) so the connection can close cleanly.
                status = reply.status_code
                retry_after = reply.headers.get("retry-after")
                await self._drain(reply)
        except RefusedAddress as refused:
            # Permanent: the address will not become public by waiting (see netguard).
            problem = refused.describe(allow_on="webhook")
            raise self._error(f"refusing {where}: {problem}", is_permanent=True) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self._error(f"invalid webhook url {where}: {exc}", is_permanent=True) from exc
        except httpx.TimeoutException as exc:
            raise self._error(f"{where} did not answer within {self._timeout_s} s") from exc
        except httpx.HTTPError as exc:
            raise self._error(f"cannot reach {where}: {str(exc) or type(exc).__name__}") from exc
        self._check_status(status, retry_after, url)
        log_event(
            log,
            logging.INFO,
            "webhook.sent",
            delivery_id=delivery.id,
            channel="webhook",
            status=status,
        )

    def _client(self, *, allow_private: bool) -> httpx.AsyncClient:
        """A client whose every connection is resolved and vetted at connect time."""
        backend = VettingBackend(self._resolver, allow_private=allow_private)
        return httpx.AsyncClient(
            transport=VettingTransport(backend, max_per_host=1),
            timeout=self._timeout_s,
            # A redirect could lead anywhere; a receiver that moved says so with its status.
            follow_redirects=False,
        )

    def _headers(self, delivery: Delivery, target: WebhookTarget) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.id,
            "webhook-timestamp": timestamp,
            "x-monitor-event": _event_type(delivery.message.payload),
        }
        secret = target.secret
        if secret:
            key = self._secret_bytes(secret)
            headers["webhook-signature"] = sign(
                key, delivery.id, timestamp, delivery.message.payload
            )
        return headers

    def _secret_bytes(self, secret: str) -> bytes:
        try:
            return secret_bytes(secret)
        except ValueError as exc:
            raise self._error(str(exc), is_permanent=True) from exc

    async def _drain(self, reply: httpx.Response) -> None:
        """Read at most max_response_bytes for at most timeout_s: receivers may answer anything."""
        received = 0
        deadline = time.monotonic() + self._timeout_s
        try:
            async for chunk in reply.aiter_bytes():
                received += len(chunk)
                if received >= self._max_response_bytes or time.monotonic() > deadline:
                    break
        except httpx.HTTPError as exc:
            # The verdict (the status) has arrived; a body that stalls or breaks changes nothing.
            log_event(log, logging.DEBUG, "webhook.body_unread", error=type(exc).__name__)

    def _check_status(self, status: int, retry_after: str | None, url: str) -> None:
        if 200 <= status < 300:
            return
        where = display_url(url)
        if status == 410:
            raise EndpointGone(
                f"{where} is gone (410 status code); the endpoint is disabled: update or remove "
                "the webhook url, then retry the dead deliveries",
                url=url,
            )
        if status in _RETRYABLE_STATUSES or status >= 500:
            delay_s = parse_retry_after(retry_after, now_s=self._clock())
            raise DeliveryError(
                f"{where} answered {status} status code, will retry",
                channel=self.kind,
                retry_after_s=delay_s,
            )
        raise self._error(
            f"{where} refused the delivery ({status} status code); check the url and the "
            "receiver's logs",
            is_permanent=True,
        )

    def _error(self, message: str, *, is_permanent: bool = False) -> DeliveryError:
        return DeliveryError(message, channel=self.kind, is_permanent=is_permanent)


def sign(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks signature header value: 'v1,' + base64(HMAC-SHA256)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a 'whsec_<base64>' secret; ValueError for anything else.

    A plain string is refused rather than used as UTF-8: receivers' Standard Webhooks
    libraries base64-decode every secret, so they would never verify what it signed.
    """
    hint = "; generate one with `monitor webhook new-secret`"
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret does not start with '{SECRET_PREFIX}'{hint}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"webhook secret starts with '{SECRET_PREFIX}' but the rest is not valid base64{hint}"
        ) from None
    if not key:
        raise ValueError(f"webhook secret is empty after '{SECRET_PREFIX}'{hint}")
    return key


def parse_retry_after(value: str | None, *, now_s: float) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 10.2.3: seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now_s)


def _event_type(payload: bytes) -> str:
    """'alert', 'digest', 'story.developing' or 'spike', read back from the body render built,
    whatever its format.

    The standard body says it in `type`; the Slack body in its header block's `block_id`
    (`SLACK_EVENT_BLOCK_IDS`), since Slack's own fields have no
    place for it and the stored delivery keeps only the body.
    """
    try:
        document = json.loads(payload)
    except ValueError:
        return "digest"
    if not isinstance(document, dict):
        return "digest"
    kind = document.get("type")
    blocks = document.get("blocks")
    if kind is None and isinstance(blocks, list) and blocks and isinstance(blocks[0], dict):
        kind = SLACK_EVENTS.get(str(blocks[0].get("block_id")))
    return kind if kind in SLACK_EVENT_BLOCK_IDS else "digest"


def display_url(url: str) -> str:
    """The URL's scheme, host and port, quoted: webhook URLs often carry a token in the path."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return "'(invalid url)'"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"'{parts.scheme}://{host}{port}/…'"
