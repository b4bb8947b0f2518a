-- The last rule set that validated, file by file (path relative to the rules folder), so a
-- daemon whose rules/ is broken at start runs on it instead of not starting at all.
CREATE TABLE rules_snapshot (
    path TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
