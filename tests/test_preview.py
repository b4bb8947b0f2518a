"""The rule preview over the archive (`pipeline.Previewer`, `monitor test-rule --since`): on a
real SQLite store filled by `monitor replay` with real French feed items, a draft rule finds
what the daemon stored, names the clause each near miss lacked, writes nothing, and stops
within its limits saying how far it got."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.match import compile_rules, near_miss, rule_parts
from monitor.pipeline import Previewer, PreviewLimits
from monitor.rules import MAX_FILE_BYTES, load_rules
from monitor.store import Store
from tests.articles import body_article
from tests.conftest import ROOT, run_cli
from tests.fixtures_nlp import shared_annotator

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "fr-feeds"
FEEDS = (
    "flux_rss_bfmtv_meteo_intemperies.xml",
    "flux_rss_bfmtv_meteo_neige.xml",
    "flux_rss_bfmtv_moyen_orient.xml",
    "flux_rss_bfmtv_europe.xml",
)
# After the newest of those items (2025-02-10).
NOW = datetime(2025, 2, 12, tzinfo=UTC)
STORM = """\
id: storm-alert
name: Storm alert
languages: [fr]
match:
  all:
    - any: [tempête, neige, inondation, crue, orage]
    - any: [vigilance, alerte]
"""
# "Every clause but one": the `none` is a clause too.
STORM_NOT_ALERT = """\
id: storm-quiet
name: Storm without alert
languages: [fr]
match:
  any: [tempête, neige, inondation, crue]
  none: [vigilance, alerte]
"""

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """The shipped project with the storm rule, its store filled by `monitor replay`."""
    project = tmp_path_factory.mktemp("archive")
    shutil.copy(ROOT / "config.yaml", project / "config.yaml")
    for name in ("rules", "templates", "seeds"):
        shutil.copytree(ROOT / name, project / name)
    (project / "rules" / "storm-alert.yaml").write_text(STORM, encoding="utf-8")
    result = run_cli(project, "replay", *(str(CORPUS / name) for name in FEEDS))
    assert result.returncode == 0, result.stderr
    return project


def previewer(project: Path, **limits: object) -> tuple[Previewer, Store]:
    config = load_config(project / "config.yaml", {}, require_secrets=False)
    store = Store(config.store_path)
    return (
        Previewer(
            archive=store,
            annotator=shared_annotator,
            rules=lambda: load_rules(project / "rules"),
            feeds=lambda: config.feeds,
            limits=PreviewLimits(**limits),  # type: ignore[arg-type]
        ),
        store,
    )


def row_counts(project: Path) -> dict[str, int]:
    """Rows per table, and what they hold: a rewritten match changes its `matched_at`."""
    with sqlite3.connect(project / "var" / "monitor.db") as db:
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {
            name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names
        }
        contents = {
            f"{name} rows": hash(tuple(sorted(map(repr, db.execute(f'SELECT * FROM "{name}"')))))
            for name in names
        }
    return {**counts, **contents}


def test_the_preview_finds_what_the_daemon_stored_and_writes_nothing(archive):
    preview, store = previewer(archive)
    before = row_counts(archive)
    outbox = sorted((archive / "var").rglob("*"))
    try:
        report = preview.preview(STORM.encode(), name="draft.yaml", days=60, now=NOW)
        stored = store._query(
            "SELECT article_key, score FROM matches WHERE rule_id = 'storm-alert'"
        )
    finally:
        store.close()
    assert report.errors == ()
    assert report.match_count == len(report.matches) > 10
    assert sorted((m.article.key, m.match.score) for m in report.matches) == sorted(
        (row["article_key"], row["score"]) for row in stored
    )
    assert row_counts(archive) == before
    assert sorted((archive / "var").rglob("*")) == outbox
    # The text test spared spaCy the articles that share no word with the rule.
    assert report.annotated < report.scanned == before["articles"]
    per_day = {day.day: (day.matches, day.near_misses) for day in report.per_day}
    assert sum(matches for matches, _ in per_day.values()) == report.match_count
    assert sum(misses for _, misses in per_day.values()) == report.near_miss_count


def test_a_near_miss_names_the_clause_it_lacked(archive):
    preview, store = previewer(archive)
    try:
        report = preview.preview(STORM.encode(), name="draft.yaml", days=60, now=NOW)
    finally:
        store.close()
    missed = {found.article.title: found.near_miss for found in report.near_misses}
    flood = missed["Crues: Rennes en partie inondée"]
    assert flood.failed.key == "match.all[1].any"
    assert flood.failed.wanted == ("vigilance", "alerte")
    assert [held.key for held in flood.held] == ["match.all[0].any"]
    assert {"crue", "tempête"} <= set(flood.held[0].found)
    assert all(hit.wanted in {"crue", "tempête", "inondation"} for hit in flood.hits)
    matched = {found.article.key for found in report.matches}
    assert matched.isdisjoint(found.article.key for found in report.near_misses)


def test_a_none_clause_that_fails_makes_a_near_miss(archive):
    preview, store = previewer(archive)
    try:
        alert = preview.preview(STORM.encode(), name="a.yaml", days=60, now=NOW)
        quiet = preview.preview(STORM_NOT_ALERT.encode(), name="b.yaml", days=60, now=NOW)
    finally:
        store.close()
    excluded = [found for found in quiet.near_misses if found.near_miss.failed.kind == "none"]
    assert excluded
    assert all(found.near_miss.failed.key == "match.none" for found in excluded)
    # What the `none` found is what the other rule required: each such article matched it.
    assert {found.article.key for found in excluded} <= {m.article.key for m in alert.matches}


def test_clauses_are_the_items_of_all_the_any_list_each_actors_list_and_none(tmp_path):
    (tmp_path / "actors.yaml").write_text(
        "actors:\n  - {id: dgst, name: DGST, type: org, aliases: [DGSN-DGST]}\n"
    )
    (tmp_path / "r.yaml").write_text(
        "id: r\nname: r\nmatch:\n  all: [Maroc, {any: [attentat, menace]}]\n"
        "  any: [France, Paris]\n  actors: [dgst]\n  none: [football]\n"
    )
    rules = load_rules(tmp_path)
    compiled = compile_rules(rules)
    plan = compiled.plan("r")
    assert plan is not None
    keys = [getattr(part, "key", None) or part.clause for part in rule_parts(plan)]
    assert keys == ["match.all", "match.all[1].any", "match.any", "match.actors.any", "match.none"]
    text = "Le Maroc et la France : la DGST salue la coopération."
    notes = shared_annotator().annotate([body_article(text)], with_entities=False)
    found = near_miss(body_article(text), notes[0], compiled, "r")
    assert found is not None
    assert found.failed.key == "match.all[1].any"
    assert found.failed.wanted == ("attentat", "menace")


def test_a_draft_with_a_yaml_error_gets_check_s_message_and_line(archive, tmp_path):
    broken = STORM.replace("  all:\n", "  all:\n   - oops: [\n", 1)
    preview, store = previewer(archive)
    try:
        report = preview.preview(broken.encode(), name="draft.yaml", days=30, now=NOW)
    finally:
        store.close()
    assert report.rule is None and report.matches == () and report.scanned == 0
    # `monitor check` on the same file in the rules folder says the same after the path.
    shutil.copytree(archive, tmp_path / "p", ignore=shutil.ignore_patterns("var"))
    (tmp_path / "p" / "rules" / "storm-alert.yaml").write_text(broken, encoding="utf-8")
    checked = run_cli(tmp_path / "p", "check")
    assert checked.returncode == 1
    line = next(line for line in checked.stderr.splitlines() if "storm-alert.yaml:" in line)
    (error,) = report.errors
    assert error.startswith("draft.yaml:7: ")
    assert line.endswith(error.removeprefix("draft.yaml"))


def test_a_rule_past_the_size_cap_never_runs(archive):
    preview, store = previewer(archive)
    try:
        huge = STORM + "#" * MAX_FILE_BYTES
        report = preview.preview(huge.encode(), name="draft.yaml", days=30, now=NOW)
    finally:
        store.close()
    assert report.errors == (
        f"draft.yaml: file too large ({len(huge.encode())} bytes, at most {MAX_FILE_BYTES})",
    )
    assert report.scanned == 0


def test_the_article_cap_and_the_time_budget_stop_the_scan_and_say_how_far(archive):
    capped, store = previewer(archive, max_articles=50)
    ticks = iter(range(1000))
    budget = Previewer(
        archive=store,
        annotator=shared_annotator,
        rules=lambda: load_rules(archive / "rules"),
        feeds=lambda: (),
        limits=PreviewLimits(time_budget_s=1.5),
        timer=lambda: float(next(ticks)),
    )
    try:
        by_cap = capped.preview(STORM.encode(), name="d.yaml", days=60, now=NOW)
        by_time = budget.preview(STORM.encode(), name="d.yaml", days=60, now=NOW)
        whole = capped.preview(STORM.encode(), name="d.yaml", days=1, now=NOW)
    finally:
        store.close()
    assert by_cap.scanned == 50
    assert by_cap.stopped == "stopped at the cap of 50 articles read"
    assert by_cap.reached is not None and by_cap.reached > NOW.replace(month=1)
    # One tick at the start, one per check: the budget of 1.5 allows one page of 100.
    assert by_time.scanned == 100
    assert by_time.stopped == "stopped after the time budget of 1.5 s"
    assert whole.stopped is None


def test_test_rule_since_prints_matches_near_misses_and_days(archive):
    days = (datetime.now(UTC) - datetime(2024, 12, 1, tzinfo=UTC)).days
    (archive / "draft.yaml").write_text(STORM.replace("storm-alert", "storm-draft"), "utf-8")
    by_file = run_cli(archive, "test-rule", "--file", "draft.yaml", "--since", f"{days}d")
    by_id = run_cli(archive, "test-rule", "storm-alert", "--since", f"{days}d")
    assert by_file.returncode == 0, by_file.stderr
    assert by_id.returncode == 0, by_id.stderr
    for result in (by_file, by_id):
        out = result.stdout
        assert out.index("matches (") < out.index("near misses (") < out.index("per day")
        assert "✔ matched" in out
        assert "✘ almost: needs any of: vigilance, alerte — none found (match.all[1].any)" in out
        assert "nothing was stored or sent" in out
    assert "'storm-draft' over the last" in by_file.stdout


def test_test_rule_file_with_an_error_exits_1_naming_file_and_line(archive):
    (archive / "bad.yaml").write_text(STORM.replace("name: Storm alert\n", ""), "utf-8")
    result = run_cli(archive, "test-rule", "--file", "bad.yaml", "--since", "30d")
    assert result.returncode == 1
    assert "monitor: bad.yaml:1: rule 'storm-alert': key 'name': missing" in result.stderr
    usage = run_cli(archive, "test-rule", "--file", "bad.yaml")
    assert usage.returncode == 2 and "add --since" in usage.stderr
