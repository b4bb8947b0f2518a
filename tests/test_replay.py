"""`monitor replay`: backfill saved feeds and article files through the same pipeline."""

from tests.conftest import run_cli


def test_replaying_feeds_and_a_text_article_stores_matches_and_dedupes(project):
    article = project / "saved" / "article.txt"
    article.parent.mkdir()
    article.write_text(
        "Sécurité des JO 2024 : renfort marocain\n"
        "La sécurité des JO 2024 sera renforcée par des policiers marocains.\n",
        encoding="utf-8",
    )
    first = run_cli(project, "replay", "seeds/feeds", "saved", "--language", "fr", "--deliver")
    assert first.returncode == 0, first.stderr
    assert "replayed 3 files: 16 articles, 16 new, 0 duplicates" in first.stdout
    assert "matches" in first.stdout and "; 1 deliveries" in first.stdout
    again = run_cli(project, "replay", "seeds/feeds", "saved")
    assert "16 articles, 0 new, 16 duplicates, 0 matches, 0 failed" in again.stdout


def test_a_bad_file_is_reported_and_the_others_still_replay(project):
    bad = project / "broken.xml"
    bad.write_text("<html><body>not a feed</body></html>", encoding="utf-8")
    result = run_cli(project, "replay", "broken.xml", "seeds/feeds/seed-fr.xml")
    assert result.returncode == 1
    assert "broken.xml" in result.stderr
    assert "replayed 2 files: 9 articles, 9 new" in result.stdout
    assert "1 failed" in result.stdout


def test_a_missing_path_is_a_usage_error(project):
    result = run_cli(project, "replay", "nope.xml")
    assert result.returncode == 1
    assert "no such file or folder: 'nope.xml'" in result.stderr


def big_feed(entries: int) -> str:
    items = "".join(
        f"<item><title>Dépêche {index}</title><link>https://news.example.org/{index}</link>"
        f"<guid>big-{index}</guid>"
        f"<pubDate>Mon, 01 Jun 2026 {index // 60 % 24:02d}:{index % 60:02d}:00 +0000</pubDate>"
        "<description>Le conseil municipal a voté le budget.</description></item>"
        for index in range(entries)
    )
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
    return f"{head}{items}</channel></rss>"


def test_a_feed_file_beyond_fetch_max_entries_keeps_the_newest_and_says_how_many_it_dropped(
    project,
):
    (project / "big.xml").write_text(big_feed(250), encoding="utf-8")

    result = run_cli(project, "replay", "big.xml", "--language", "fr")

    assert result.returncode == 0, result.stderr
    assert "replayed 1 files: 200 articles, 200 new" in result.stdout
    assert (
        "monitor: replay: 'big.xml': kept the newest 200 entries, dropped 50 older ones "
        "(raise fetch.max_entries to keep them)"
    ) in result.stderr

    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8") + "fetch: {max_entries: 300}\n", "utf-8")
    again = run_cli(project, "replay", "big.xml", "--language", "fr")
    assert "250 articles, 50 new, 200 duplicates" in again.stdout
    assert "dropped" not in again.stderr
