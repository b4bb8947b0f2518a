-- Permanent redirects and RSS ttl on the feed state; windows a failing feed may have missed.
ALTER TABLE feed_state ADD COLUMN moved_from TEXT;
ALTER TABLE feed_state ADD COLUMN moved_to TEXT;
ALTER TABLE feed_state ADD COLUMN ttl_s INTEGER;
CREATE TABLE coverage_gaps (
    feed_id TEXT NOT NULL, gap_from TEXT NOT NULL, gap_to TEXT NOT NULL,
    recorded_at TEXT NOT NULL, PRIMARY KEY (feed_id, gap_from)
);
CREATE INDEX articles_feed_published ON articles (feed_id, published_at);
