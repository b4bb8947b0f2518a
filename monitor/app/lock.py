"""One daemon per store: an advisory lock file next to the SQLite database.

Two daemons on one store would both poll and both deliver; SQLite would keep
the data consistent, but the work would be done twice. The lock is released by
the kernel when the process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from monitor.errors import StoreError


class StoreLock:
    """An exclusive, non-blocking flock on `<store>.lock`."""

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"store: cannot open the lock file '{self.path}' ({exc.strerror or exc}); "
                f"the folder '{self.path.parent}' and the files in it must be writable "
                "by the user running monitor"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"store: another monitor (pid {holder}) is already using "
                f"'{self.path.with_suffix('')}'; stop it first or point --config at another store"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def holder(self) -> str | None:
        """The pid of the daemon holding the lock ("unknown" if unreadable), or None if free.

        Probes with a shared lock, so it never takes the store from a daemon; one starting
        in the same microsecond may see the probe as another monitor and exit.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            return holder or "unknown"
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class NoStoreLock:
    """A PostgreSQL store's stand-in for `StoreLock`: nothing to take or release.

    Several daemons may run on one database: they share feeds, analysis batches, the
    outbox and composing by row leases (store/leases.py; docs/operations.md).
    """

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass
