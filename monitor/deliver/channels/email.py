"""The email channel: send a delivery through an SMTP server with smtplib.

Owns SMTP: plain, implicit TLS or STARTTLS, optional login, and the mapping of SMTP
replies to retryable or permanent DeliveryErrors. Never sends a message or a password
in clear text when TLS was asked for. Must not read the store; `mime` builds the message.
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from monitor.deliver.channels.mime import build_email
from monitor.errors import DeliveryError
from monitor.model import Delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server."""

    host: str
    port: int = 25
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    from_addr: str = "monitor@localhost"
    timeout_s: float = 30.0
    ca_file: str | None = None  # PEM bundle to trust instead of the system's (private CA)

    def __repr__(self) -> str:
        # Never let the password reach a log line or a traceback.
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, starttls={self.starttls}, "
            f"tls={self.tls}, username={self.username!r}, from_addr={self.from_addr!r})"
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmailChannel:
    """Sends deliveries by SMTP to `delivery.channel.email_to`."""

    kind = "email"

    def __init__(self, settings: SmtpSettings, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._settings = settings
        self._clock = clock

    def send(self, delivery: Delivery) -> None:
        """Send the message; raise DeliveryError (retryable or permanent) on failure."""
        recipients = list(delivery.channel.email_to)
        if not recipients:
            raise self._error(f"delivery '{delivery.id}' has no recipients", is_permanent=True)
        message = build_email(
            delivery,
            from_addr=self._settings.from_addr,
            to_addrs=recipients,
            now=self._clock(),
        )
        try:
            refused = self._transmit(message, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._all_refused(exc.recipients) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error(
                f"login refused for '{self._settings.username}' at {self._server} "
                f"({exc.smtp_code} {_text(exc.smtp_error)}; check smtp.username and password)",
                # 454 is a temporary authentication failure (RFC 4954 6); 535 is a wrong password.
                is_permanent=not 400 <= exc.smtp_code < 500,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._reply_error(exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise self._error(f"{self._server} does not support {exc}", is_permanent=True) from exc
        except ssl.SSLCertVerificationError as exc:
            raise self._error(
                f"cannot verify the TLS certificate of {self._server}: {exc.verify_message} "
                "(for a private CA, set smtp.ca_file)"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnections, timeouts, refused connections, TLS failures: try again later.
            raise self._error(
                f"cannot talk to {self._server}: {str(exc) or type(exc).__name__}"
            ) from exc
        if refused:
            log.warning(
                "email.recipients_refused delivery_id=%s channel=email refused=%s",
                delivery.id,
                _describe_refusals(refused),
            )
        log.info(
            "email.sent delivery_id=%s channel=email recipients=%d",
            delivery.id,
            len(recipients) - len(refused),
        )

    @property
    def _server(self) -> str:
        return f"'{self._settings.host}:{self._settings.port}'"

    def _transmit(
        self, message: EmailMessage, recipients: list[str]
    ) -> Mapping[str, tuple[int, bytes]]:
        """Connect, secure, log in and send; return the recipients the server refused."""
        settings = self._settings
        if settings.username:
            self._check_login_is_private()
        client = self._connect()
        with client:
            client.ehlo()
            if settings.starttls and not settings.tls:
                self._start_tls(client)
            if settings.username:
                client.login(settings.username, settings.password or "")
            return client.send_message(
                message,
                from_addr=settings.from_addr,
                to_addrs=recipients,
            )

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        if settings.tls:
            return smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_s, context=self._tls()
            )
        return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)

    def _tls(self) -> ssl.SSLContext:
        # Certificates and host names are always verified; ca_file only changes whom we trust.
        return ssl.create_default_context(cafile=self._settings.ca_file)

    def _check_login_is_private(self) -> None:
        settings = self._settings
        if settings.tls or settings.starttls or _is_loopback(settings.host):
            return
        raise self._error(
            f"refusing to send the password for '{settings.username}' in clear text to "
            f"{self._server} (set smtp.starttls or smtp.tls)",
            is_permanent=True,
        )

    def _start_tls(self, client: smtplib.SMTP) -> None:
        if not client.has_extn("starttls"):
            # Sending in clear text when TLS was asked for would leak the message and password.
            raise self._error(
                f"{self._server} does not offer STARTTLS; refusing to send in clear text "
                "(check smtp.starttls and smtp.port)",
                is_permanent=True,
            )
        client.starttls(context=self._tls())
        client.ehlo()

    def _reply_error(self, code: int, reply: bytes | str) -> DeliveryError:
        # RFC 5321 4.2.1: 4yz is a transient failure, 5yz a permanent one.
        is_permanent = not 400 <= code < 500
        return self._error(
            f"{self._server} replied {code} {_text(reply)}", is_permanent=is_permanent
        )

    def _all_refused(self, refusals: Mapping[str, tuple[int, bytes]]) -> DeliveryError:
        # Only worth retrying when every refusal was temporary (e.g. 450 mailbox busy).
        is_permanent = not all(400 <= code < 500 for code, _ in refusals.values())
        return self._error(
            f"every recipient refused: {_describe_refusals(refusals)}", is_permanent=is_permanent
        )

    def _error(self, message: str, *, is_permanent: bool = False) -> DeliveryError:
        return DeliveryError(message, channel=self.kind, is_permanent=is_permanent)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _describe_refusals(refusals: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(
        f"'{address}' ({code} {_text(reply)})" for address, (code, reply) in refusals.items()
    )


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
