-- PostgreSQL twin of the SQLite migration 0010_feedback (text compared byte by byte).
-- The analysts' feedback from the workspace (docs/web.md#feedback): one verdict per match,
-- that is per (article, rule), which a later click replaces; and the stories muted for every
-- subscription. No foreign key to `articles`: retention purges old articles, but a rule's
-- measured precision and a mute must outlive them (as `delivered` rows do), so each vote
-- keeps the story and publication time it was given on.
CREATE TABLE feedback (
    article_key TEXT COLLATE "C" NOT NULL,
    rule_id TEXT COLLATE "C" NOT NULL,
    story_id TEXT COLLATE "C" NOT NULL,
    published_at TEXT COLLATE "C" NOT NULL,
    verdict TEXT COLLATE "C" NOT NULL CHECK (verdict IN ('relevant', 'not_relevant')),
    decided_at TEXT COLLATE "C" NOT NULL,
    decided_by TEXT COLLATE "C",
    PRIMARY KEY (article_key, rule_id)
);
CREATE INDEX feedback_rule ON feedback (rule_id, published_at);
CREATE INDEX feedback_decided ON feedback (decided_at);
CREATE TABLE muted_stories (
    story_id TEXT COLLATE "C" PRIMARY KEY,
    article_key TEXT COLLATE "C" NOT NULL,
    rule_id TEXT COLLATE "C",
    muted_at TEXT COLLATE "C" NOT NULL,
    muted_by TEXT COLLATE "C"
);
