"""Settings objects the config builds and the adapters take directly. Stdlib only.

Each class is declared once: `config/load.py` validates the file and builds it, and the
adapter that needs it (the email channel for `SmtpSettings`) takes it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How to reach the SMTP server; the password never appears in the repr."""

    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    tls: bool = False  # implicit TLS from the first byte
    username: str | None = None
    # Kept out of repr so it cannot reach a log line or a traceback.
    password: str | None = field(default=None, repr=False)
    from_addr: str = "monitor@localhost"
    timeout_s: float = 30.0  # per network operation (connect, each command)
    ca_file: Path | None = None  # PEM bundle to trust instead of the system's (private CA)
