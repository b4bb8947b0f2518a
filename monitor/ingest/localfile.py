"""Read a feed that is a local file (fixtures, saved feeds): a regular file, size-capped.

A path or `file:` URL is resolved against the config's folder. Pipes, devices and folders
are refused before anything is read, so a FIFO can never hang a poll.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from monitor.errors import FetchError


def local_path(url: str, base_dir: Path) -> Path:
    """The file a local feed URL names, absolute."""
    parts = urlsplit(url)
    # file:relative/x.xml has no authority, so it reads like a plain relative path.
    is_file_url = parts.scheme.lower() == "file"
    path = Path(url2pathname(parts.path) if is_file_url else url).expanduser()
    return (path if path.is_absolute() else base_dir / path).resolve()


def read_local_file(path: Path, url: str, max_bytes: int, too_large: str) -> bytes:
    """The file's bytes; FetchError when missing, not a regular file, or over `max_bytes`."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise block forever; the
        # type is then checked on the opened descriptor, so a swap in between is caught.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FetchError(f"no such file '{path}'", url=url) from None
    except OSError as exc:
        raise FetchError(f"cannot read '{path}': {exc.strerror or exc}", url=url) from exc
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FetchError(
                f"'{path}' is not a regular file (a folder, pipe or device); "
                "point the feed at a saved feed file",
                url=url,
            )
        try:
            body = stream.read(max_bytes + 1)
        except OSError as exc:
            raise FetchError(f"cannot read '{path}': {exc.strerror or exc}", url=url) from exc
    if len(body) > max_bytes:
        raise FetchError(too_large, url=url)
    return body
