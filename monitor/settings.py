"""Settings objects the config builds and the adapters take directly. Stdlib only.

Each class is declared once: `config/load.py` validates the file and builds it, and the
adapter that needs it (the email channel for `SmtpSettings`, the outbox for
`DeliverySettings`, the fetcher for `FetchSettings`, the annotator for `NlpSettings`, the
event-story scheme for `StorySettings`) takes it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# --- the store ---


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where the store lives: a SQLite file, or a PostgreSQL database by URL."""

    # What `monitor.store.open_store` is given: `sqlite:///ABSOLUTE/PATH` or the
    # `postgresql://` URL as written, which may carry a password: kept out of the repr.
    url: str = field(repr=False)
    path: Path | None  # the SQLite file; None for a PostgreSQL server
    shown: str  # for messages and logs: the path, or the URL without a password
    # How long work claimed on a shared (PostgreSQL) store stays this daemon's unrenewed.
    lease_s: float = 120.0

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None


# --- delivery ---


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How to reach the SMTP server; the password never appears in the repr."""

    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    tls: bool = False  # implicit TLS from the first byte
    username: str | None = None
    # Kept out of repr so it cannot reach a log line or a traceback.
    password: str | None = field(default=None, repr=False)
    from_addr: str = "monitor@localhost"  # may carry a display name: 'Veille <a@example.org>'
    # An https page that unsubscribes in one click (RFC 8058); '{subscription}' names the list.
    unsubscribe_url: str | None = None
    timeout_s: float = 30.0  # per network operation (connect, each command)
    ca_file: Path | None = None  # PEM bundle to trust instead of the system's (private CA)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """The `delivery:` section: how often the outbox is flushed, how long and how often a
    delivery is tried."""

    check_every_s: float = 30.0
    send_timeout_s: float = 60.0  # one whole attempt, every round trip included
    # After attempt n fails, the next waits retry_delays_s[n-1] (±20%); past the last: dead.
    retry_delays_s: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


# --- analysis ---


@dataclass(frozen=True, slots=True)
class NlpSettings:
    """The `nlp:` section: how much of each article is analysed, and by how many workers."""

    max_chars: int = 20_000
    batch_size: int = 8
    workers: int = 1


@dataclass(frozen=True, slots=True)
class StorySettings:
    """The `stories:` section: how articles about one event join one story. The defaults
    were measured on the labelled pairs (docs/stories.md, docs/decisions.md event stories)."""

    window_s: float = 72 * 3600.0  # a story takes articles published this close to its last
    threshold: float = 0.20  # the cosine from which an article sharing a name joins
    unnamed_threshold: float = 0.60  # the cosine from which one sharing no name joins
    feed_rarity_power: float = 0.4  # how much a term common in the article's own feed is discounted
    body_tokens: int = 250  # the body's first tokens that count (past the lead a body wanders)
    title_weight: float = 3.0
    summary_weight: float = 1.0
    body_weight: float = 1.0


# The defaults, for callers without a configuration (a default argument is evaluated once).
STORY_DEFAULTS = StorySettings()


# --- fetching ---


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """The `fetch:` section: limits for every fetch and the bounds on polling.

    The defaults here are the documented defaults; `config.load` refuses values
    out of range, so an adapter can use these fields as they are.
    """

    timeout_s: float = 10.0  # connect and each read
    deadline_s: float = 30.0  # one whole fetch, redirects included
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_entries: int = 200  # newest entries kept per poll of one feed
    max_concurrency: int = 50  # fetches in flight, all hosts together
    max_per_host: int = 2  # fetches in flight to one host
    host_spacing_s: float = 0.5  # least time between two request starts to one host
    max_interval_s: float = 6 * 3600.0  # the longest wait between polls (backoff ceiling)
    failing_after_s: float = 24 * 3600.0  # failing this long: reported in digests and status


# --- the web workspace ---


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The `web:` section: where the workspace listens and how it shows times and pages."""

    host: str = "127.0.0.1"
    port: int = 9464
    # From MONITOR_WEB_TOKEN; kept out of repr so it cannot reach a log line or a traceback.
    token: str | None = field(default=None, repr=False)
    timezone: str = "UTC"
    page_size: int = 30
    language: str = "en"  # the configuration's top-level `language`
