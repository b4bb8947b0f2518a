-- PostgreSQL twin of the SQLite migration 0012_spikes (text compared byte by byte).
-- Spike alerts and trends per rule (issue 14): each rule's distinct stories per outlet with
-- their publication time, each spike-watched rule's last check, every spike fired, and which
-- subscriptions were sent which spike.
CREATE TABLE rule_stories (
    rule_id TEXT COLLATE "C" NOT NULL, story_id TEXT COLLATE "C" NOT NULL, feed_id TEXT COLLATE "C" NOT NULL,
    article_key TEXT COLLATE "C" NOT NULL, published_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (rule_id, story_id, feed_id)
);
CREATE INDEX rule_stories_published ON rule_stories (rule_id, published_at);
CREATE TABLE spike_states (
    rule_id TEXT COLLATE "C" PRIMARY KEY, checked_at TEXT COLLATE "C" NOT NULL, state TEXT COLLATE "C" NOT NULL,
    count INTEGER NOT NULL, outlets INTEGER NOT NULL, expected DOUBLE PRECISION NOT NULL,
    spread DOUBLE PRECISION NOT NULL, last_fired_at TEXT COLLATE "C", quiet_until TEXT COLLATE "C"
);
CREATE TABLE spikes (
    id TEXT COLLATE "C" PRIMARY KEY, rule_id TEXT COLLATE "C" NOT NULL, rule_name TEXT COLLATE "C" NOT NULL,
    fired_at TEXT COLLATE "C" NOT NULL, window_s INTEGER NOT NULL, count INTEGER NOT NULL,
    outlets INTEGER NOT NULL, expected DOUBLE PRECISION NOT NULL, spread DOUBLE PRECISION NOT NULL,
    stories TEXT COLLATE "C" NOT NULL
);
CREATE INDEX spikes_fired ON spikes (fired_at);
CREATE INDEX spikes_rule_fired ON spikes (rule_id, fired_at);
CREATE TABLE spike_deliveries (
    subscription_id TEXT COLLATE "C" NOT NULL, spike_id TEXT COLLATE "C" NOT NULL, delivered_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (subscription_id, spike_id)
);
