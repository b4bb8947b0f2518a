-- Spike alerts and trends per rule (issue 14): each rule's distinct stories per outlet with
-- their publication time, each spike-watched rule's last check, every spike fired, and which
-- subscriptions were sent which spike.
CREATE TABLE rule_stories (
    rule_id TEXT NOT NULL, story_id TEXT NOT NULL, feed_id TEXT NOT NULL,
    article_key TEXT NOT NULL, published_at TEXT NOT NULL,
    PRIMARY KEY (rule_id, story_id, feed_id)
);
CREATE INDEX rule_stories_published ON rule_stories (rule_id, published_at);
CREATE TABLE spike_states (
    rule_id TEXT PRIMARY KEY, checked_at TEXT NOT NULL, state TEXT NOT NULL,
    count INTEGER NOT NULL, outlets INTEGER NOT NULL, expected REAL NOT NULL,
    spread REAL NOT NULL, last_fired_at TEXT, quiet_until TEXT
);
CREATE TABLE spikes (
    id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, rule_name TEXT NOT NULL,
    fired_at TEXT NOT NULL, window_s INTEGER NOT NULL, count INTEGER NOT NULL,
    outlets INTEGER NOT NULL, expected REAL NOT NULL, spread REAL NOT NULL,
    stories TEXT NOT NULL
);
CREATE INDEX spikes_fired ON spikes (fired_at);
CREATE INDEX spikes_rule_fired ON spikes (rule_id, fired_at);
CREATE TABLE spike_deliveries (
    subscription_id TEXT NOT NULL, spike_id TEXT NOT NULL, delivered_at TEXT NOT NULL,
    PRIMARY KEY (subscription_id, spike_id)
);
