"""`monitor store copy`: a SQLite store moved into PostgreSQL while no daemon runs on it.

Checks the source is an existing SQLite file no daemon holds, holds its lock for the whole
copy (so a daemon cannot start half-way), and leaves the copying to the store.
"""

from __future__ import annotations

from monitor.app.lock import StoreLock
from monitor.errors import StoreError
from monitor.store import CopyReport, OnProgress, copy_store, open_store, store_location

__all__ = ["CopyReport", "OnProgress", "copy_between"]


def copy_between(
    source_url: str,
    target_url: str,
    *,
    into_existing: bool = False,
    on_progress: OnProgress | None = None,
) -> CopyReport:
    """Copy the SQLite store at `source_url` into the store at `target_url` (migrated first)."""
    source = store_location(source_url)
    if source.path is None:
        raise StoreError(
            f"store: the store to copy from must be SQLite (sqlite:///PATH), not {source.shown}"
        )
    if not source.path.is_file():
        raise StoreError(f"store: '{source.path}' does not exist; name the daemon's SQLite file")
    if store_location(target_url).path == source.path:
        raise StoreError(f"store: '{source.path}' cannot be copied into itself")
    lock = StoreLock(source.path)
    holder = lock.holder()
    if holder is not None:
        raise StoreError(
            f"store: a monitor daemon (pid {holder}) is using '{source.path}'; stop it "
            "(systemctl stop monitor) before copying, so nothing changes during the copy"
        )
    lock.acquire()
    try:
        source_store = open_store(source_url)
        try:
            target_store = open_store(target_url)
            try:
                return copy_store(
                    source_store,
                    target_store,
                    into_existing=into_existing,
                    on_progress=on_progress,
                )
            finally:
                target_store.close()
        finally:
            source_store.close()
    finally:
        lock.release()
