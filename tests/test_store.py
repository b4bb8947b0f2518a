"""The store on both backends (SQLite and a real PostgreSQL server): dedupe, story linking,
crash-safe matching, the outbox rows; and what only SQLite has (pragmas, query plans,
its old schemas)."""

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import StoreError
from monitor.ingest import STORY_WINDOW, NearDuplicates, band_keys, text_signature
from monitor.model import Article, Delivery, FeedState, Hit, Match, Message, Priority
from monitor.store import Quarantined, Store
from monitor.store.schema import migrations
from monitor.targets import WebhookTarget
from tests.articles import stored_article
from tests.conftest import raw_rows

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOOK_SECRET = "whsec_c3RvcmUtdGVzdC1zZWNyZXQtb2YtMzItYnl0ZXMhIQ=="
LINKER = NearDuplicates()


def add(store: Store, articles: list[Article], now: datetime = NOW) -> list[Article]:
    """Store articles the way the poller does: near-duplicates within the window join."""
    return store.add_articles(articles, now, linker=LINKER, story_since=now - STORY_WINDOW)


def article(key: str, **changes: object) -> Article:
    return stored_article(key, at=NOW, **changes)


# A wire story as regional papers run it (about 80 words, like the corpus's items).
WIRE = (
    "Le ministre de l'Intérieur a présenté mardi à Rabat le dispositif de sécurité prévu pour "
    "les Jeux olympiques de Paris. Les services marocains enverront des policiers et des "
    "spécialistes du renseignement, comme lors de la Coupe du monde au Qatar. La coopération "
    "entre les deux pays, longtemps suspendue par la crise des visas, reprend ainsi sur le "
    "terrain. Une délégation française est attendue à Casablanca le mois prochain pour "
    "préparer les patrouilles mixtes dans les gares et les aéroports, a précisé le ministère."
)
OTHER = (
    "La sécheresse qui frappe le sud de l'Espagne depuis trois ans menace les récoltes "
    "d'olives : les coopératives andalouses annoncent une production en baisse de moitié et "
    "des prix record dans les supermarchés européens avant l'été."
)


def edited(text: str, first: int, count: int) -> str:
    """`text` with `count` words from the `first` rewritten, as a desk edits a wire copy."""
    words = text.split()
    first = first if first >= 0 else len(words) + first
    for position in range(first, first + count):
        words[position] = f"mot{position}"
    return " ".join(words)


def signed(key: str, text: str, **changes) -> Article:
    """An article whose summary is `text`, signed the way normalize signs articles."""
    plain = article(key, summary=text, **changes)
    return replace(plain, signature=text_signature(f"{plain.title} {plain.summary} {plain.body}"))


def match(key: str, rule_id: str = "jo2024-security", priority=Priority.HIGH) -> Match:
    hit = Hit("JO 2024", "JO 2024", "body", 3, 10, "Sécurité des JO 2024")
    return Match(rule_id, "JO 2024 security", key, priority, 2.0, (hit,))


@pytest.fixture
def store(store_url):
    opened = Store(store_url)
    yield opened
    opened.close()


def test_articles_seen_by_key_url_or_content_are_not_new(store):
    assert [a.key for a in add(store, [article("a")], NOW)] == ["a"]
    again = add(
        store,
        [
            article("a"),
            article("b", url="https://news.example/a"),
            article("c", content_hash="hash-a"),
            article("d"),
        ],
        NOW,
    )
    assert [a.key for a in again] == ["d"]


@pytest.mark.parametrize(
    "spelling",
    [
        "http://www.news.example/a",
        "https://www.news.example/a",
        "http://news.example/a",
        "https://news.example/a/",  # as canonical URLs were stored before the slash went
    ],
)
def test_a_copy_under_another_spelling_of_the_url_is_not_new(store, spelling):
    # The first copy came with a guid, so its key cannot match the copy's link key.
    add(store, [article("g:first", url=spelling)])

    copy = article("u:copy", feed_id="other", guid=None, url="https://news.example/a")

    assert add(store, [copy]) == []


def test_guidless_entries_of_one_feed_sharing_a_link_are_different_articles(store):
    link = "https://news.example/"
    first = article("l:1", guid=None, url=link, title="Flash 1", summary="Un.")
    other = article("l:2", guid=None, url=link, title="Flash 2", summary="Deux.")
    retitled = article("l:3", guid=None, url=link, title="Flash 1 (maj)", summary="Un.")
    elsewhere = article("l:4", feed_id="other", guid=None, url=link, title="F", summary="F")

    add(store, [first])

    assert [a.key for a in add(store, [other, retitled, elsewhere])] == ["l:2"]


def test_near_duplicates_share_a_story_id(store):
    original = signed("a", WIRE)
    copy = signed("b", edited(WIRE, 10, 2))
    other = signed("c", OTHER)
    stored = add(store, [original, copy, other], NOW)
    assert [a.story_id for a in stored] == ["a", "a", "c"]
    assert [store.article(key).story_id for key in "abc"] == ["a", "a", "c"]


def test_articles_stay_unmatched_until_their_matches_are_saved(store):
    add(store, [article("a"), article("b")], NOW)
    assert {a.key for a in store.unmatched_articles()} == {"a", "b"}
    store.save_matches(["a", "b"], [match("a")], NOW)
    assert store.unmatched_articles() == []
    found = store.undelivered("sub", ["jo2024-security"])
    assert [(a.key, [m.hits[0].snippet for m in ms]) for a, ms in found] == [
        ("a", ["Sécurité des JO 2024"])
    ]


def delivery(delivery_id: str, keys: tuple[str, ...]) -> Delivery:
    return Delivery(
        id=delivery_id,
        subscription_id="sub",
        channel=WebhookTarget(url="http://127.0.0.1/h", secret=HOOK_SECRET),
        message=Message("subject", "text", "<p>html</p>", b"{}"),
        article_keys=keys,
        created_at=NOW,
    )


def test_an_enqueued_story_is_never_offered_to_the_subscription_again(store):
    add(store, [signed("a", WIRE), signed("b", WIRE + " (avec AFP)")], NOW)
    store.save_matches(["a", "b"], [match("a"), match("b")], NOW)
    store.enqueue([delivery("d1", ("a",))], ["a"])
    # b is a copy of a's story: delivering a covers it.
    assert store.undelivered("sub", ["jo2024-security"]) == []
    assert [a.key for a, _ in store.undelivered("other-sub", ["jo2024-security"])] == ["a", "b"]


def test_outbox_rows_move_from_pending_to_sent_or_dead(store):
    store.enqueue([delivery("d1", ("a",)), delivery("d2", ("b",))], [])
    assert [d.id for d in store.due_deliveries(NOW)] == ["d1", "d2"]
    store.mark_sent("d1", NOW)
    store.mark_failed("d2", "smtp: 451 try later", next_attempt_at=NOW + timedelta(minutes=5))
    assert store.due_deliveries(NOW) == []
    assert [d.id for d in store.due_deliveries(NOW + timedelta(minutes=6))] == ["d2"]
    store.mark_failed("d2", "smtp: 554 rejected", next_attempt_at=None)
    dead = store.deliveries("dead")
    assert [(d.id, d.attempts, d.last_error) for d in dead] == [("d2", 2, "smtp: 554 rejected")]
    assert store.requeue("d2", NOW)
    assert not store.requeue("d1", NOW)  # sent stays sent


def test_secrets_are_not_written_to_the_database(store, store_url):
    store.enqueue([delivery("d1", ("a",))], [])
    [(channel,)] = raw_rows(store_url, "SELECT channel FROM deliveries")
    assert "secret" not in channel
    assert HOOK_SECRET.removeprefix("whsec_") not in channel
    assert store.delivery("d1").channel.secret is None


def test_feed_state_round_trips(store):
    state = FeedState(
        feed_id="seed-fr",
        etag='"abc"',
        last_success_at=NOW,
        error_streak=2,
        next_poll_at=NOW + timedelta(minutes=5),
    )
    store.save_feed_state(state)
    assert store.feed_state("seed-fr") == state


def test_a_feed_state_commits_without_waiting_for_the_disk_and_articles_still_do(tmp_path):
    path = tmp_path / "monitor.db"
    store = Store(path)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)  # the seam: what SQLite is asked to run
    try:
        store.save_feed_state(FeedState(feed_id="seed-fr", etag='"v1"'))
        saved_with = list(statements)
        statements.clear()
        add(store, [article("a")], NOW)
    finally:
        store.close()

    # SQLite syncs a WAL commit only under synchronous=FULL (2); NORMAL (1) leaves it to the
    # next synced commit or checkpoint. A poll's state is rewritten at every poll.
    insert = next(i for i, sql in enumerate(saved_with) if "INTO feed_state" in sql)
    assert "PRAGMA synchronous = NORMAL" in saved_with[:insert]
    assert saved_with[-1] == "PRAGMA synchronous = 2"
    assert not any("synchronous" in sql for sql in statements)  # articles: FULL, as opened
    reopened = Store(path)
    try:
        assert reopened.feed_state("seed-fr") == FeedState(feed_id="seed-fr", etag='"v1"')
    finally:
        reopened.close()


def test_state_survives_reopening(store_url):
    first = Store(store_url)
    add(first, [article("a")], NOW)
    first.close()
    second = Store(store_url)
    try:
        assert add(second, [article("a")], NOW) == []
    finally:
        second.close()


def test_every_connection_keeps_a_64_mb_page_cache_and_sorts_in_memory(tmp_path):
    # The memory docs/operations.md promises the store: 64 MB of cache, on a new file and on
    # one reopened (pragmas belong to the connection, not the file).
    for _ in range(2):
        opened = Store(tmp_path / "monitor.db")
        try:
            (cache,) = opened._db.execute("PRAGMA cache_size").fetchone()
            (temp_store,) = opened._db.execute("PRAGMA temp_store").fetchone()
        finally:
            opened.close()
        assert -cache * 1024 == 64 * 1024 * 1024
        assert temp_store == 2  # MEMORY


def test_a_file_that_is_not_a_database_is_refused_not_replaced(tmp_path):
    path = tmp_path / "monitor.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable database"):
        Store(path)
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_a_newer_schema_is_refused(store_url):
    Store(store_url).close()
    raw_rows(store_url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this monitor understands"):
        Store(store_url)


def test_retention_forgets_old_articles_but_never_resends_their_story(store):
    add(store, [article("old")], NOW - timedelta(days=100))
    store.save_matches(["old"], [match("old")], NOW - timedelta(days=100))
    store.enqueue([delivery("d-old", ("old",))], ["old"])
    store.mark_sent("d-old", NOW - timedelta(days=100))
    add(store, [article("new")], NOW)
    assert store.purge_before(NOW - timedelta(days=90)) == 1
    assert store.article("old") is None and store.article("new") is not None
    # The feed still serves the old item: it is stored again but not offered again.
    add(store, [article("old")], NOW)
    store.save_matches(["old"], [match("old")], NOW)
    assert store.undelivered("sub", ["jo2024-security"]) == []


def test_retention_keeps_articles_of_a_pending_delivery(store):
    add(store, [article("a")], NOW - timedelta(days=100))
    store.save_matches(["a"], [match("a")], NOW - timedelta(days=100))
    store.enqueue([delivery("d1", ("a",))], ["a"])
    assert store.purge_before(NOW) == 0


def test_health_facts(store):
    assert store.quick_check() is None
    assert store.is_writable()
    store.enqueue([delivery("d1", ("a",)), delivery("d2", ("b",))], [])
    store.mark_sent("d1", NOW)
    assert store.delivery_counts() == {("webhook", "sent"): 1, ("webhook", "pending"): 1}
    store.set_note("rules_error", "rules/x.yaml:3: bad")
    assert store.notes() == {"rules_error": "rules/x.yaml:3: bad"}
    store.set_note("rules_error", None)
    assert store.notes() == {}


# --- near-duplicate index ------------------------------------------------------------


def index_rows(store_url) -> tuple[set[str], int]:
    """The articles that have a sketch, and how many band rows there are."""
    sketched = {row[0] for row in raw_rows(store_url, "SELECT article_key FROM story_sketches")}
    [(bands,)] = raw_rows(store_url, "SELECT COUNT(*) FROM story_bands")
    return sketched, bands


def test_a_copy_joins_the_most_similar_story(store):
    far = signed("far", edited(WIRE, 0, 20))  # its first 20 words rewritten: similar
    near = signed("near", edited(WIRE, -6, 6))  # its last 6: more similar; far from `far`
    add(store, [far])
    add(store, [near], NOW + timedelta(minutes=1))
    assert store.article("near").story_id == "near"
    keys = band_keys(text_signature(f"title copy {WIRE} body"))
    found = store.candidates_for(keys, NOW - STORY_WINDOW)
    assert {story for _, story, _ in found} == {"far", "near"}
    assert store.candidates_for(keys, NOW + timedelta(minutes=2)) == []
    copy = signed("copy", WIRE)
    (stored,) = add(store, [copy], NOW + timedelta(minutes=2))
    assert stored.story_id == "near"
    assert store.article("copy").signature == copy.signature


def test_a_copy_of_an_article_older_than_the_window_starts_a_new_story(store):
    add(store, [signed("old", WIRE)], NOW - STORY_WINDOW - timedelta(hours=1))
    add(store, [signed("recent", OTHER)], NOW - STORY_WINDOW + timedelta(hours=1))
    stored = add(store, [signed("a", WIRE), signed("b", OTHER)])
    assert [a.story_id for a in stored] == ["a", "recent"]


def test_articles_without_words_are_never_indexed_nor_linked(store, store_url):
    stored = add(store, [signed("a", "", title="", body=""), signed("b", "…", title="", body="")])
    assert [a.signature for a in stored] == [b"", b""]
    assert [a.story_id for a in stored] == ["a", "b"]
    assert index_rows(store_url) == (set(), 0)


def test_a_lookup_reads_only_the_copies_however_many_articles_are_stored(store):
    many = [signed(f"n{n}", f"{OTHER} Dépêche numéro {n} du fil régional.") for n in range(300)]
    add(store, [signed("wire", WIRE), *many[1:]])
    found = store.candidates_for(band_keys(signed("x", WIRE).signature), NOW - STORY_WINDOW)
    assert [story for _, story, _ in found] == ["wire"]


def test_retention_deletes_the_index_rows_with_their_articles(store, store_url):
    add(store, [signed("old", WIRE)], NOW - timedelta(days=100))
    store.save_matches(["old"], [], NOW - timedelta(days=100))
    add(store, [signed("new", OTHER)])
    assert index_rows(store_url) == ({"old", "new"}, 40)
    assert store.purge_before(NOW - timedelta(days=90)) == 1
    assert index_rows(store_url) == ({"new"}, 20)


def lookup_plans(store, article: Article) -> list[str]:
    """SQLite's plan for each read `add_articles` makes while storing `article`."""
    reads: list[str] = []
    store._db.set_trace_callback(reads.append)  # the SQL as run, with its values
    try:
        add(store, [article])
    finally:
        store._db.set_trace_callback(None)
    return [
        " / ".join(row[3] for row in store._db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in reads
        if sql.lstrip().upper().startswith("SELECT")
    ]


def test_every_lookup_on_insert_goes_through_an_index(tmp_path):
    store = Store(tmp_path / "monitor.db")  # SQLite's planner, SQLite's plans
    try:
        add(store, [signed(f"n{n}", f"{OTHER} {n}") for n in range(50)])
        store._db.execute("ANALYZE")
        plans = lookup_plans(store, signed("new", WIRE, url="https://news.example/new"))
    finally:
        store.close()
    assert len(plans) == 4, plans  # key, URL spellings, content hash, band keys
    for plan in plans:
        assert "SCAN" not in plan, plan
        assert "USING" in plan, plan


# --- the analysis queue --------------------------------------------------------------


def test_a_quarantined_article_leaves_the_queue_until_a_rematch(store):
    add(store, [article("a"), article("b")], NOW - timedelta(days=100))
    assert store.record_analysis_failure("a", "ValueError: boom") == 1
    assert store.record_analysis_failure("a", "ValueError: boom again") == 2
    store.quarantine("a", NOW - timedelta(days=100))
    assert [a.key for a in store.unmatched_articles()] == ["b"]
    assert store.quarantined() == Quarantined(1, "ValueError: boom again", "a")
    assert store.forget_matches_since(NOW - timedelta(days=101)) == 2
    assert {a.key for a in store.unmatched_articles()} == {"a", "b"}
    assert store.quarantined() == Quarantined(0)
    assert store.record_analysis_failure("a", "ValueError: boom") == 1


def test_retention_forgets_quarantined_articles_too(store):
    add(store, [article("a")], NOW - timedelta(days=100))
    store.quarantine("a", NOW - timedelta(days=100))
    assert store.purge_before(NOW - timedelta(days=90)) == 1
    assert store.quarantined() == Quarantined(0)


# --- feed rhythm ---------------------------------------------------------------------


def test_every_feeds_rhythm_comes_in_one_read(store):
    hourly = [
        article(f"{feed}-{n}", feed_id=feed, published_at=NOW - timedelta(hours=n))
        for feed in ("seed-fr", "wire-en")
        for n in range(25)
    ]
    add(store, hourly)
    by_feed = store.recent_published_by_feed(["seed-fr", "wire-en", "silent"])
    assert by_feed == {
        "seed-fr": store.recent_published("seed-fr"),
        "wire-en": store.recent_published("wire-en"),
    }
    assert by_feed["seed-fr"] == [NOW - timedelta(hours=n) for n in range(20)]
    assert store.recent_published_by_feed([]) == {}


# --- an existing database ----------------------------------------------------------

# The schema as the store of version 3 created it, copied from its Python migrations.
V3_MIGRATIONS = (
    """
CREATE TABLE IF NOT EXISTS feed_state (
    feed_id TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, body_sha256 TEXT,
    last_polled_at TEXT, last_success_at TEXT, last_error TEXT, last_error_at TEXT,
    error_streak INTEGER NOT NULL DEFAULT 0, next_poll_at TEXT
);
CREATE TABLE IF NOT EXISTS articles (
    key TEXT PRIMARY KEY, feed_id TEXT NOT NULL, url TEXT, guid TEXT, title TEXT NOT NULL,
    summary TEXT NOT NULL, body TEXT NOT NULL, published_at TEXT NOT NULL,
    fetched_at TEXT NOT NULL, language TEXT, content_hash TEXT NOT NULL,
    fingerprint INTEGER NOT NULL, story_id TEXT NOT NULL, stored_at TEXT NOT NULL,
    matched_at TEXT
);
CREATE INDEX IF NOT EXISTS articles_url ON articles (url);
CREATE INDEX IF NOT EXISTS articles_hash ON articles (content_hash);
CREATE INDEX IF NOT EXISTS articles_unmatched ON articles (matched_at) WHERE matched_at IS NULL;
CREATE TABLE IF NOT EXISTS matches (
    article_key TEXT NOT NULL REFERENCES articles (key), rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL, priority INTEGER NOT NULL, score REAL NOT NULL,
    hits TEXT NOT NULL, matched_at TEXT NOT NULL, PRIMARY KEY (article_key, rule_id)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, channel TEXT NOT NULL,
    subject TEXT NOT NULL, text TEXT NOT NULL, html TEXT NOT NULL, payload BLOB NOT NULL,
    article_keys TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, last_error TEXT, sent_at TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS delivered (
    subscription_id TEXT NOT NULL, story_id TEXT NOT NULL, delivery_id TEXT NOT NULL,
    PRIMARY KEY (subscription_id, story_id)
);
CREATE TABLE IF NOT EXISTS digest_runs (
    subscription_id TEXT PRIMARY KEY, last_run_at TEXT NOT NULL
);
""",
    """
    CREATE TABLE gone_endpoints (
        url_sha256 TEXT PRIMARY KEY, display TEXT NOT NULL, gone_at TEXT NOT NULL,
        error TEXT NOT NULL
    )
    """,
    """
    ALTER TABLE feed_state ADD COLUMN moved_from TEXT;
    ALTER TABLE feed_state ADD COLUMN moved_to TEXT;
    ALTER TABLE feed_state ADD COLUMN ttl_s INTEGER;
    CREATE TABLE coverage_gaps (
        feed_id TEXT NOT NULL, gap_from TEXT NOT NULL, gap_to TEXT NOT NULL,
        recorded_at TEXT NOT NULL, PRIMARY KEY (feed_id, gap_from)
    );
    CREATE INDEX articles_feed_published ON articles (feed_id, published_at)
    """,
)
# High bit set: SQLite holds it as a negative integer, as the old store wrote it.
V3_FINGERPRINT = 0xF0F0_1234_5678_9ABC


def v3_database(path) -> None:
    """A database as version 3 of the store left it, with a row in every table."""
    at = "2026-06-01T11:00:00.000000+00:00"
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        for script in V3_MIGRATIONS:
            raw.executescript(script)
        raw.execute(
            "INSERT INTO meta VALUES ('schema_version', '3'), ('note:rules_loaded_at', ?)", (at,)
        )
        raw.execute(
            "INSERT INTO feed_state VALUES "
            "(?, ?, NULL, NULL, ?, ?, NULL, NULL, 0, ?, NULL, ?, 600)",
            ("seed-fr", '"v1"', at, at, at, "https://moved.example/feed"),
        )
        signed = V3_FINGERPRINT - (1 << 64)
        raw.executemany(
            "INSERT INTO articles VALUES "
            "(?, 'seed-fr', ?, ?, ?, 's', 'b', ?, ?, 'fr', ?, ?, ?, ?, ?)",
            [
                (
                    "old",
                    "https://news.example/old",
                    "old",
                    "Old story",
                    at,
                    at,
                    "h-old",
                    signed,
                    "old",
                    at,
                    at,
                ),
                ("waiting", None, "w", "Waiting", at, at, "h-w", 0, "waiting", at, None),
            ],
        )
        hits = json.dumps(
            [{"wanted": "JO 2024", "matched": "JO 2024", "field": "body", "start": 3, "end": 10,
              "snippet": "Sécurité des JO 2024", "actor_id": None, "clause": "match.any",
              "alias": "JO 2024", "weight": 1.0}]
        )  # fmt: skip
        raw.execute(
            "INSERT INTO matches VALUES ('old', 'jo2024-security', 'JO', 3, 2.0, ?, ?)", (hits, at)
        )
        channel = json.dumps(
            {"kind": "folder", "folder": "var/outbox", "email_to": [], "webhook_url": None,
             "webhook_format": "standard"}
        )  # fmt: skip
        raw.execute(
            "INSERT INTO deliveries VALUES ('d1', 'desk', ?, 'subj', 'text', '<p>', X'7B7D', "
            "'[\"old\"]', ?, 'dead', 2, NULL, '554 no', NULL)",
            (channel, at),
        )
        raw.execute("INSERT INTO delivered VALUES ('desk', 'old', 'd1')")
        raw.execute("INSERT INTO digest_runs VALUES ('desk', ?)", (at,))
        raw.execute(
            "INSERT INTO gone_endpoints VALUES ('abc', 'hooks.example', ?, '410 Gone')", (at,)
        )
        raw.execute("INSERT INTO coverage_gaps VALUES ('seed-fr', ?, ?, ?)", (at, at, at))
    raw.close()


def test_a_version_3_database_migrates_forward_with_its_data(tmp_path):
    path = tmp_path / "monitor.db"
    v3_database(path)
    at = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    store = Store(path)
    try:
        assert store.schema_version() == len(migrations())
        state = store.feed_state("seed-fr")
        assert (state.etag, state.moved_to, state.ttl_s) == (
            '"v1"',
            "https://moved.example/feed",
            600,
        )
        old = store.article("old")
        assert (old.title, old.fingerprint, old.story_id) == ("Old story", V3_FINGERPRINT, "old")
        assert [a.key for a in store.unmatched_articles()] == ["waiting"]
        assert store.undelivered("desk", ["jo2024-security"]) == []
        [(matched, [found])] = store.matched_since(["jo2024-security"], at)
        assert matched.key == "old" and found.hits[0].snippet == "Sécurité des JO 2024"
        [dead] = store.deliveries("dead")
        assert (dead.id, dead.attempts, dead.last_error) == ("d1", 2, "554 no")
        assert store.last_digest_at("desk") == at
        assert [g["display"] for g in store.gone_endpoints()] == ["hooks.example"]
        assert store.coverage_gaps(since=at) == [("seed-fr", at, at)]
        assert store.notes() == {"rules_loaded_at": "2026-06-01T11:00:00.000000+00:00"}
        # Articles stored before migration 7 have no MinHash (SQL cannot compute one): a
        # copy arriving after the upgrade starts a new story, and copies of it join it.
        text = "Old story s b"
        (copy,) = add(store, [replace(signed("copy", ""), signature=text_signature(text))], at)
        assert copy.story_id == "copy"
        (again,) = add(store, [replace(signed("again", ""), signature=text_signature(text))], at)
        assert again.story_id == "copy"
    finally:
        store.close()
    reopened = Store(path)
    try:
        assert reopened.schema_version() == len(migrations())
    finally:
        reopened.close()


def test_a_failing_migration_leaves_the_database_at_its_last_version(tmp_path):
    path = tmp_path / "monitor.db"
    v3_database(path)
    raw = sqlite3.connect(path)
    with raw:  # an index in the way of migration 4's second statement, as a hand edit might
        raw.execute("CREATE INDEX fingerprint_bands_article ON articles (title)")
    raw.close()
    with pytest.raises(StoreError, match=r"migration '0004_fingerprint_bands\.sql' failed"):
        Store(path)
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "3",
        )
        assert raw.execute("SELECT COUNT(*) FROM articles").fetchone() == (2,)
        # The step's first statement was rolled back with it.
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
        assert "fingerprint_bands" not in tables
    finally:
        raw.close()


def test_the_rules_snapshot_is_replaced_as_a_whole_and_survives_a_reopen(store_url):
    store = Store(store_url)
    try:
        assert store.rules_snapshot() is None
        store.save_rules_snapshot({"a.yaml": "id: a\n", "actors.yaml": "[]\n"}, NOW)
        store.save_rules_snapshot({"b.yaml": "id: b\n"}, NOW + timedelta(hours=1))
    finally:
        store.close()
    reopened = Store(store_url)
    try:
        snapshot = reopened.rules_snapshot()
        assert snapshot is not None
        assert dict(snapshot.files) == {"b.yaml": "id: b\n"}  # a.yaml is not left behind
        assert snapshot.saved_at == NOW + timedelta(hours=1)
    finally:
        reopened.close()
