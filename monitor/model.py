"""The frozen data types that flow between stages.

Stdlib only: every stage speaks in these types, so none of them may carry a
third-party object (no feedparser dict, no spaCy Doc, no httpx Response).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import ClassVar


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


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule and actor loaded from the rules folder."""

    rules: tuple[Rule, ...]
    actors: tuple[Actor, ...] = ()

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    def actor(self, actor_id: str) -> Actor | None:
        for actor in self.actors:
            if actor.id == actor_id:
                return actor
        return None


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


# Where a subscription's messages go: one frozen type per channel kind. The store keeps a
# target as JSON (`target_to_json`): fields marked `secret` are never written, and
# `legacy_keys` reads rows written before the targets had their own types.
SECRET = {"secret": True}


@dataclass(frozen=True, slots=True)
class FolderTarget:
    """Write `.eml` and `.html` files into `folder` (relative to the config file)."""

    kind: ClassVar[str] = "folder"
    legacy_keys: ClassVar[Mapping[str, str]] = {}
    folder: str


@dataclass(frozen=True, slots=True)
class EmailTarget:
    """Send by SMTP (the `smtp` settings) to every address in `to`."""

    kind: ClassVar[str] = "email"
    legacy_keys: ClassVar[Mapping[str, str]] = {"email_to": "to"}
    to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """POST the JSON body to `url`, signed with `secret` when there is one."""

    kind: ClassVar[str] = "webhook"
    legacy_keys: ClassVar[Mapping[str, str]] = {
        "webhook_url": "url",
        "webhook_secret": "secret",
        "webhook_format": "format",
    }
    url: str
    secret: str | None = field(default=None, metadata=SECRET)
    format: str = "standard"  # "standard" (monitor.digest/1) | "slack"


@dataclass(frozen=True, slots=True)
class AppriseTarget:
    """Notify each Apprise service URL; the URLs carry tokens, so the store keeps them redacted."""

    kind: ClassVar[str] = "apprise"
    legacy_keys: ClassVar[Mapping[str, str]] = {"apprise_urls": "urls"}
    urls: tuple[str, ...]


ChannelTarget = FolderTarget | EmailTarget | WebhookTarget | AppriseTarget
TARGET_TYPES: Mapping[str, type[ChannelTarget]] = {
    target.kind: target for target in (FolderTarget, EmailTarget, WebhookTarget, AppriseTarget)
}


def target_to_json(target: ChannelTarget) -> dict[str, object]:
    """The target as a JSON object with its `kind`; secret fields are left out."""
    document: dict[str, object] = {"kind": target.kind}
    for spec in fields(target):
        if spec.metadata.get("secret"):
            continue
        value = getattr(target, spec.name)
        document[spec.name] = list(value) if isinstance(value, tuple) else value
    return document


def target_from_json(document: Mapping[str, object]) -> ChannelTarget:
    """Read back `target_to_json`'s output, or a row written with the old flat field names."""
    kind = str(document.get("kind"))
    target_type = TARGET_TYPES.get(kind)
    if target_type is None:
        known = ", ".join(TARGET_TYPES)
        raise ValueError(f"unknown channel kind '{kind}' (known: {known})")
    names = {spec.name: spec for spec in fields(target_type)}
    values: dict[str, object] = {}
    for key, value in document.items():
        name = target_type.legacy_keys.get(key, key)
        # Old rows carry every kind's fields, mostly empty: keep only this kind's, set ones.
        if name not in names or value is None or names[name].metadata.get("secret"):
            continue
        values[name] = tuple(value) if isinstance(value, list) else value
    try:
        return target_type(**values)  # type: ignore[arg-type]  # keys are this type's fields
    except TypeError as exc:
        raise ValueError(f"incomplete '{kind}' channel in the outbox: {exc}") from None


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


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One article in a digest with the matches that put it there."""

    article: Article
    matches: tuple[Match, ...]
    feed_title: str = ""
    also_in: tuple[str, ...] = ()  # other outlets that carried the same story


@dataclass(frozen=True, slots=True)
class Digest:
    """What one delivery says: an immediate alert or a scheduled digest."""

    subscription_id: str
    kind: str  # "immediate" | "digest"
    created_at: datetime
    timezone: str
    entries: tuple[DigestEntry, ...]
    title: str = ""
    feed_problems: tuple[str, ...] = ()
    rule_clauses: tuple[tuple[str, str], ...] = ()  # (rule id, its clause in words)


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message, ready for any channel."""

    subject: str
    text: str
    html: str
    payload: bytes  # the versioned JSON body for webhooks


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
