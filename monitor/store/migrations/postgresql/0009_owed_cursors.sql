-- PostgreSQL twin of the SQLite migration 0013_owed_cursors: each match records the id of
-- the transaction that saved it (pg_current_xact_id, which never wraps), and a subscription
-- keeps the oldest transaction that was still running when it last looked
-- (pg_snapshot_xmin): every match below it was committed and read, every match at or above
-- it is read at the next pass. Exact with several daemons writing at once, no clock
-- involved.
ALTER TABLE matches ADD COLUMN recorded_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX matches_recorded ON matches (recorded_seq);
CREATE TABLE owed_cursors (
    subscription_id TEXT COLLATE "C" NOT NULL, kind TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL, PRIMARY KEY (subscription_id, kind)
);
