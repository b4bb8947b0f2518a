"""Who may use the workspace and what every response promises the browser.

Owns the listen-address rule (loopback, or a token from MONITOR_WEB_TOKEN), the token check
on every request (a bearer header or the session cookie the login form sets), the Host check
that keeps a token-less loopback server out of DNS rebinding, the CSRF tokens every POST
carries, and the security headers. Pure ASGI middleware: no page, no store.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIN_TOKEN_CHARS = 16
SESSION_COOKIE = "monitor_session"
CSRF_COOKIE = "monitor_csrf"
CSRF_FIELD = "csrf"
# Without a token anyone can reach the server, so open paths are only the login form and
# its style sheet; with one, every other path needs it.
OPEN_PATHS = frozenset({"/login", "/static/web.css", "/favicon.ico"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

# No script runs (the pages work without JavaScript), nothing loads from elsewhere, and no
# other site may frame the pages (clickjacking) or receive a form from them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    # Article links open other sites: they must not learn the workspace's address.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def is_loopback(host: str) -> bool:
    """Whether `host` (an IP address or a name) is this machine only."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def listen_problem(host: str, port: int, token: str | None) -> str | None:
    """Why the workspace may not listen on `host` with this token, or None."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        return (
            f"web: MONITOR_WEB_TOKEN is {len(token)} characters long; use at least "
            f"{MIN_TOKEN_CHARS} random ones (e.g. `python -m secrets` or "
            "`openssl rand -hex 32`)"
        )
    if token is None and not is_loopback(host):
        return (
            f"web: '{host}:{port}' is reachable from other machines, so every request needs "
            "a token: set MONITOR_WEB_TOKEN in the environment (at least "
            f"{MIN_TOKEN_CHARS} random characters), or listen on 127.0.0.1"
        )
    return None


@dataclass(frozen=True, slots=True)
class Keys:
    """The access token (None: loopback without one) and this process's signing secret."""

    token: str | None
    secret: bytes

    @classmethod
    def create(cls, token: str | None) -> Keys:
        return cls(token=token, secret=secrets.token_bytes(32))

    def session_value(self) -> str:
        """What the session cookie holds: derived from the token, never the token itself."""
        assert self.token is not None
        return hmac.new(self.token.encode("utf-8"), b"monitor-web-session", "sha256").hexdigest()

    def is_token(self, offered: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            offered.encode("utf-8"), self.token.encode("utf-8")
        )

    def new_csrf(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sign(nonce)}"

    def is_csrf(self, value: str) -> bool:
        nonce, _, signature = value.partition(".")
        return bool(nonce) and hmac.compare_digest(signature, self._sign(nonce))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def cookies_of(headers: Mapping[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # http.cookies raises CookieError and others on a hostile header
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def csrf_problem(keys: Keys, cookies: Mapping[str, str], form: Mapping[str, str]) -> str | None:
    """Why a POST fails its CSRF check (the form's token must be the cookie's, signed here)."""
    sent = form.get(CSRF_FIELD, "")
    kept = cookies.get(CSRF_COOKIE, "")
    if not sent or not kept:
        return "the form has no CSRF token: reload the page and send it again"
    if not hmac.compare_digest(sent, kept) or not keys.is_csrf(sent):
        return "the form's CSRF token is not this server's: reload the page and send it again"
    return None


class Guard:
    """ASGI middleware: the Host check, the token on every request, the security headers."""

    def __init__(self, app: ASGIApp, keys: Keys) -> None:
        self._app = app
        self._keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        refusal = self._refusal(scope, headers)
        if refusal is None:
            await self._app(scope, receive, send_with_headers)
        else:
            await _answer(send_with_headers, *refusal)

    def _refusal(
        self, scope: Scope, headers: Mapping[str, str]
    ) -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...]] | None:
        if self._keys.token is None:
            # Only the loopback names may address a token-less server: a page elsewhere
            # that rebinds its own name to 127.0.0.1 is refused here.
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not is_loopback(name):
                return 421, b"this server answers only to 127.0.0.1 and localhost\n", ()
            return None
        if scope["path"] in OPEN_PATHS or self._is_authorised(headers):
            return None
        if scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
            return 303, b"", ((b"location", b"/login"),)
        return (
            401,
            b"a token is needed: send 'Authorization: Bearer TOKEN' or log in at /login\n",
            ((b"www-authenticate", b'Bearer realm="monitor"'),),
        )

    def _is_authorised(self, headers: Mapping[str, str]) -> bool:
        scheme, _, offered = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._keys.is_token(offered.strip()):
            return True
        session = cookies_of(headers).get(SESSION_COOKIE, "")
        return bool(session) and hmac.compare_digest(session, self._keys.session_value())


async def _answer(
    send: Send, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
