-- How far each subscription has looked through the matches (pipeline/deliver.py): every
-- transaction that saves matches takes the next number of `match_counter` (SQLite has a
-- single writer, so numbers commit in order; deleted matches never give theirs back), its
-- matches record it, and each subscription keeps, per kind of sending (immediate, digest),
-- the number below which it has seen every match. What it is owed is read from there on, not
-- from the whole archive: a pass costs the matches since the last one, however large the
-- archive grows. Matches stored before this migration have 0: the first pass reads them all.
ALTER TABLE matches ADD COLUMN recorded_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX matches_recorded ON matches (recorded_seq);
CREATE TABLE match_counter (seq INTEGER NOT NULL);
INSERT INTO match_counter (seq) VALUES (0);
CREATE TABLE owed_cursors (
    subscription_id TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, kind)
);
