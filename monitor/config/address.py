"""What config.yaml accepts as an email address: `name@domain`, or `Display Name <name@domain>`.

Pure; the stdlib header parser reads the mailbox, a label check reads the domain. Only the
bare address reaches the SMTP envelope; the display name goes into the headers alone.
"""

from __future__ import annotations

import re
import unicodedata
from email import policy
from email.headerregistry import Address

# RFC 1035 section 2.3.1 labels, letters widened to Unicode for internationalised domains.
_LABEL = re.compile(r"^[^\W_](?:[\w-]{0,61}[^\W_])?$")
_EXPECTED = "expected name@domain or Name <name@domain>, e.g. desk@example.org"


def address_problem(value: str) -> str | None:
    """Why `value` is not one usable mailbox, or None when it is one."""
    shown = f"'{value}' is not an email address"
    if any(unicodedata.category(char).startswith("C") for char in value):
        # A line break would end the header it is written into (header injection).
        return f"{shown} (it holds a line break or another control character)"
    parsed = _one_mailbox(value)
    if parsed is None:
        return f"{shown} ({_EXPECTED})"
    try:
        Address(addr_spec=parsed.addr_spec)
    except (ValueError, IndexError):
        # The stdlib parser raises header defects (ValueError) and, on 'a@', IndexError.
        return f"{shown} ({_EXPECTED})"
    labels = parsed.domain.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return f"{shown}: '{parsed.domain}' is not a domain name"
    return None


def _one_mailbox(value: str) -> Address | None:
    """The single mailbox `value` names, or None for defects, groups, lists and no domain."""
    try:
        header = policy.default.header_factory("to", value)
    except (ValueError, IndexError):
        # The stdlib parser raises header defects (ValueError) and, on 'a@', IndexError.
        return None
    # A non-ASCII local part is a defect to the stdlib too: refused, so that only an
    # internationalised domain ever needs SMTPUTF8.
    if header.defects or len(header.groups) != 1 or header.groups[0].display_name is not None:
        return None
    (group,) = header.groups
    if len(group.addresses) != 1:
        return None
    (found,) = group.addresses
    return found if isinstance(found, Address) and found.domain else None
