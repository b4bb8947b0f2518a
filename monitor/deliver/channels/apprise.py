"""The apprise channel: the long tail of chat and push services (Teams, Matrix, Telegram, ntfy,
Discord, …) through the Apprise library, one service URL at a time.

Owns apprise (it never leaves this module) and the redaction of service URLs, which carry
tokens: only `redact_url` forms reach logs, errors and the store. Apprise blocks, so it runs
in a worker thread under a deadline. Before a URL reaches Apprise, its host goes through
the address guard (`monitor.netguard`) unless the target has `allow_private`. Must not read
the store. Apprise cannot say whether a failure is permanent, so every failure is retried.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import warnings
from collections.abc import Sequence
from urllib.parse import urlsplit

import apprise

from monitor.errors import DeliveryError
from monitor.logs import log_event
from monitor.model import Delivery
from monitor.netguard import RefusedAddress, Resolver, refuse_private_host, system_resolve
from monitor.targets import AppriseTarget

log = logging.getLogger(__name__)


class AppriseChannel:
    """Sends `delivery.message` (subject and plain text) to each of the target's service URLs."""

    kind = "apprise"

    def __init__(self, *, timeout_s: float = 30.0, resolver: Resolver | None = None) -> None:
        self._timeout_s = timeout_s
        self._resolver = resolver or system_resolve
        _load_plugins_quietly()

    async def send(self, delivery: Delivery) -> None:
        """Notify every URL; raise a retryable DeliveryError naming the URLs that failed."""
        target = delivery.channel
        urls = target.urls if isinstance(target, AppriseTarget) else ()
        if not urls:
            raise self._error(f"delivery '{delivery.id}' has no apprise urls", is_permanent=True)
        problems = check_apprise_urls(urls)
        if problems:
            raise self._error("; ".join(problems), is_permanent=True)
        if not (isinstance(target, AppriseTarget) and target.allow_private):
            await self._refuse_private_hosts(urls)
        try:
            failed = await asyncio.wait_for(
                asyncio.to_thread(self._notify_all, urls, delivery), self._timeout_s
            )
        except TimeoutError:
            # The thread cannot be stopped; its late notifications are what a retry repeats.
            raise self._error(f"the services did not answer within {self._timeout_s} s") from None
        if failed:
            # A retry notifies every URL again: list one URL per channel when that matters.
            shown = ", ".join(f"'{redact_url(url)}'" for url in failed)
            raise self._error(f"{len(failed)} of {len(urls)} services failed: {shown}")
        log_event(
            log,
            logging.INFO,
            "apprise.sent",
            delivery_id=delivery.id,
            channel="apprise",
            services=len(urls),
        )

    async def _refuse_private_hosts(self, urls: Sequence[str]) -> None:
        for url in urls:
            host, port = _service_host(url)
            if not host:
                continue
            try:
                await refuse_private_host(host, port, self._resolver, timeout_s=self._timeout_s)
            except RefusedAddress as refused:
                problem = refused.describe(allow_on="apprise target")
                message = f"refusing '{redact_url(url)}': {problem}"
                raise self._error(message, is_permanent=True) from None

    def _notify_all(self, urls: Sequence[str], delivery: Delivery) -> list[str]:
        """The URLs that failed (runs in a worker thread)."""
        return [url for url in urls if not self._notify(url, delivery)]

    def _notify(self, url: str, delivery: Delivery) -> bool:
        notifier = apprise.Apprise()
        notifier.add(url)
        result = notifier.notify(
            body=delivery.message.text,
            title=delivery.message.subject,
            body_format=apprise.NotifyFormat.TEXT,
        )
        return bool(result)

    def _error(self, message: str, *, is_permanent: bool = False) -> DeliveryError:
        return DeliveryError(message, channel=self.kind, is_permanent=is_permanent)


@functools.cache
def _load_plugins_quietly() -> None:
    # Apprise loads its plugins on first use, and one of them imports the stdlib `imghdr`,
    # deprecated since Python 3.11: load them once here, with that warning silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        apprise.Apprise.instantiate("json://localhost")


def _service_host(url: str) -> tuple[str, int]:
    """The host and port Apprise would connect to for `url`, or ('', 0) for a cloud service.

    A service with a fixed endpoint (`notify_url`, e.g. Telegram's api.telegram.org) keeps a
    token where the host goes, so there is no operator-chosen host to vet.
    """
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None or str(getattr(type(plugin), "notify_url", "")).startswith("https://"):
        return "", 0
    host = str(getattr(plugin, "host", "") or "")
    port = getattr(plugin, "port", None)
    is_secure = bool(getattr(plugin, "secure", False))
    return host, port if isinstance(port, int) else (443 if is_secure else 80)


def check_apprise_urls(urls: Sequence[str]) -> list[str]:
    """One problem per URL Apprise does not understand (for `monitor check`); [] when fine."""
    _load_plugins_quietly()
    problems = []
    for index, url in enumerate(urls):
        if apprise.Apprise.instantiate(url) is None:
            scheme = urlsplit(url).scheme or "?"
            problems.append(
                f"apprise url #{index + 1} ('{scheme}://…') is not a service Apprise knows "
                "(see https://github.com/caronc/apprise/wiki for the URL of each service)"
            )
    return problems


def redact_url(url: str) -> str:
    """A form of `url` safe to log and store: its scheme and a short hash, e.g. 'tgram://…#1a2b3c4d'.

    Stable for a given URL, so the outbox can find the live URL again at send time.
    """
    scheme = urlsplit(url).scheme or "?"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    return f"{scheme}://…#{digest}"
