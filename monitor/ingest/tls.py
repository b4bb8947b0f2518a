"""How `fetch` verifies a feed's TLS certificate and reports a refusal.

Owns the per-feed trust (`ca_file`: another CA, never verification off) and reading the
verifier's reason out of a handshake failure. Never opens a connection.
"""

from __future__ import annotations

import ssl

from monitor.errors import FetchError

# OpenSSL X509_V_ERR_* 18-21: self-signed leaf or chain, issuer not found, leaf unverifiable.
_UNKNOWN_ISSUER_CODES = frozenset({18, 19, 20, 21})


def feed_ssl_context(ca_file: str, url: str) -> ssl.SSLContext:
    """Verification as always (chain, expiry, host name), trusting `ca_file` instead."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(
            f"cannot load ca_file '{ca_file}': {getattr(exc, 'strerror', None) or exc}",
            url=url,
        ) from exc


def certificate_refusal(exc: BaseException) -> tuple[str, bool] | None:
    """The verifier's reason when the TLS handshake refused the certificate, and whether
    the issuer was unknown (which a feed's ca_file can fix), else None."""
    cause: BaseException | None = exc
    for _ in range(8):  # httpx wraps httpcore, which wraps ssl: a short chain
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = str(cause.verify_message or cause.reason or "verification failed")
            return reason, cause.verify_code in _UNKNOWN_ISSUER_CODES
        cause = cause.__cause__ or cause.__context__
    return None
