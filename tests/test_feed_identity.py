"""What a real poll stores: one article per item, whatever the feed leaves out.

A feed served over loopback HTTP, polled by `monitor run --once`, read back from the
SQLite store: entries sharing one link and no guid, and items that declare no language.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import FeedServer, run_cli

FLASHES = "\n".join(
    f"""<item><title>Flash {n} : la préfecture annonce une mesure</title>
    <link>https://flash.example.org/</link>
    <description>Mesure numéro {n} prise ce matin par la préfecture de police.</description>
    <pubDate>Sat, 09 Mar 2024 {n:02d}:00:00 GMT</pubDate></item>"""
    for n in range(15)
)
ENGLISH = """<item><title>Police arrest two suspects after metro attack</title>
    <link>https://flash.example.org/en/metro-attack</link>
    <description>Two men were detained on Tuesday after a knife attack at a station.</description>
    <pubDate>Sat, 09 Mar 2024 20:00:00 GMT</pubDate></item>"""
FEED = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Flashes</title><link>https://flash.example.org/</link>
<description>Sans guid, sans langue</description>{FLASHES}{ENGLISH}</channel></rss>
"""


def stored(project: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(project / "var" / "monitor.db") as db:
        rows = db.execute("SELECT title, language FROM articles WHERE feed_id = 'seed-fr'")
        return sorted(rows.fetchall())


def test_a_poll_keeps_every_item_of_a_feed_whose_items_share_one_link(project: Path) -> None:
    (project / "seeds" / "feeds" / "seed-fr.xml").write_text(FEED, encoding="utf-8")
    server = FeedServer(project)
    try:
        config = project / "config.yaml"
        text = config.read_text("utf-8").replace(
            "url: seeds/feeds/seed-fr.xml",
            f"url: {server.base}/seeds/feeds/seed-fr.xml\n    allow_private: true",
        )
        config.write_text(text.replace("    language: fr\n", "", 1), "utf-8")

        first = run_cli(project, "run", "--once")
        after_first = stored(project)
        second = run_cli(project, "run", "--once")
    finally:
        server.close()

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert any(path.endswith("seed-fr.xml") for path in server.requested)
    assert len(after_first) == 16  # 15 flashes and the English item: none lost
    assert stored(project) == after_first  # the second poll adds nothing
    languages = {title: language for title, language in after_first}
    assert languages["Police arrest two suspects after metro attack"] == "en"
    assert {languages[f"Flash {n} : la préfecture annonce une mesure"] for n in range(15)} == {"fr"}
