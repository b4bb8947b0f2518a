"""The folder channel: each delivery becomes an `.eml` file and an `.html` preview.

The embedded default channel: no server needed. Files are written atomically, in a worker
thread under a deadline (a hung network disk must not stall the event loop), and named from
the delivery (its creation time, subscription and id), so a retry rewrites the same two
files. Must not read the store or the clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from datetime import UTC
from pathlib import Path

from monitor.deliver.channels.mime import build_email
from monitor.errors import DeliveryError
from monitor.logs import log_event
from monitor.model import Delivery
from monitor.targets import FolderTarget

FOLDER_FROM = "monitor@localhost"
FOLDER_TO = "folder@localhost"

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")

log = logging.getLogger(__name__)


class FolderChannel:
    """Writes deliveries into a folder (relative folders are under `base_dir`)."""

    kind = "folder"

    def __init__(self, base_dir: Path, *, timeout_s: float = 30.0) -> None:
        self._base_dir = base_dir
        self._timeout_s = timeout_s

    async def send(self, delivery: Delivery) -> None:
        """Write `<stamp>-<subscription>-<id>.eml` and `.html`; raise DeliveryError on failure."""
        folder = self._folder(delivery)
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._write, delivery, folder), self._timeout_s
            )
        except TimeoutError:
            # The thread may still finish; a retry rewrites the same two files.
            raise DeliveryError(
                f"writing to '{folder}' took longer than {self._timeout_s} s", channel=self.kind
            ) from None

    def _write(self, delivery: Delivery, folder: Path) -> None:
        stem = file_stem(delivery)
        message = build_email(
            delivery, from_addr=FOLDER_FROM, to_addrs=[FOLDER_TO], now=delivery.created_at
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(folder / f"{stem}.eml", message.as_bytes())
            _write_atomically(folder / f"{stem}.html", delivery.message.html.encode("utf-8"))
        except OSError as exc:
            # Disk full or permissions: an operator can fix it, so let the outbox retry.
            raise DeliveryError(
                f"cannot write to '{folder}': {exc.strerror or exc}", channel=self.kind
            ) from exc
        log_event(
            log,
            logging.INFO,
            "folder.written",
            delivery_id=delivery.id,
            channel="folder",
            path=folder / f"{stem}.eml",
        )

    def _folder(self, delivery: Delivery) -> Path:
        target = delivery.channel
        if not isinstance(target, FolderTarget) or not target.folder:
            raise DeliveryError(
                f"delivery '{delivery.id}' has no folder to write to",
                channel=self.kind,
                is_permanent=True,
            )
        folder = Path(target.folder)
        return folder if folder.is_absolute() else self._base_dir / folder


def file_stem(delivery: Delivery) -> str:
    """The file name without extension; the same on every retry of the delivery."""
    stamp = delivery.created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    subscription = _UNSAFE_NAME_CHARS.sub("_", delivery.subscription_id)[:64]
    short_id = _UNSAFE_NAME_CHARS.sub("_", delivery.id[:12])
    return f"{stamp}-{subscription}-{short_id}"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename it over `path`."""
    descriptor, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as temp_file:
            # mkstemp creates 0600 files; give them the mode a plain open() would under umask 022.
            os.fchmod(temp_file.fileno(), 0o644)
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
