"""The analyser: pending queue → nlp → match → store, and poison articles quarantined.

A real store in tmp_path, the shipped rules and the real spaCy annotator; only the
failure is staged: a wrapper raises for the article whose title says so (the real
annotator cannot be made to fail on demand).
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.app import build_parts, collect_status, format_status
from monitor.config import load_config
from monitor.ingest import content_fingerprint
from monitor.metrics import Metrics
from monitor.model import Annotations, Article
from monitor.pipeline import analyse
from monitor.rules.load import load_rules
from tests.fixtures_nlp import shared_annotator

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POISON = "POISON"
TEXT = (
    "JO 2024 : la sécurité des Jeux olympiques mobilise le renseignement. "
    "À Paris, la préfecture renforce la sécurité autour des sites olympiques."
)


class StagedAnnotator:
    """The real annotator, except that it raises on any batch holding a poison title."""

    def __init__(self, *, is_broken: bool = False) -> None:
        self.real = shared_annotator()
        self.is_broken = is_broken
        self.batches: list[list[str]] = []

    def annotate(self, articles: Sequence[Article], *, with_entities: bool) -> list[Annotations]:
        self.batches.append([article.key for article in articles])
        if self.is_broken:
            raise OSError("nlp worker died")
        for article in articles:
            if POISON in article.title:
                raise ValueError(f"cannot annotate {article.title!r}")
        return self.real.annotate(articles, with_entities=with_entities)


def article(key: str, title: str = "Sécurité des JO 2024", minute: int = 0) -> Article:
    return Article(
        key=key,
        feed_id="seed-fr",
        url=f"https://news.example/{key}",
        guid=key,
        title=title,
        summary=TEXT,
        body="",
        published_at=NOW - timedelta(minutes=minute),
        fetched_at=NOW,
        language="fr",
        content_hash=f"hash-{key}",
        # Distinct texts: no copy joins another's story.
        fingerprint=content_fingerprint(f"{key} {title} {TEXT} {key}"),
    )


@pytest.fixture
def parts(project):
    config = load_config(project / "config.yaml")
    annotator = StagedAnnotator()
    built = build_parts(config, load_rules(config.rules_dir), annotator=annotator)
    built.annotator = None  # shared across the session: not this test's to close
    yield built, annotator, config
    built.store.close()


def ingest(parts, articles: list[Article], now: datetime = NOW) -> int:
    built, _, _ = parts
    _, matches = asyncio.run(built.pipeline.ingest(articles, now))
    return matches


def match_pending(parts) -> int:
    return asyncio.run(parts[0].pipeline.match_pending(NOW))


def test_one_poison_article_costs_only_itself_an_attempt(parts, caplog):
    built, annotator, _ = parts
    caplog.set_level(logging.INFO, logger="monitor")
    matches = ingest(parts, [article("a"), article("poison", f"{POISON} JO"), article("b")])
    assert matches >= 2
    assert [a.key for a in built.store.unmatched_articles()] == ["poison"]
    assert built.store.matched_since(["jo2024-security"], NOW - timedelta(days=1))
    # The batch failed, then each article went alone.
    assert annotator.batches[1:] == [["a"], ["poison"], ["b"]]
    failed = [r for r in caplog.records if r.getMessage() == "article.analysis_failed"]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert failed[0].event_fields["article_key"] == "poison"
    assert "ValueError: cannot annotate" in caplog.text  # the traceback is in the log
    assert _failures(built.pipeline.metrics, "retry") == 1


def test_after_three_failed_attempts_the_article_is_quarantined(parts):
    built, annotator, config = parts
    ingest(parts, [article("poison", f"{POISON} JO")])
    for _ in range(2):
        match_pending(parts)
    assert built.store.unmatched_articles() == []
    quarantined = built.store.quarantined()
    assert quarantined.count == 1 and quarantined.last_article_key == "poison"
    assert quarantined.last_error.startswith("ValueError: cannot annotate")
    assert _failures(built.pipeline.metrics, "quarantined") == 1
    calls = len(annotator.batches)
    ingest(parts, [article("later")])  # never offered again; the queue goes on
    assert annotator.batches[calls:] == [["later"]]

    report = collect_status(config, built.pipeline, built.store, NOW)
    assert report["analysis"]["quarantined"] == 1
    text = format_status(report)
    assert "ANALYSIS  quarantined: 1" in text
    assert "poison  ValueError: cannot annotate" in text


def test_later_batches_go_on_past_a_poison_article(parts, monkeypatch):
    built, annotator, _ = parts
    monkeypatch.setattr(analyse, "MATCH_BATCH", 2)
    batch = [article("poison", f"{POISON} JO", minute=9)]
    batch += [article(f"good-{n}", minute=n) for n in range(5)]
    ingest(parts, batch)
    # Every good article was analysed in this one round; the poison one was tried once.
    assert [a.key for a in built.store.unmatched_articles()] == ["poison"]
    assert annotator.batches == [
        ["poison", "good-0"],
        ["poison"],
        ["good-0"],
        ["good-1", "good-2"],
        ["good-3", "good-4"],
    ]
    assert _failures(built.pipeline.metrics, "retry") == 1


def test_a_broken_annotator_stops_the_round_after_one_batch(parts, monkeypatch):
    built, annotator, _ = parts
    monkeypatch.setattr(analyse, "MATCH_BATCH", 2)
    annotator.is_broken = True
    ingest(parts, [article("a", minute=3), article("b", minute=2), article("c", minute=1)])
    # One batch, then each of its articles once; then the round stops rather than charge
    # the whole queue an attempt for what is the annotator's fault.
    assert annotator.batches == [["a", "b"], ["a"], ["b"]]
    assert {a.key for a in built.store.unmatched_articles()} == {"a", "b", "c"}
    assert _failures(built.pipeline.metrics, "retry") == 2
    assert built.store.quarantined().count == 0
    annotator.is_broken = False
    match_pending(parts)
    assert built.store.unmatched_articles() == []


def test_the_matched_counter_counts_every_analysed_article_and_no_failed_one(parts):
    built, _, _ = parts
    # "quiet" fires no rule: the counter is of articles analysed, not of articles that hit.
    quiet = article("quiet", "Météo : du soleil sur la Bretagne")
    quiet = replace(quiet, summary="Le soleil brille sur la côte.", fingerprint=1)
    ingest(parts, [article("a"), article("poison", f"{POISON} JO"), quiet])
    ingested = built.pipeline.metrics.registry.get_sample_value("monitor_articles_ingested_total")
    assert ingested == 3
    assert _matched(built.pipeline.metrics) == 2
    every_rule = [rule.id for rule in built.pipeline.rules.rules]
    hit = {a.key for a, _ in built.store.matched_since(every_rule, NOW - timedelta(days=1))}
    assert hit == {"a"}
    for _ in range(2):
        match_pending(parts)  # the poison article is quarantined: never counted as matched
    assert built.store.quarantined().count == 1
    assert _matched(built.pipeline.metrics) == 2


def _matched(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("monitor_articles_matched_total") or 0.0


def _failures(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "monitor_analysis_failures_total", {"outcome": outcome}
    )
    return value or 0.0
