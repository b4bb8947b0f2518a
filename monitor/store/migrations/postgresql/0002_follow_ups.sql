-- PostgreSQL twin of the SQLite migration 0008_follow_ups (text compared byte by byte).
-- The follow-up ledger: per subscription and story, what its last sending covered (the
-- first alert or digest, then each "story developing" update), so that the next follow-up
-- needs as much growth again. `outlets` and `actors` are JSON lists of feed and actor ids.
CREATE TABLE IF NOT EXISTS story_coverage (
    subscription_id TEXT COLLATE "C" NOT NULL,
    story_id TEXT COLLATE "C" NOT NULL,
    outlets TEXT COLLATE "C" NOT NULL,
    actors TEXT COLLATE "C" NOT NULL,
    sent_at TEXT COLLATE "C" NOT NULL,
    follow_ups INTEGER NOT NULL DEFAULT 0,
    delivery_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (subscription_id, story_id)
);
CREATE INDEX IF NOT EXISTS story_coverage_sent ON story_coverage (subscription_id, sent_at);
-- A story's copies, read for every follow-up check and every sending.
CREATE INDEX IF NOT EXISTS articles_story_id ON articles (story_id);
