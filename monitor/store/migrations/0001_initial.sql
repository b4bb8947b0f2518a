-- Feed state, articles, matches and the delivery outbox, as first shipped.
-- A shipped migration is never edited: a change is a new numbered file.
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
