"""Full text through the daemon: a feed's links are fetched only through the address guard,
and any failure keeps the summary (never a lost article)."""

import re

from tests.conftest import FeedServer, run_cli

ARTICLE_PAGE = "<html><body><article><p>Texte intégral secret.</p></article></body></html>"


def test_links_to_loopback_are_never_fetched_and_the_summary_is_kept(project):
    server = FeedServer(project)
    try:
        (project / "article.html").write_text(ARTICLE_PAGE, encoding="utf-8")
        feed = project / "seeds" / "feeds" / "seed-fr.xml"
        text = feed.read_text("utf-8")
        # Every item now links to a page on this machine, as a hostile feed might.
        numbers = iter(range(100))
        text = re.sub(
            r"<link>https://[^<]+</link>",
            lambda _: f"<link>{server.base}/article.html?n={next(numbers)}</link>",
            text,
        )
        text = re.sub(r"<content:encoded>.*?</content:encoded>", "", text, flags=re.S)
        feed.write_text(text, "utf-8")
        config = project / "config.yaml"
        config.write_text(
            config.read_text("utf-8").replace(
                "url: seeds/feeds/seed-fr.xml",
                f"url: {server.base}/seeds/feeds/seed-fr.xml\n    allow_private: true\n"
                "    full_text: true",
            ),
            "utf-8",
        )
        result = run_cli(project, "run", "--once")
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    # The configured feed (allowed) was fetched; the article pages (not allowed) never were.
    assert "/seeds/feeds/seed-fr.xml" in server.requested
    assert not [path for path in server.requested if path.startswith("/article.html")]
    assert "article.full_text_failed" in result.stderr
    # Articles kept their summaries and still alert.
    assert "feed seed-fr: new, 9 new" in result.stdout
    assert "deliveries: 1 new" in result.stdout
