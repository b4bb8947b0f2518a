"""The email channel: send a delivery through an SMTP server with aiosmtplib, on the event loop.

Owns SMTP: plain, implicit TLS or STARTTLS, optional login, and the mapping of SMTP
replies to retryable or permanent DeliveryErrors. Never sends a message or a password
in clear text when TLS was asked for. Must not read the store; `mime` builds the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib

from monitor.deliver.channels.mime import MailingList, build_email, envelope_address
from monitor.errors import DeliveryError
from monitor.logs import log_event
from monitor.model import Delivery
from monitor.settings import SmtpSettings
from monitor.targets import EmailTarget

log = logging.getLogger(__name__)

Refusals = Mapping[str, tuple[int, str]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmailChannel:
    """Sends deliveries by SMTP to the delivery's `EmailTarget.to`.

    `mailing_lists` give each subscription's List-Id phrase and Content-Language; a
    subscription without one still gets List-Id and List-Unsubscribe from its id.
    """

    kind = "email"

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        mailing_lists: Iterable[MailingList] = (),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._settings = settings
        self._lists = {listed.subscription_id: listed for listed in mailing_lists}
        self._clock = clock

    async def send(self, delivery: Delivery) -> None:
        """Send the message; raise DeliveryError (retryable or permanent) on failure."""
        target = delivery.channel
        mailboxes = list(target.to) if isinstance(target, EmailTarget) else []
        if not mailboxes:
            raise self._error(f"delivery '{delivery.id}' has no recipients", is_permanent=True)
        message = build_email(
            delivery,
            from_addr=self._settings.from_addr,
            to_addrs=mailboxes,
            now=self._clock(),
            mailing_list=self._lists.get(delivery.subscription_id),
            unsubscribe_url=self._settings.unsubscribe_url,
        )
        # The envelope carries bare addresses: with display names in the headers only,
        # SMTPUTF8 is asked for only when an address itself is not ASCII (aiosmtplib decides).
        recipients = [envelope_address(address) for address in mailboxes]
        try:
            refused = await self._transmit(message, recipients)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise self._all_refused(
                {refusal.recipient: (refusal.code, refusal.message) for refusal in exc.recipients}
            ) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise self._error(
                f"login refused for '{self._settings.username}' at {self._server} "
                f"({exc.code} {_text(exc.message)}; check smtp.username and password)",
                # 454 is a temporary authentication failure (RFC 4954 6); 535 is a wrong password.
                is_permanent=not 400 <= exc.code < 500,
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise self._reply_error(exc.code, exc.message) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise self._error(f"{self._server} does not support {exc}", is_permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._network_error(exc) from exc
        if refused:
            log_event(
                log,
                logging.WARNING,
                "email.recipients_refused",
                delivery_id=delivery.id,
                channel="email",
                refused=_describe_refusals(refused),
            )
        log_event(
            log,
            logging.INFO,
            "email.sent",
            delivery_id=delivery.id,
            channel="email",
            recipients=len(recipients) - len(refused),
        )

    @property
    def _server(self) -> str:
        return f"'{self._settings.host}:{self._settings.port}'"

    async def _transmit(self, message: EmailMessage, recipients: list[str]) -> Refusals:
        """Connect, secure, log in and send; return the recipients the server refused."""
        settings = self._settings
        if settings.username:
            self._check_login_is_private()
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            timeout=settings.timeout_s,
            use_tls=settings.tls,
            # STARTTLS is never automatic: we decide, so a server that stops offering it
            # cannot silently downgrade the session to clear text.
            start_tls=False,
            tls_context=self._tls(),
        )
        await client.connect()
        try:
            await client.ehlo()
            if settings.starttls and not settings.tls:
                await self._start_tls(client)
            if settings.username:
                await client.login(settings.username, settings.password or "")
            errors, _ = await client.send_message(
                message, sender=envelope_address(settings.from_addr), recipients=recipients
            )
            # The server has answered 250 to the message: a failing QUIT changes nothing.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        finally:
            _hang_up(client)
        await asyncio.sleep(0)  # one loop turn: the aborted socket is closed in it
        return {address: (reply.code, reply.message) for address, reply in errors.items()}

    def _tls(self) -> ssl.SSLContext:
        # Certificates and host names are always verified; ca_file only changes whom we trust.
        ca_file = self._settings.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _check_login_is_private(self) -> None:
        settings = self._settings
        if settings.tls or settings.starttls or _is_loopback(settings.host):
            return
        raise self._error(
            f"refusing to send the password for '{settings.username}' in clear text to "
            f"{self._server} (set smtp.starttls or smtp.tls)",
            is_permanent=True,
        )

    async def _start_tls(self, client: aiosmtplib.SMTP) -> None:
        if not client.supports_extension("starttls"):
            # Sending in clear text when TLS was asked for would leak the message and password.
            raise self._error(
                f"{self._server} does not offer STARTTLS; refusing to send in clear text "
                "(check smtp.starttls and smtp.port)",
                is_permanent=True,
            )
        await client.starttls()

    def _network_error(self, exc: BaseException) -> DeliveryError:
        """Disconnections, timeouts, refused connections, TLS failures: try again later."""
        unverified = _cause_of_type(exc, ssl.SSLCertVerificationError)
        if unverified is not None:
            return self._error(
                f"cannot verify the TLS certificate of {self._server}: "
                f"{unverified.verify_message} (for a private CA, set smtp.ca_file)"
            )
        if isinstance(exc, aiosmtplib.SMTPTimeoutError):
            return self._error(
                f"{self._server} did not answer within {self._settings.timeout_s} s ({exc})"
            )
        return self._error(f"cannot talk to {self._server}: {str(exc) or type(exc).__name__}")

    def _reply_error(self, code: int, reply: str) -> DeliveryError:
        # RFC 5321 4.2.1: 4yz is a transient failure, 5yz a permanent one.
        is_permanent = not 400 <= code < 500
        return self._error(
            f"{self._server} replied {code} {_text(reply)}", is_permanent=is_permanent
        )

    def _all_refused(self, refusals: Refusals) -> DeliveryError:
        # Only worth retrying when every refusal was temporary (e.g. 450 mailbox busy).
        is_permanent = not all(400 <= code < 500 for code, _ in refusals.values())
        return self._error(
            f"every recipient refused: {_describe_refusals(refusals)}", is_permanent=is_permanent
        )

    def _error(self, message: str, *, is_permanent: bool = False) -> DeliveryError:
        return DeliveryError(message, channel=self.kind, is_permanent=is_permanent)


def _hang_up(client: aiosmtplib.SMTP) -> None:
    """Drop the connection now, whatever state it is in.

    A graceful TLS close needs more loop turns than a one-shot command's loop may have left
    (the socket would leak); after QUIT, or after a failure, nothing is lost by aborting.
    """
    transport = client.transport
    client.close()
    if isinstance(transport, asyncio.Transport):
        transport.abort()


def _cause_of_type(
    exc: BaseException, wanted: type[ssl.SSLCertVerificationError]
) -> ssl.SSLCertVerificationError | None:
    """`exc` or the exception it was raised from, when it is a `wanted`."""
    seen: BaseException | None = exc
    for _ in range(5):  # aiosmtplib wraps socket errors once or twice
        if seen is None:
            return None
        if isinstance(seen, wanted):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _describe_refusals(refusals: Refusals) -> str:
    return ", ".join(
        f"'{address}' ({code} {_text(reply)})" for address, (code, reply) in refusals.items()
    )


def _text(reply: str) -> str:
    return " ".join(reply.split())
