-- The near-duplicate index, second form: a MinHash signature per article and one key per
-- band (monitor/ingest/fingerprint.py owns the scheme; see docs/decisions.md, band index).
-- A lookup under the SimHash bands of 0004 read 0.84% of the window's articles (42,000 at
-- 5 million); unrelated articles almost never share a MinHash band key, so a lookup now
-- reads a handful of rows at any volume.
--
-- Articles stored before this step are not re-indexed: SQL cannot compute a MinHash, and
-- the 7-day story window means they stop being candidates within a week anyway. Until
-- then a copy of one of them starts a new story.
DROP TABLE fingerprint_bands;
-- `id` is an explicit INTEGER PRIMARY KEY so VACUUM never renumbers what band rows point
-- at. The row carries what the pick needs, so candidates are read without `articles`;
-- `band_keys` (the signed 32-bit keys, packed) lets retention delete the band rows by
-- their primary key instead of a second index on `sketch_id`.
CREATE TABLE story_sketches (
    id INTEGER PRIMARY KEY,
    article_key TEXT NOT NULL UNIQUE REFERENCES articles (key),
    story_id TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    signature BLOB NOT NULL,
    band_keys BLOB NOT NULL
);
-- One row per band of each sketch: 4-byte key and rowid, about 15 bytes on disk.
CREATE TABLE story_bands (
    key INTEGER NOT NULL,
    sketch_id INTEGER NOT NULL,
    PRIMARY KEY (key, sketch_id)
) WITHOUT ROWID;
