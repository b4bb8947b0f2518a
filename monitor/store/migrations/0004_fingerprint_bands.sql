-- The near-duplicate index: each article under one key per 16-bit band of its fingerprint
-- (monitor/ingest/fingerprint.py owns the scheme; see docs/decisions.md, band index).
-- A lookup reads band keys instead of scanning recent fingerprints. The row also carries
-- what the pick needs (fingerprint, story, when stored), all fixed once the article is
-- stored, so a lookup is one index read with no join back to `articles`.
CREATE TABLE fingerprint_bands (
    band INTEGER NOT NULL, key INTEGER NOT NULL,
    article_key TEXT NOT NULL REFERENCES articles (key),
    fingerprint INTEGER NOT NULL, story_id TEXT NOT NULL, stored_at TEXT NOT NULL,
    PRIMARY KEY (band, key, article_key)
) WITHOUT ROWID;
-- Retention deletes band rows by article (and the foreign key check reads them so).
CREATE INDEX fingerprint_bands_article ON fingerprint_bands (article_key);
-- Index the articles already stored, so copies arriving after the upgrade still join them.
-- Fingerprints are stored as signed 64-bit integers; the mask makes each band unsigned.
WITH bands (band) AS (VALUES (0), (1), (2), (3))
INSERT INTO fingerprint_bands (band, key, article_key, fingerprint, story_id, stored_at)
SELECT bands.band, (articles.fingerprint >> (48 - 16 * bands.band)) & 65535, articles.key,
       articles.fingerprint, articles.story_id, articles.stored_at
FROM articles, bands
WHERE articles.fingerprint != 0;
