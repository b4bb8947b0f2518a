"""Where a store lives, from its URL: `sqlite:///PATH` (or a bare path) or
`postgresql://USER@HOST:PORT/DB`. Parses only: opening is the connections' job.

The password (in the URL, or PGPASSWORD which libpq reads itself) goes to the server and
nowhere else: `shown` names user, host, port and database for messages and logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from monitor.errors import StoreError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
SQLITE_PREFIX = "sqlite:///"
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A parsed store URL: a SQLite file, or a PostgreSQL server and database."""

    backend: str  # "sqlite" or "postgresql"
    shown: str  # for messages: the path, or the URL without its password
    path: Path | None = None
    conninfo: str = field(default="", repr=False)  # what libpq is given, password and all


def store_location(where: Path | str) -> StoreLocation:
    """Parse a store URL or path; StoreError naming the URL (password hidden) if unusable."""
    if isinstance(where, Path):
        return StoreLocation("sqlite", str(where), path=where)
    scheme = _SCHEME.match(where)
    if scheme is None:
        return StoreLocation("sqlite", where, path=Path(where))
    name = scheme.group(1).lower()
    if where.startswith(SQLITE_PREFIX):
        path = Path(where.removeprefix(SQLITE_PREFIX))
        return StoreLocation("sqlite", str(path), path=path)
    if name in POSTGRESQL_SCHEMES:
        return StoreLocation("postgresql", shown_postgres_url(where), conninfo=where)
    raise StoreError(
        f"store: unknown kind of store '{name}' in '{_without_credentials(where)}'; "
        "use sqlite:///PATH or postgresql://HOST:PORT/DATABASE"
    )


def shown_postgres_url(url: str) -> str:
    """`url` as messages show it, never with its password: `PostgreSQL database 'db' on
    host:port as user 'name'` (no `scheme://user@`, which log redaction would mask)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or ["the local socket"])[0]
    port = parts.port if _has_valid_port(url) else None
    user = unquote(parts.username) if parts.username else None
    database = unquote(parts.path.lstrip("/")) or (query.get("dbname") or [""])[0]
    where = f"{host}:{port}" if port else host
    who = f" as user '{user}'" if user else ""
    return f"PostgreSQL database '{database}' on {where}{who}"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _has_valid_port(url: str) -> bool:
    try:
        return urlsplit(url).port is not None
    except ValueError:
        return False
