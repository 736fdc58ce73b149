-- Store pay codes and the discovery centre (issue 13). SQLite dialect;
-- ../postgres/0014_storepay_discovery.sql is the same with BIGINT.

-- A payment made at a store's pay code names the store: its poi_id (for
-- sales per store) and the scene_info.store_info it is presented with.
ALTER TABLE orders ADD COLUMN store_id TEXT;
ALTER TABLE orders ADD COLUMN store_info TEXT;
CREATE INDEX orders_store ON orders (mchid, store_id);

-- A store's fixed prices (fen, comma-separated; empty: any amount).
ALTER TABLE stores ADD COLUMN prices TEXT NOT NULL DEFAULT '';

-- Where a merchant's store payments are called back (TRANSACTION.SUCCESS).
CREATE TABLE store_pay_settings (
    mchid TEXT PRIMARY KEY REFERENCES merchants (mchid),
    notify_url TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The discovery centre's configuration (ranking formula and featured
-- slots), one row per version: never updated, every change recorded.
CREATE TABLE discovery_versions (
    version INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Impressions, counted per business day, account and slot kind, with the
-- account's provider as it was when shown.
CREATE TABLE discovery_impressions (
    day TEXT NOT NULL,
    appid TEXT NOT NULL,
    featured INTEGER NOT NULL,
    provider TEXT NOT NULL,
    provider_kind TEXT NOT NULL,
    shown INTEGER NOT NULL,
    PRIMARY KEY (day, appid, featured, provider)
);

-- A click: the signed click id of one entry in one rendering of the
-- directory, written once however often its link is followed.
CREATE TABLE discovery_clicks (
    click_id TEXT PRIMARY KEY,
    consumer TEXT,
    appid TEXT NOT NULL,
    featured INTEGER NOT NULL,
    position INTEGER NOT NULL,
    version INTEGER NOT NULL,
    provider TEXT NOT NULL,
    provider_kind TEXT NOT NULL,
    day TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX discovery_clicks_consumer ON discovery_clicks (consumer, appid, created_at);

-- What a click led to: a follow (reference: the click id, so one per
-- click) or an order (reference: the order, so each is attributed once).
CREATE TABLE discovery_conversions (
    kind TEXT NOT NULL CHECK (kind IN ('follow', 'order')),
    reference TEXT NOT NULL,
    click_id TEXT NOT NULL REFERENCES discovery_clicks (click_id),
    appid TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    day TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, reference)
);
CREATE INDEX discovery_conversions_click ON discovery_conversions (click_id);
