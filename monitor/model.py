"""The frozen data types that flow between stages.

Stdlib only: every stage speaks in these types, so none of them may carry a
third-party object (no feedparser dict, no spaCy Doc, no httpx Response).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from monitor.targets import ChannelTarget


class Priority(enum.IntEnum):
    """How urgent a rule's matches are; immediate subscriptions filter on it."""

    LOW = 1
    NORMAL = 2
    HIGH = 3

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Read 'low' / 'normal' / 'high' (any case); raise ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown priority '{text}' (expected low, normal or high)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


# --- feeds -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed the operator configured."""

    id: str
    url: str
    title: str = ""
    poll_every_s: int = 300
    language: str | None = None
    tags: tuple[str, ...] = ()
    # Operator-configured feeds may point at loopback/private hosts (fixtures, intranets).
    allow_private: bool = False
    full_text: bool = False
    # A CA bundle trusted for this feed only (absolute path); None: the system's CAs.
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    error_streak: int = 0
    next_poll_at: datetime | None = None
    moved_from: str | None = None  # the configured URL that 301/308 redirects led away from
    moved_to: str | None = None  # where those redirects say the feed now lives
    ttl_s: int | None = None  # the feed's last RSS <ttl>, kept across 304s


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one successful fetch (a 200 with a body, or a 304)."""

    feed_id: str
    url: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    fetched_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    # Server hints for the scheduler: Cache-Control max-age, else Expires minus Date.
    max_age_s: float | None = None
    # Where an unbroken run of 301/308 redirects led: the feed's new URL.
    redirected_permanently_to: str | None = None

    @property
    def is_modified(self) -> bool:
        return self.status != 304

    def header(self, name: str) -> str | None:
        """The first header called `name` (case-insensitive), if any."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One feed entry as the parser read it: nothing cleaned yet."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str
    content_html: str
    published_at: datetime | None
    author: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document."""

    title: str
    link: str | None
    language: str | None
    entries: tuple[RawEntry, ...]
    is_bozo: bool = False
    bozo_reason: str | None = None
    ttl_s: int | None = None


# --- articles and their analysis ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Article:
    """A normalized news item: canonical URL, plain text, aware UTC dates."""

    key: str
    feed_id: str
    url: str | None
    guid: str | None
    title: str
    summary: str
    body: str
    published_at: datetime
    fetched_at: datetime
    language: str | None
    content_hash: str
    fingerprint: int = 0
    story_id: str | None = None
    # The tags of the article's feed (from config.yaml): a rule's `sources` may name them.
    feed_tags: tuple[str, ...] = ()
    # MinHash of the text (monitor.ingest.text_signature); empty: never joins a story.
    signature: bytes = b""

    def field_text(self, name: str) -> str:
        """The plain text of field `name` ('title', 'summary' or 'body')."""
        if name == "title":
            return self.title
        if name == "summary":
            return self.summary
        if name == "body":
            return self.body
        raise ValueError(f"unknown article field '{name}'")


FIELDS: tuple[str, ...] = ("title", "summary", "body")


@dataclass(frozen=True, slots=True)
class Token:
    """One token of an analysed field; offsets are characters into the field text."""

    text: str
    start: int
    end: int
    sentence: int
    folded: str  # lower case, accents stripped
    lemma: str  # folded lemma
    is_space_after: bool = True


@dataclass(frozen=True, slots=True)
class Entity:
    """A named entity span found by the NLP stage."""

    text: str
    label: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class AnnotatedField:
    """The analysis of one article field."""

    name: str
    text: str
    tokens: tuple[Token, ...]
    sentences: tuple[tuple[int, int], ...]  # character spans
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True, slots=True)
class Annotations:
    """What the NLP stage learned about an article."""

    article_key: str
    language: str
    fields: tuple[AnnotatedField, ...]
    # True when an entity recognizer ran: only then are empty `entities` a finding.
    has_entities: bool = False

    def field(self, name: str) -> AnnotatedField | None:
        for annotated in self.fields:
            if annotated.name == name:
                return annotated
        return None


# --- rules and matches -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase to look for. `is_exact` asks for the exact, case-sensitive form."""

    text: str
    is_exact: bool = False
    weight: float = 1.0
    fields: tuple[str, ...] = ()  # empty: the rule's fields


@dataclass(frozen=True, slots=True)
class ActorRef:
    """A reference from a rule to an actor declared in actors.yaml."""

    actor_id: str
    weight: float = 1.0
    fields: tuple[str, ...] = ()  # empty: the rule's fields
    require_entity: bool | None = None  # None: as the actor says


@dataclass(frozen=True, slots=True)
class Clause:
    """A boolean clause: `any`, `all` or `none` over terms, actors and sub-clauses."""

    op: str  # "any" | "all" | "none"
    items: tuple[Term | ActorRef | Clause, ...]
    fields: tuple[str, ...] = ()  # empty: the enclosing clause's fields
    # Where the clause is written, e.g. "match.all[0].any": for explanations, not meaning.
    key: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Actor:
    """A person, organisation or place, declared once and referenced by rules."""

    id: str
    name: str
    kind: str  # "person" | "org" | "place"
    aliases: tuple[str, ...]
    source: str = ""
    require_entity: bool = False  # a hit counts only inside a compatible spaCy entity
    fuzzy: float | None = None  # similarity threshold for misspelt names, e.g. 0.85


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    """When a rule's count of distinct stories per window counts as a surge (docs/rules.md)."""

    window_s: int = 3600  # the window whose count is tested
    baseline_s: int = 14 * 86400  # how far back the usual count is learned
    sensitivity: float = 1e-3  # the tail probability below which a count is a surge
    min_count: int = 5  # stories in the window, at least
    min_outlets: int = 3  # distinct feeds carrying them, at least
    min_ratio: float = 2.0  # the count over the usual count, at least
    cooldown_s: int = 6 * 3600  # quiet time after a spike alert


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated watch rule. `clause` is the top-level `all` of the rule's `match`."""

    id: str
    name: str
    clause: Clause
    priority: Priority = Priority.NORMAL
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    fields: tuple[str, ...] = FIELDS
    near: str | int | None = None  # None, "sentence", or a number of words
    source: str = ""  # "rules/file.yaml:LINE"
    min_score: float | None = None  # the summed weights of the items found must reach it
    spike: SpikeSettings | None = None  # None: no spike alerts for this rule


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule and actor loaded from the rules folder."""

    rules: tuple[Rule, ...]
    actors: tuple[Actor, ...] = ()
    # By id, the first of each: a digest looks up every rule its matches name, and a scan
    # of 10,000 rules per lookup cost more than rendering the digest.
    _rules_by_id: dict[str, Rule] = field(init=False, repr=False, compare=False)
    _actors_by_id: dict[str, Actor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Reversed, so that the first of two with one id is the one kept.
        object.__setattr__(self, "_rules_by_id", {r.id: r for r in reversed(self.rules)})
        object.__setattr__(self, "_actors_by_id", {a.id: a for a in reversed(self.actors)})

    def rule(self, rule_id: str) -> Rule | None:
        return self._rules_by_id.get(rule_id)

    def actor(self, actor_id: str) -> Actor | None:
        return self._actors_by_id.get(actor_id)


@dataclass(frozen=True, slots=True)
class Hit:
    """One piece of evidence for a match: what the rule asked for and where it was found."""

    wanted: str  # the term or actor display name the rule named
    matched: str  # the words found in the text
    field: str
    start: int
    end: int
    snippet: str  # the sentence around the hit
    actor_id: str | None = None
    clause: str = ""  # where the rule asks for it, e.g. "match.all[1].any"
    alias: str = ""  # the term or alias that matched, as written in the rule or actors.yaml
    weight: float = 1.0
    # Where `matched` lies in `snippet` (-1 when unknown, as in hits stored before it was kept):
    # the same words may occur earlier in the sentence.
    snippet_start: int = -1
    snippet_end: int = -1


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that matched an article, with the evidence."""

    rule_id: str
    rule_name: str
    article_key: str
    priority: Priority
    score: float
    hits: tuple[Hit, ...]


# --- delivery ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowUpPolicy:
    """When a story already sent to a subscription earns one "story developing" update."""

    outlets: int | None = None  # this many outlets new since the story was last sent
    new_actor: bool = False  # or an actor of the rules that was not in what was sent


@dataclass(frozen=True, slots=True)
class StoryCoverage:
    """What one story holds for one subscription: its outlets and the actors matched in it."""

    story_id: str
    outlets: frozenset[str]  # feed ids carrying a copy
    actors: frozenset[str]  # actor ids in the hits of its matches on the subscription's rules


@dataclass(frozen=True, slots=True)
class Subscription:
    """Who receives which rules' matches, when, and how."""

    id: str
    rules: tuple[str, ...]  # rule ids or tags; "*" for every rule
    channels: tuple[ChannelTarget, ...]
    schedule: str | None = None  # cron, in `timezone`
    timezone: str = "UTC"
    immediate: Priority | None = None
    max_items: int = 200
    send_empty: bool = False
    title: str | None = None
    templates: str | None = None  # a folder whose templates override the configured ones
    language: str = "en"  # what its messages are worded in: "fr" | "en"
    follow_up: FollowUpPolicy | None = None  # None: a story is sent once, never followed up


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """Another outlet's copy of a digest entry's story."""

    outlet: str  # the feed's title
    url: str | None
    published_at: datetime


@dataclass(frozen=True, slots=True)
class Developing:
    """What a story already sent gained since it was last sent (a follow-up's reason)."""

    outlet_count: int  # outlets carrying it now
    new_outlets: tuple[str, ...]  # feed titles new since it was last sent
    new_actors: tuple[str, ...]  # actor names new since it was last sent


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One story in a digest: its lead article with the matches that put it there."""

    article: Article
    matches: tuple[Match, ...]
    feed_title: str = ""
    also_in: tuple[str, ...] = ()  # other outlets that carried the same story
    copies: tuple[StoryCopy, ...] = ()  # one per other outlet, earliest copy first
    developing: Developing | None = None  # set on a follow-up of a story already sent


@dataclass(frozen=True, slots=True)
class SpikeStory:
    """One story behind a spike: its lead copy, and how many outlets carried it."""

    article_key: str
    title: str
    url: str | None
    feed_id: str
    published_at: datetime
    outlets: int = 1


@dataclass(frozen=True, slots=True)
class SpikeAlert:
    """A surge of one rule's matches, as fired: the counts that made it one."""

    id: str  # stable: rule id × the moment it fired
    rule_id: str
    rule_name: str
    fired_at: datetime
    window_s: int
    count: int  # distinct stories in the window
    outlets: int  # distinct feeds in the window
    expected: float  # the usual count for that window
    spread: float  # the usual count's standard deviation
    stories: tuple[SpikeStory, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleTrend:
    """A rule's distinct stories per day (oldest first), and the days a spike fired."""

    rule_id: str
    rule_name: str
    days: tuple[tuple[str, int, bool], ...]  # (ISO date, stories, whether a spike fired)


@dataclass(frozen=True, slots=True)
class Digest:
    """What one delivery says: an immediate alert or a scheduled digest."""

    subscription_id: str
    kind: str  # "immediate" | "digest" | "developing" (follow-ups only) | "spike"
    created_at: datetime
    timezone: str
    entries: tuple[DigestEntry, ...]
    title: str = ""
    feed_problems: tuple[str, ...] = ()
    rule_clauses: tuple[tuple[str, str], ...] = ()  # (rule id, its clause in words)
    language: str = "en"  # the subscription's language: labels, dates, the clause's words
    developing: tuple[DigestEntry, ...] = ()  # stories already sent that grew since
    spike: SpikeAlert | None = None  # kind "spike": the surge this alert is about
    trends: tuple[RuleTrend, ...] = ()  # digests: the last days' counts of their rules


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message, ready for any channel."""

    subject: str
    text: str
    html: str
    payload: bytes  # the versioned JSON body for webhooks
    language: str = "en"  # what subject, text and HTML are worded in (Content-Language)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A durable outbox row: one message to one channel."""

    id: str  # stable idempotency key: subscription x channel x article set
    subscription_id: str
    channel: ChannelTarget
    message: Message
    article_keys: tuple[str, ...]
    created_at: datetime
    status: str = "pending"  # "pending" | "sent" | "dead"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())
