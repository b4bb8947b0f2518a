"""`monitor feeds import` and `monitor feeds export`: OPML in and out of config.yaml."""

from monitor.config.load import load_config
from tests.conftest import run_cli

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Desk subscriptions</title></head>
  <body>
    <outline text="Maroc">
      <outline type="rss" text="Hespress FR" xmlUrl="https://fr.hespress.example/feed"/>
      <outline type="rss" text="Le Courrier" xmlUrl="https://lecourrier-rabat.example/rss"/>
    </outline>
  </body>
</opml>
"""


def test_import_adds_new_feeds_and_keeps_the_users_comments(project):
    (project / "desk.opml").write_text(OPML, encoding="utf-8")
    result = run_cli(project, "feeds", "import", "desk.opml")
    assert result.returncode == 0, result.stderr
    assert "2 feeds added" in result.stdout and "0 already there" in result.stdout
    text = (project / "config.yaml").read_text(encoding="utf-8")
    assert "# Priority-high rules go out as soon as an article matches." in text
    config = load_config(project / "config.yaml")
    added = [feed for feed in config.feeds if feed.url == "https://fr.hespress.example/feed"]
    assert len(added) == 1 and "Maroc" in added[0].tags
    again = run_cli(project, "feeds", "import", "desk.opml")
    assert "0 feeds added" in again.stdout and "2 already there" in again.stdout


def test_export_lists_every_configured_feed(project):
    result = run_cli(project, "feeds", "export")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<?xml")
    assert 'xmlUrl="seeds/feeds/seed-fr.xml"' in result.stdout
    assert 'xmlUrl="seeds/feeds/wire-en.atom"' in result.stdout


def test_a_broken_opml_file_is_named_with_its_line(project):
    (project / "bad.opml").write_text("<opml><body>\n<outline xmlUrl='x'>\n</opml>", "utf-8")
    result = run_cli(project, "feeds", "import", "bad.opml")
    assert result.returncode == 1
    assert "bad.opml:" in result.stderr
