"""The shipped migrations of each backend: `.sql` files numbered from 0001, read in order.

SQLite's live in `migrations/`, PostgreSQL's in `migrations/postgresql/`; each backend's
connection applies its own. Reads files only: applying them is the connection's job.
"""

from __future__ import annotations

import re
from importlib import resources

from monitor.errors import StoreError

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Each backend's folder under the package's `migrations/`.
FOLDERS = {"sqlite": (), "postgresql": ("postgresql",)}


def migrations(backend: str = "sqlite") -> tuple[tuple[int, str, str], ...]:
    """(version, file name, script) of every shipped migration of `backend`, in order.

    Refuses a gap or a duplicate in the numbering: a missing step would leave a
    database half upgraded.
    """
    folder = resources.files("monitor.store") / "migrations"
    for part in FOLDERS[backend]:
        folder = folder / part
    found = []
    for entry in folder.iterdir():
        matched = _MIGRATION_NAME.match(entry.name)
        if matched and entry.is_file():
            found.append((int(matched.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(
            f"store: migrations in '{folder}' are numbered {versions}, not 1 to {len(found)}; "
            "reinstall monitor"
        )
    return tuple(found)
