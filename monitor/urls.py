"""The one check of a URL's spelling, for feeds, redirects, article pages and webhooks.

Owns what an http(s) URL may look like before anything connects to it: no control
characters or backslashes, one authority with at most one `@` (the userinfo), a host that
every URL parser reads the same way, and no credentials hidden later in the URL. A base
module so config, fetch and the webhook channel refuse the same URLs; it never resolves
names or connects (that is `netguard`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

WEB_SCHEMES = frozenset({"http", "https"})
# C0 controls, DEL and C1 controls: WHATWG parsers strip tabs and newlines silently and
# Python's urlsplit strips some of them, so two parsers would read two different URLs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# `scheme://userinfo@` after the authority: a credential riding in a path or a query.
_NESTED_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?://|%2[Ff]%2[Ff])[^/?#]*@")
_BACKSLASH = "\\"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROL_NAMES = {"\t": "a tab", "\r": "a carriage return (CR)", "\n": "a line feed (LF)"}


def web_url_problem(url: str) -> str | None:
    """Why `url` may not be fetched as an http(s) URL, in words; None when it may."""
    problem = _character_problem(url)
    if problem is not None:
        return problem
    scheme, separator, rest = url.partition(":")
    if not separator or scheme.lower() not in WEB_SCHEMES:
        shown = scheme.lower() if separator else ""
        return f"unsupported URL scheme '{shown}' (use http or https)"
    if _BACKSLASH in url:
        # WHATWG reads '\' as '/', so 'https://host\@evil/' goes to 'host' in a browser
        # and to 'evil' in Python: refuse rather than guess which one the writer meant.
        return f"a backslash at position {url.index(_BACKSLASH)} (use '/' in a URL)"
    if not rest.startswith("//"):
        return "no '//' after the scheme (write e.g. 'https://host/feed')"
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    problem = _authority_problem(authority)
    if problem is not None:
        return problem
    if _NESTED_CREDENTIALS.search(rest[2 + len(authority) :]):
        return "credentials ('scheme://user@') inside the path or query: put them in the userinfo"
    try:
        urlsplit(url).port  # noqa: B018 - reading it is the check: it raises when invalid
    except ValueError:
        return "invalid port or bracketed address (a port is a number from 1 to 65535)"
    return None


def feed_url_problem(url: str) -> str | None:
    """Why `url` may not be a feed's url (http(s), `file:` or a path); None when it may.

    A path keeps its backslashes (they separate folders on Windows); an http(s) URL
    must pass `web_url_problem`, and any other scheme is refused.
    """
    found = _SCHEME.match(url)
    scheme = found.group(1).lower() if found else ""
    # A one-letter scheme is a Windows drive ("C:\\feeds\\x.xml"), so a path, as in fetch.
    if scheme in ("", "file") or len(scheme) == 1:
        return _character_problem(url)
    return web_url_problem(url)


def _character_problem(url: str) -> str | None:
    found = _CONTROL.search(url)
    if found is not None:
        name = _CONTROL_NAMES.get(found.group(), f"control character U+{ord(found.group()):04X}")
        return f"contains {name} at position {found.start()} (remove it, or encode it as %XX)"
    if url != url.strip():
        return "starts or ends with a space"
    return None


def _authority_problem(authority: str) -> str | None:
    if authority.count("@") > 1:
        return "more than one '@' before the path (percent-encode '@' in a user name as %40)"
    userinfo, at, host_port = authority.rpartition("@")
    if at and not userinfo:
        return "an empty user name before '@'"
    host = host_port.rsplit(":", 1)[0] if not host_port.endswith("]") else host_port
    if not host.strip("[]"):
        return "no host name"
    if "%" in host or " " in host:
        # Percent-decoding a host is where parsers disagree ('%65vil' is 'evil' to some).
        return f"invalid host name '{host}' (no '%' or spaces in a host name)"
    return None


def without_credentials(url: str) -> str:
    """`url` without its `user:password@`: what may be stored or shown of it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def with_credentials_of(url: str, source: str) -> str:
    """`url` carrying `source`'s `user:password@` when both name the same scheme, host and
    port (a feed's credentials follow it to a new path on its own server, never elsewhere)."""
    have, give = urlsplit(url), urlsplit(source)
    if "@" in have.netloc or "@" not in give.netloc:
        return url
    userinfo, _, authority = give.netloc.rpartition("@")
    if (have.scheme, have.netloc.lower()) != (give.scheme, authority.lower()):
        return url
    return have._replace(netloc=f"{userinfo}@{have.netloc}").geturl()
