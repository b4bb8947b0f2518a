-- The follow-up ledger: per subscription and story, what its last sending covered (the
-- first alert or digest, then each "story developing" update), so that the next follow-up
-- needs as much growth again. `outlets` and `actors` are JSON lists of feed and actor ids.
CREATE TABLE IF NOT EXISTS story_coverage (
    subscription_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    outlets TEXT NOT NULL,
    actors TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    follow_ups INTEGER NOT NULL DEFAULT 0,
    delivery_id TEXT NOT NULL,
    PRIMARY KEY (subscription_id, story_id)
);
CREATE INDEX IF NOT EXISTS story_coverage_sent ON story_coverage (subscription_id, sent_at);
-- A story's copies, read for every follow-up check and every sending.
CREATE INDEX IF NOT EXISTS articles_story_id ON articles (story_id);
