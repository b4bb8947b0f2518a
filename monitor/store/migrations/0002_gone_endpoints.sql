-- Webhook endpoints that answered 410 Gone: nothing more is sent to them.
CREATE TABLE gone_endpoints (
    url_sha256 TEXT PRIMARY KEY, display TEXT NOT NULL, gone_at TEXT NOT NULL,
    error TEXT NOT NULL
);
