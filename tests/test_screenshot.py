"""The seed digest renders cleanly in a real browser engine (headless Chromium), in French and
English, at a desktop and a phone width.

Skipped, saying why, where Chromium is not installed (`apt-get install chromium`).
`MONITOR_UPDATE_SCREENSHOT=1 pytest tests/test_screenshot.py` rewrites the pictures in
docs/img/ (seed-digest-LANGUAGE-VIEW.png); docs/screenshot.md has the same command for any
subscription.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, ROOT, needs_chromium
from tests.test_email_delivery import SEED_TITLES, seed_message

PICTURES = ROOT / "docs" / "img"
# (name, window width, height): a desktop mail client's reading pane and a phone.
VIEWS = (("desktop", 900, 1640), ("phone", 390, 1640))

pytestmark = needs_chromium


def screenshot(
    html_path: Path, png_path: Path, profile: Path, width: int, height: int
) -> subprocess.CompletedProcess:
    """The command docs/screenshot.md documents, with no network and a throwaway profile."""
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",  # root in containers; the page is our own file
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png_path}",
            f"--window-size={width},{height}",
            html_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


class ResourceFinder(HTMLParser):
    """Anything that would make a browser or mail client fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "srcset", "background", "poster", "data"):
                self.fetches.append(f"{tag} {name}={value}")
        if tag == "link":
            self.fetches.append("link")


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(("view", "width", "height"), VIEWS)
def test_the_seed_digest_renders_in_headless_chromium(tmp_path, language, view, width, height):
    html = seed_message(language).html
    finder = ResourceFinder()
    finder.feed(html)
    assert finder.fetches == []  # the digest renders offline: no image, font or stylesheet
    for title in SEED_TITLES:
        assert title in html
    assert f'lang="{language}"' in html
    # The page adapts to a phone instead of asking for a desktop's width.
    assert '<meta name="viewport" content="width=device-width' in html

    html_path = tmp_path / "seed-digest.html"
    html_path.write_text(html, encoding="utf-8")
    png_path = tmp_path / "seed-digest.png"
    result = screenshot(html_path, png_path, tmp_path / "profile", width, height)
    assert result.returncode == 0, result.stderr[-2000:]
    data = png_path.read_bytes()
    assert png_size(data) == (width, height)
    assert len(data) > 30_000  # text and colour, not a blank page

    committed = PICTURES / f"seed-digest-{language}-{view}.png"
    if os.environ.get("MONITOR_UPDATE_SCREENSHOT") == "1":
        PICTURES.mkdir(parents=True, exist_ok=True)
        shutil.copy(png_path, committed)
    assert png_size(committed.read_bytes()) == (width, height)
