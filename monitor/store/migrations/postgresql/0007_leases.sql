-- Work shared by several daemons on one database (store/leases.py, docs/operations.md,
-- several daemons): a row lease is an owner (the daemon id) and the ISO-8601 time it
-- lapses; a lease that has lapsed is free. SQLite has one daemon per file and no leases.
CREATE TABLE feed_leases (
    feed_id TEXT COLLATE "C" PRIMARY KEY, lease_owner TEXT COLLATE "C",
    lease_until TEXT COLLATE "C"
);
ALTER TABLE articles ADD COLUMN lease_owner TEXT COLLATE "C";
ALTER TABLE articles ADD COLUMN lease_until TEXT COLLATE "C";
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT COLLATE "C";
ALTER TABLE deliveries ADD COLUMN lease_until TEXT COLLATE "C";
-- One subscription's composing (immediate alerts, follow-ups, spikes): one daemon at a time.
CREATE TABLE subscription_leases (
    subscription_id TEXT COLLATE "C" PRIMARY KEY, lease_owner TEXT COLLATE "C",
    lease_until TEXT COLLATE "C"
);
-- One row per (subscription, schedule slot): the daemon that inserts it composes the
-- digest; `done_at` once it is in the outbox, and a lapsed lease lets another take it.
CREATE TABLE digest_slots (
    subscription_id TEXT COLLATE "C" NOT NULL, slot_at TEXT COLLATE "C" NOT NULL,
    lease_owner TEXT COLLATE "C", lease_until TEXT COLLATE "C", done_at TEXT COLLATE "C",
    PRIMARY KEY (subscription_id, slot_at)
);
CREATE INDEX articles_leased ON articles (lease_owner)
    WHERE matched_at IS NULL AND quarantined_at IS NULL;
CREATE INDEX deliveries_leased ON deliveries (lease_owner) WHERE status = 'pending';
