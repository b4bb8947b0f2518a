"""language.py: an article's language when neither its feed nor its entry declares one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.ingest import detect_language, normalize_entries, parse_feed
from monitor.model import Feed, FetchResult, ParsedFeed, RawEntry
from tests.conftest import run_cli

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "fr-feeds"
HEADLINES = json.loads((Path(__file__).parent / "data" / "headlines.json").read_text("utf-8"))
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
SAMPLES = [
    pytest.param(language, title, summary, id=f"{language}-{index}")
    for language, pairs in HEADLINES.items()
    for index, (title, summary) in enumerate(pairs)
]
SAMPLES_AS_TUPLES = [
    (language, title, summary) for language, pairs in HEADLINES.items() for title, summary in pairs
]

EN_RULE = """id: attacks-en
name: Attacks (English desk)
languages: [en]
match:
  all:
    - any: [attack]
    - any: [police, security]
"""
FR_RULE = EN_RULE.replace("attacks-en", "attacks-fr").replace("[en]", "[fr]")
ENGLISH_TEXT = (
    "Police arrest two suspects after metro attack\n"
    "Two men were detained on Tuesday after an attack at a metro station, police said.\n"
)


@pytest.mark.parametrize(("language", "title", "summary"), SAMPLES)
def test_a_headline_and_summary_tell_their_language(language, title, summary) -> None:
    assert detect_language(f"{title}\n{summary}") == language


def test_a_headline_alone_is_never_given_a_wrong_language() -> None:
    guesses = [(language, detect_language(title)) for language, title, _ in SAMPLES_AS_TUPLES]

    assert [(want, got) for want, got in guesses if got not in (want, None)] == []
    # Six of 44 bare headlines are too short to tell: they get the default language.
    assert sum(got is None for _, got in guesses) <= 6


@pytest.mark.parametrize("text", ["", "2024 — 12:30", "Justin Trudeau", "Viktor Orban"])
def test_text_that_does_not_say_gets_no_guess(text: str) -> None:
    # A bare name is no language: the default language applies, as before detection.
    assert detect_language(text) is None


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the checkout")
def test_the_french_corpus_reads_as_french() -> None:
    guesses: list[str | None] = []
    for path in sorted(CORPUS.glob("*.xml")):
        result = FetchResult("c", path.as_uri(), 200, path.read_bytes(), (), NOW)
        parsed = parse_feed(result)
        undeclared = ParsedFeed(parsed.title, parsed.link, None, parsed.entries)
        feed = Feed(id="c", url=result.url)
        articles = normalize_entries(undeclared, feed, NOW, max_entries=10**6)
        guesses += [article.language for article in articles]

    assert len(guesses) == 1334
    wrong = [guess for guess in guesses if guess not in ("fr", None)]
    assert wrong == []
    assert guesses.count(None) <= 3  # bare names with no summary ("Justin Trudeau")


def entry(title: str, summary: str, language: str | None = None) -> RawEntry:
    return RawEntry("1", "https://wire.example.org/a", title, summary, "", None, language=language)


def test_a_declared_language_wins_over_the_text() -> None:
    parsed = ParsedFeed("Wire", None, None, (entry(*HEADLINES["en"][0]),))

    (declared,) = normalize_entries(parsed, Feed(id="w", url="u", language="fr"), NOW)
    (detected,) = normalize_entries(parsed, Feed(id="w", url="u"), NOW)

    assert declared.language == "fr"
    assert detected.language == "en"


def test_test_rule_shows_the_detected_language_and_filters_by_it(project: Path) -> None:
    (project / "rules" / "attacks-en.yaml").write_text(EN_RULE, encoding="utf-8")
    (project / "rules" / "attacks-fr.yaml").write_text(FR_RULE, encoding="utf-8")
    (project / "article.txt").write_text(ENGLISH_TEXT, encoding="utf-8")

    english = run_cli(project, "test-rule", "attacks-en", "--text", "article.txt")
    french = run_cli(project, "test-rule", "attacks-fr", "--text", "article.txt")
    told = run_cli(project, "test-rule", "attacks-fr", "--text", "article.txt", "--language", "fr")

    assert english.returncode == 0, english.stderr
    assert "language: en (detected)" in english.stdout
    assert "1 of 1 articles match 'attacks-en'" in english.stdout
    assert "0 of 1 articles match 'attacks-fr'" in french.stdout
    assert "language 'en' is not one of fr" in french.stdout
    assert "language: fr\n" in told.stdout + "\n"
