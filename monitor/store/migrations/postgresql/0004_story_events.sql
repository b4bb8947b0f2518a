-- PostgreSQL twin of the SQLite migration 0011_story_events (text compared byte by byte).
-- Event stories (monitor/stories owns the scheme; see docs/stories.md and docs/decisions.md,
-- event stories): a profile per story, an inverted index from a story's few heaviest terms
-- to it, which story each analysed article was placed in, and the term counts that weigh
-- rare words above common ones.
--
-- Portable SQL: text timestamps compared as text, no rowid, upserts by ON CONFLICT.
CREATE TABLE story_events (
    story_id TEXT COLLATE "C" PRIMARY KEY,
    first_seen TEXT COLLATE "C" NOT NULL,
    last_seen TEXT COLLATE "C" NOT NULL,
    articles INTEGER NOT NULL,
    -- JSON: [[term, weight], ...] (unit length, heaviest first) and [name, ...]
    terms TEXT COLLATE "C" NOT NULL,
    names TEXT COLLATE "C" NOT NULL
);
CREATE INDEX story_events_last_seen ON story_events (last_seen);
-- A lookup reads, for each of an article's keys, the few most recent stories filed under it:
-- a seek on (term, last_seen) whatever the table holds.
CREATE TABLE story_keys (
    term TEXT COLLATE "C" NOT NULL,
    story_id TEXT COLLATE "C" NOT NULL,
    last_seen TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (term, story_id)
);
CREATE INDEX story_keys_recent ON story_keys (term, last_seen);
CREATE INDEX story_keys_last_seen ON story_keys (last_seen);
CREATE TABLE story_members (
    article_key TEXT COLLATE "C" PRIMARY KEY,
    story_id TEXT COLLATE "C" NOT NULL,
    placed_at TEXT COLLATE "C" NOT NULL
);
-- How many articles hold each term: scope '' counts every feed, otherwise one feed's; the
-- term '' counts the articles themselves.
CREATE TABLE story_term_counts (
    scope TEXT COLLATE "C" NOT NULL,
    term TEXT COLLATE "C" NOT NULL,
    articles INTEGER NOT NULL,
    PRIMARY KEY (scope, term)
);
