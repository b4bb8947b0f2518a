"""What config.yaml accepts as an email address: a bare `name@domain` the SMTP envelope can
carry. Pure; the stdlib header parser reads the address, a label check reads the domain.
"""

from __future__ import annotations

import re
from email.headerregistry import Address

# RFC 1035 section 2.3.1 labels, letters widened to Unicode for internationalised domains.
_LABEL = re.compile(r"^[^\W_](?:[\w-]{0,61}[^\W_])?$")


def address_problem(value: str) -> str | None:
    """Why `value` is not a usable email address, or None when it is one."""
    shown = f"'{value}' is not an email address"
    if "<" in value or ">" in value:
        # The value is also the SMTP envelope sender or recipient, which has no display name.
        return f"{shown} (give the bare address, e.g. desk@example.org, without a name or <>)"
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError):
        # The stdlib parser raises header defects (ValueError) and, on 'a@', IndexError.
        return f"{shown} (expected name@domain, e.g. desk@example.org)"
    labels = parsed.domain.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return f"{shown}: '{parsed.domain}' is not a domain name"
    return None
