-- Failed analysis attempts per article; after too many the article is quarantined:
-- never picked up again, counted by `monitor status`.
ALTER TABLE articles ADD COLUMN analysis_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE articles ADD COLUMN last_analysis_error TEXT;
ALTER TABLE articles ADD COLUMN quarantined_at TEXT;
DROP INDEX articles_unmatched;
CREATE INDEX articles_pending ON articles (stored_at)
    WHERE matched_at IS NULL AND quarantined_at IS NULL;
