-- Stores (POI, shop notes §5): each store's base_info as last approved or
-- as created (JSON), its audit state (2 under audit, 3 approved, 4
-- rejected), a pending update awaiting review, and the reason of the last
-- decision. SQLite dialect; ../postgres/0013_stores.sql is the same with
-- BIGINT.
CREATE TABLE stores (
    poi_id TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    sid TEXT NOT NULL,
    base_info TEXT NOT NULL,
    available_state INTEGER NOT NULL CHECK (available_state IN (2, 3, 4)),
    pending TEXT,
    reason TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX stores_appid ON stores (appid, created_at);
CREATE INDEX stores_state ON stores (available_state, created_at);
