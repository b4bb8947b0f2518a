-- Event stories (monitor/stories owns the scheme; see docs/stories.md and docs/decisions.md,
-- event stories): a profile per story, an inverted index from a story's few heaviest terms
-- to it, which story each analysed article was placed in, and the term counts that weigh
-- rare words above common ones.
--
-- Portable SQL: text timestamps compared as text, no rowid, upserts by ON CONFLICT.
CREATE TABLE story_events (
    story_id TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    articles INTEGER NOT NULL,
    -- JSON: [[term, weight], ...] (unit length, heaviest first) and [name, ...]
    terms TEXT NOT NULL,
    names TEXT NOT NULL
);
CREATE INDEX story_events_last_seen ON story_events (last_seen);
-- A lookup reads, for each of an article's keys, the few most recent stories filed under it:
-- a seek on (term, last_seen) whatever the table holds.
CREATE TABLE story_keys (
    term TEXT NOT NULL,
    story_id TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (term, story_id)
);
CREATE INDEX story_keys_recent ON story_keys (term, last_seen);
CREATE INDEX story_keys_last_seen ON story_keys (last_seen);
CREATE TABLE story_members (
    article_key TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,
    placed_at TEXT NOT NULL
);
-- How many articles hold each term: scope '' counts every feed, otherwise one feed's; the
-- term '' counts the articles themselves.
CREATE TABLE story_term_counts (
    scope TEXT NOT NULL,
    term TEXT NOT NULL,
    articles INTEGER NOT NULL,
    PRIMARY KEY (scope, term)
);
