"""Add feeds to config.yaml in place, keeping the user's comments, order and layout.

Only `monitor feeds import` writes the configuration; it writes a complete new
file next to the old one and renames it over, so a crash never leaves half a file.
The result is validated by `config.load_config` before it replaces the original.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from io import StringIO
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.config.load import load_config
from monitor.errors import ConfigError
from monitor.model import Feed


def add_feeds(path: Path, feeds: Sequence[Feed]) -> list[Feed]:
    """Append the feeds whose id and URL are new to `path`; return those added."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(path.read_text(encoding="utf-8")) or CommentedMap()
    listed = document.setdefault("feeds", CommentedSeq())
    if listed is None:
        listed = document["feeds"] = CommentedSeq()
    known_ids = {str(item.get("id")) for item in listed}
    known_urls = {str(item.get("url")) for item in listed}
    added = [feed for feed in feeds if feed.id not in known_ids and feed.url not in known_urls]
    for feed in added:
        listed.append(_feed_entry(feed))
    if not added:
        return []
    buffer = StringIO()
    yaml.dump(document, buffer)
    _replace_validated(path, buffer.getvalue())
    return added


def _feed_entry(feed: Feed) -> CommentedMap:
    entry = CommentedMap()
    entry["id"] = feed.id
    if feed.title and feed.title != feed.id:
        entry["title"] = feed.title
    entry["url"] = feed.url
    entry["every"] = _duration_text(feed.poll_every_s)
    if feed.language:
        entry["language"] = feed.language
    if feed.tags:
        entry["tags"] = list(feed.tags)
    if feed.full_text:
        entry["full_text"] = True
    return entry


def _duration_text(seconds: int) -> str:
    for unit_s, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds % unit_s == 0:
            return f"{seconds // unit_s}{suffix}"
    return f"{seconds}s"


def _replace_validated(path: Path, text: str) -> None:
    candidate = path.with_name(f".{path.name}.new")
    candidate.write_text(text, encoding="utf-8")
    try:
        load_config(candidate)
    except ConfigError as exc:
        candidate.unlink()
        raise ConfigError(
            f"the imported feeds would make the config invalid: {exc.problem}", path=str(path)
        ) from exc
    os.replace(candidate, path)
