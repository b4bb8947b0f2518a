"""`monitor test-rule`: run one rule over a text, a feed file or a URL and explain it.

Uses the same stages as the daemon (fetch, parse, normalize, nlp, match) but
stores nothing and sends nothing; the explanation is formatted by `explain`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from monitor.errors import MonitorError
from monitor.ingest import (
    detect_language,
    normalize_entries,
    page_text,
    parse_feed,
    repair_mojibake,
)
from monitor.match import compile_rules, evaluate_rule, format_verdict
from monitor.model import Article, Feed, RuleSet
from monitor.nlp import text_article
from monitor.pipeline.analyse import ArticleAnnotator
from monitor.pipeline.ingest import FeedFetcher
from monitor.pipeline.replay import feed_file_articles, read_input_text

_FEED_TYPES = ("xml", "rss", "atom")


@dataclass(frozen=True, slots=True)
class RuleTestReport:
    text: str  # what to print
    articles: int
    matched: int


async def test_rule(
    rules: RuleSet,
    rule_id: str,
    *,
    annotator: ArticleAnnotator,
    fetcher: FeedFetcher,
    now: datetime,
    text_path: Path | None = None,
    feed_path: Path | None = None,
    url: str | None = None,
    language: str | None = None,
    color: bool = False,
) -> RuleTestReport:
    """Explain `rule_id` on each article of the chosen input.

    `language` stands for what the input does not declare; without it, the language is
    detected from the text, as for a feed that declares none.
    """
    rule = rules.rule(rule_id)
    if rule is None:
        known = ", ".join(sorted(r.id for r in rules.rules)) or "none"
        raise MonitorError(f"test-rule: no rule '{rule_id}' (loaded: {known})")
    if text_path is not None:
        articles = [_text_file_article(text_path, language)]
    elif feed_path is not None:
        articles = _feed_file_articles(feed_path, now, language)
    elif url is not None:
        articles = await _url_articles(fetcher, url, now, language)
    else:
        raise MonitorError("test-rule: give --text FILE, --feed FILE or --url URL")
    # A text file declares nothing, so its language is detected unless given; a feed's
    # entries may declare theirs.
    is_detected = text_path is not None and language is None
    compiled = compile_rules(rules)
    notes = annotator.annotate(articles, with_entities=compiled.needs_entities)
    blocks, matched = [], 0
    for article, note in zip(articles, notes, strict=True):
        verdict = evaluate_rule(article, note, compiled, rule_id)
        matched += verdict.is_match
        explained = format_verdict(
            article.title, verdict.matches, rule, color=color, verdict=verdict
        )
        blocks.append(f"{explained}\n  language: {_language_line(article, is_detected)}")
    summary = f"{matched} of {len(articles)} articles match '{rule_id}'"
    return RuleTestReport("\n\n".join([*blocks, summary]), len(articles), matched)


def _language_line(article: Article, is_detected: bool) -> str:
    if article.language is None:
        return "unknown (read with the default language's model)"
    return f"{article.language} (detected)" if is_detected else article.language


def _text_file_article(path: Path, language: str | None) -> Article:
    # A pasted text takes the feed path's repair: it may come from a garbled page.
    text = repair_mojibake(read_input_text(path, command="test-rule"))
    title, _, body = text.strip().partition("\n")
    article = text_article(body.strip() or title, key=f"file:{path.name}")
    title = title.strip() if body.strip() else ""
    return replace(article, title=title, language=language or detect_language(text))


def _feed_file_articles(path: Path, now: datetime, language: str | None) -> list[Article]:
    feed = Feed(id="test-rule", url=str(path), language=language)
    return feed_file_articles(path, feed, now, command="test-rule")


async def _url_articles(
    fetcher: FeedFetcher, url: str, now: datetime, language: str | None
) -> list[Article]:
    # The operator typed this URL: like a configured feed, it may live on an intranet.
    source = Feed(id="test-rule", url=url, language=language, allow_private=True)
    page = await fetcher.fetch(source, None, now)
    content_type = (page.header("content-type") or "").lower()
    if any(kind in content_type for kind in _FEED_TYPES):
        return normalize_entries(parse_feed(page), source, now)
    text = await page_text(page, max_chars=100_000)
    if not text:
        raise MonitorError(f"test-rule: no article text found at '{url}'")
    text = repair_mojibake(text)
    article = text_article(text, key=url)
    return [replace(article, title=url, url=url, language=language or detect_language(text))]
