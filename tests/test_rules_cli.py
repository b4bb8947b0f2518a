"""`monitor test-rule` and `monitor rematch`, as a rule author uses them."""

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import run_cli

ARTICLE = """Sécurité des JO 2024 : le Maroc apportera son expertise
La sécurité des JO 2024 sera renforcée par des policiers marocains, a annoncé la DGSN.
"""
PAGE = """<html><head><title>JO</title></head><body><article><h1>Renfort marocain</h1>
<p>La sécurité des Jeux olympiques sera renforcée par des policiers marocains, selon la DGSN.
Les deux pays ont signé un accord de coopération en matière de renseignement.</p>
<p>Le dispositif couvrira la cérémonie d'ouverture et les principaux sites de compétition,
avec des patrouilles mixtes dans les gares et les fan zones.</p></article></body></html>
"""


def test_test_rule_explains_a_match_on_a_text_file(project):
    (project / "article.txt").write_text(ARTICLE, encoding="utf-8")
    result = run_cli(project, "test-rule", "jo2024-security", "--text", "article.txt")
    assert result.returncode == 0, result.stderr
    assert "✔ matched  jo2024-security" in result.stdout
    assert "[JO 2024]" in result.stdout and "[sécurité]" in result.stdout
    assert "1 of 1 articles match" in result.stdout
    assert not (project / "var" / "outbox").exists()  # nothing sent


def test_test_rule_says_why_feed_items_do_not_match(project):
    result = run_cli(project, "test-rule", "jo2024-security", "--feed", "seeds/feeds/wire-en.atom")
    assert result.returncode == 0, result.stderr
    assert "excluded: 'ticketing' found in title" in result.stdout
    assert "articles match 'jo2024-security'" in result.stdout


def test_test_rule_reads_an_article_page_by_url(project):
    (project / "page.html").write_text(PAGE, encoding="utf-8")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(project))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/page.html"
        result = run_cli(project, "test-rule", "jo2024-security", "--url", url)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert "✔ matched" in result.stdout and "[Jeux olympiques]" in result.stdout


def test_test_rule_names_an_unknown_rule(project):
    (project / "article.txt").write_text(ARTICLE, encoding="utf-8")
    result = run_cli(project, "test-rule", "nope", "--text", "article.txt")
    assert result.returncode == 3
    assert "no rule 'nope'" in result.stderr and "jo2024-security" in result.stderr


def test_rule_changes_reach_old_articles_only_through_rematch(project):
    assert run_cli(project, "run", "--once").returncode == 0
    sent_before = sorted((project / "var" / "outbox").glob("*.eml"))
    (project / "rules" / "om.yaml").write_text(
        "id: om-football\nname: OM football\npriority: high\n"
        "match:\n  any: [Olympique de Marseille]\n",
        encoding="utf-8",
    )
    # A plain run does not re-alert old articles under the new rule...
    run_cli(project, "run", "--once")
    assert sorted((project / "var" / "outbox").glob("*.eml")) == sent_before
    # ...rematch does, and only with what was never sent.
    result = run_cli(project, "rematch", "--since", "1d", "--deliver")
    assert result.returncode == 0, result.stderr
    assert "matched 15 articles again" in result.stdout
    new = sorted(set((project / "var" / "outbox").glob("*.eml")) - set(sent_before))
    assert len(new) == 1
    text = new[0].read_bytes().decode("utf-8", "replace")
    assert "OM football" in text and "JO 2024 security" not in text
    status = json.loads(run_cli(project, "status", "--json").stdout)
    assert status["outbox"]["sent"] == len(sent_before) + 1
