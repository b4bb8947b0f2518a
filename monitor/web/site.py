"""What one workspace serves and how a request's query string becomes a store query.

Owns the `Site` the app is built from (the archive, the feedback book, the live rules, the
configured feeds and subscriptions, the settings), the filters of the match pages (feed,
tag, language, priority, dates, rule), the page cursor, and the `since` of exports. No
HTTP, no templates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from monitor.config import parse_duration_s
from monitor.deliver import clause_words, rule_ids_for
from monitor.model import Feed, Priority, RuleSet, RuleTrend, SpikeAlert, Subscription
from monitor.pipeline import Previewer, rule_trends
from monitor.rules import rule_clauses
from monitor.settings import WebSettings
from monitor.store import (
    ArticleSearch,
    FeedbackRecord,
    FeedbackTally,
    FoundArticle,
    MatchedArticle,
    MatchQuery,
    PageCursor,
    RuleStory,
)
from monitor.web.views import Wording

PRIORITIES = ("high", "normal", "low")
_CURSOR_SEPARATOR = "~"


class MatchArchive(Protocol):
    """The store's reads the workspace needs (`monitor.store.Store` has them)."""

    def matched_page(
        self, query: MatchQuery, *, limit: int, after: PageCursor | None = None
    ) -> list[MatchedArticle]: ...

    def story_articles(self, story_id: str, *, limit: int = ...) -> list[MatchedArticle]: ...

    def rule_match_times(self, rule_id: str, *, limit: int = ...) -> list[datetime]: ...

    def rule_stories_since(self, rule_ids: Iterable[str], since: datetime) -> list[RuleStory]: ...

    def spikes_since(self, rule_ids: Iterable[str], since: datetime) -> list[SpikeAlert]: ...

    def search_articles(
        self, search: ArticleSearch, *, limit: int, offset: int = ...
    ) -> list[FoundArticle]: ...

    def count_search(self, search: ArticleSearch) -> int: ...


class FeedbackBook(Protocol):
    """The store's feedback SQL the workspace reads and writes (`Store` has it)."""

    def record_verdict(
        self, article_key: str, rule_id: str, verdict: str, now: datetime, *, by: str | None = ...
    ) -> bool: ...

    def clear_verdict(self, article_key: str, rule_id: str) -> bool: ...

    def mute_story(
        self,
        story_id: str,
        now: datetime,
        *,
        article_key: str | None = ...,
        rule_id: str | None = ...,
        by: str | None = ...,
    ) -> bool: ...

    def unmute_story(self, story_id: str) -> bool: ...

    def muted_story_ids(self, story_ids: Iterable[str]) -> set[str]: ...

    def verdicts_for(self, article_keys: Iterable[str]) -> dict[tuple[str, str], str]: ...

    def feedback_tallies(self) -> dict[str, FeedbackTally]: ...

    def rule_verdicts(self, rule_id: str) -> list[tuple[datetime, str]]: ...

    def feedback_records(self, since: datetime | None = ...) -> list[FeedbackRecord]: ...


@dataclass(frozen=True, slots=True)
class Site:
    """Everything the web app reads; the daemon passes its live rules, `monitor web` its own."""

    archive: MatchArchive
    # Callables: the daemon's rules and config change on reload, and the pages follow.
    rules: Callable[[], RuleSet]
    feeds: Callable[[], Sequence[Feed]]
    subscriptions: Callable[[], Sequence[Subscription]]
    settings: WebSettings
    templates_dir: Path
    clock: Callable[[], datetime]
    # The daemon's /healthz verdict and /metrics exposition; None under `monitor web`.
    health: Callable[[], tuple[bool, dict[str, Any]]] | None = None
    metrics: Callable[[], tuple[bytes, str]] | None = None
    # Where analysts' verdicts and mutes go; None: the pages show no feedback buttons.
    feedback: FeedbackBook | None = None
    # Runs draft rules over the archive (`/preview`); None: no preview on this server.
    previewer: Previewer | None = None

    def wording(self, rule_ids: set[str] | None = None) -> Wording:
        """Names and clauses in the workspace's language (every rule's, unless narrowed)."""
        rules = self.rules()
        wanted = rule_ids if rule_ids is not None else {rule.id for rule in rules.rules}
        language = self.settings.language
        return Wording(
            language=language,
            zone=ZoneInfo(self.settings.timezone),
            feed_titles={feed.id: feed.title or feed.id for feed in self.feeds()},
            clauses=dict(rule_clauses(rules, wanted, gettext=clause_words(language))),
        )

    def rule_trend(self, rule_id: str) -> RuleTrend:
        """The rule's distinct stories per day over the last 7 days, in the workspace's zone,
        marked where a spike fired: the digest's trend, from the same two reads."""
        (trend,) = rule_trends(
            self.archive, self.rules(), (rule_id,), self.clock(), self.settings.timezone
        )
        return trend

    def subscription(self, subscription_id: str) -> Subscription | None:
        return next((sub for sub in self.subscriptions() if sub.id == subscription_id), None)

    def subscription_rules(self, subscription: Subscription) -> tuple[str, ...]:
        return tuple(sorted(rule_ids_for(self.rules(), subscription)))

    def tags(self) -> tuple[str, ...]:
        return tuple(sorted({tag for feed in self.feeds() for tag in feed.tags}))


@dataclass(frozen=True, slots=True)
class Filters:
    """The match pages' GET form, as typed (`query` says what it ignores and why)."""

    feed: str = ""
    tag: str = ""
    language: str = ""
    priority: str = ""
    date_from: str = ""
    date_to: str = ""
    rule: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        def value(key: str) -> str:
            return params.get(key, "").strip()[:200]

        return cls(
            feed=value("feed"),
            tag=value("tag"),
            language=value("language"),
            priority=value("priority"),
            date_from=value("from"),
            date_to=value("to"),
            rule=value("rule"),
        )

    def query(self, site: Site) -> tuple[MatchQuery, tuple[str, ...]]:
        """The store query, and a sentence for each filter that was ignored."""
        problems: list[str] = []
        zone = ZoneInfo(site.settings.timezone)
        since = _day_start(self.date_from, zone, problems, "from")
        until = _day_start(self.date_to, zone, problems, "to")
        feed_ids: tuple[str, ...] | None = None
        if self.feed:
            feed_ids = (self.feed,)
        if self.tag:
            tagged = tuple(feed.id for feed in site.feeds() if self.tag in feed.tags)
            feed_ids = tagged if feed_ids is None else tuple(set(feed_ids) & set(tagged))
        priority = None
        if self.priority in PRIORITIES:
            priority = Priority.parse(self.priority)
        elif self.priority:
            problems.append(f"priority '{self.priority}' is not one of {', '.join(PRIORITIES)}")
        query = MatchQuery(
            rule_ids=(self.rule,) if self.rule else (),
            feed_ids=feed_ids,
            language=self.language.lower() or None,
            min_priority=priority,
            published_since=since,
            published_before=until + timedelta(days=1) if until else None,
        )
        return query, tuple(problems)

    def as_params(self) -> dict[str, str]:
        """The non-empty filters, as the query string spells them (for links and feeds)."""
        return {key: getattr(self, name) for name, key in _FORM_KEYS.items() if getattr(self, name)}


_FORM_KEYS = {
    "feed": "feed",
    "tag": "tag",
    "language": "language",
    "priority": "priority",
    "date_from": "from",
    "date_to": "to",
    "rule": "rule",
}


def _day_start(text: str, zone: ZoneInfo, problems: list[str], name: str) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems.append(f"'{name}' date '{text}' is not a date like 2026-06-01")
        return None
    return datetime.combine(day, time(0), tzinfo=zone)


def encode_cursor(cursor: PageCursor) -> str:
    return f"{cursor.published_at.isoformat()}{_CURSOR_SEPARATOR}{cursor.article_key}"


def decode_cursor(text: str) -> PageCursor | None:
    """The cursor of an `after=` parameter; None for a missing or mangled one (first page)."""
    stamp, separator, key = text.partition(_CURSOR_SEPARATOR)
    if not separator or not key:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return PageCursor(moment, key) if moment.tzinfo else None


def page_of(
    archive: MatchArchive, query: MatchQuery, size: int, after: PageCursor | None
) -> tuple[list[MatchedArticle], PageCursor | None]:
    """One page, and the cursor of the next one (None on the last page)."""
    found = archive.matched_page(query, limit=size + 1, after=after)
    if len(found) <= size:
        return found, None
    last = found[size - 1].article
    return found[:size], PageCursor(last.published_at, last.key)


def every_match(
    archive: MatchArchive, query: MatchQuery, *, page_size: int = 500
) -> Iterator[MatchedArticle]:
    """Every matched article of `query`, newest first, read a page at a time."""
    after: PageCursor | None = None
    while True:
        found, after = page_of(archive, query, page_size, after)
        yield from found
        if after is None:
            return


def since_moment(text: str, now: datetime) -> datetime:
    """`since=7d` (a duration back from `now`) or an ISO date/time; ValueError otherwise."""
    try:
        return now - timedelta(seconds=parse_duration_s(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"since '{text}' is neither a duration (7d, 24h) nor a date (2026-06-01)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
