-- WeChat Shop v1: images handed out by upload_img (kept in the database so
-- every node serves them), products (the body as created or updated, on
-- or off shelf, whether ever listed), their SKUs with stock (never below
-- zero), express templates, groups and shelves. Rows of the shop are
-- deleted softly (orders will keep naming them). SQLite dialect;
-- ../postgres/0010_shop.sql is the same with BIGINT/BIGSERIAL/BYTEA.
CREATE TABLE shop_images (
    id TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    content_type TEXT NOT NULL,
    content BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE shop_products (
    product_id TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    body TEXT NOT NULL,
    on_shelf INTEGER NOT NULL DEFAULT 0,
    ever_listed INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX shop_products_appid ON shop_products (appid, created_at);

CREATE TABLE shop_skus (
    product_id TEXT NOT NULL REFERENCES shop_products (product_id),
    sku_id TEXT NOT NULL,
    price INTEGER NOT NULL,
    ori_price INTEGER NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    icon_url TEXT NOT NULL,
    product_code TEXT NOT NULL,
    PRIMARY KEY (product_id, sku_id)
);

CREATE TABLE shop_express (
    id INTEGER PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    template TEXT NOT NULL,
    deleted_at INTEGER
);

CREATE TABLE shop_groups (
    id INTEGER PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    name TEXT NOT NULL,
    deleted_at INTEGER
);

CREATE TABLE shop_group_products (
    group_id INTEGER NOT NULL REFERENCES shop_groups (id),
    product_id TEXT NOT NULL REFERENCES shop_products (product_id),
    PRIMARY KEY (group_id, product_id)
);

CREATE TABLE shop_shelves (
    id INTEGER PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    name TEXT NOT NULL,
    banner TEXT NOT NULL,
    data TEXT NOT NULL,
    deleted_at INTEGER
);
