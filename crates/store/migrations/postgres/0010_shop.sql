-- WeChat Shop v1: images handed out by upload_img (kept in the database so
-- every node serves them), products (the body as created or updated, on
-- or off shelf, whether ever listed), their SKUs with stock (never below
-- zero), express templates, groups and shelves. Rows of the shop are
-- deleted softly (orders will keep naming them). PostgreSQL dialect;
-- ../sqlite/0010_shop.sql is the same with INTEGER/BLOB.
CREATE TABLE shop_images (
    id TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    content_type TEXT NOT NULL,
    content BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE shop_products (
    product_id TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    body TEXT NOT NULL,
    on_shelf BIGINT NOT NULL DEFAULT 0,
    ever_listed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX shop_products_appid ON shop_products (appid, created_at);

CREATE TABLE shop_skus (
    product_id TEXT NOT NULL REFERENCES shop_products (product_id),
    sku_id TEXT NOT NULL,
    price BIGINT NOT NULL,
    ori_price BIGINT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    icon_url TEXT NOT NULL,
    product_code TEXT NOT NULL,
    PRIMARY KEY (product_id, sku_id)
);

CREATE TABLE shop_express (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    template TEXT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE shop_groups (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    name TEXT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE shop_group_products (
    group_id BIGINT NOT NULL REFERENCES shop_groups (id),
    product_id TEXT NOT NULL REFERENCES shop_products (product_id),
    PRIMARY KEY (group_id, product_id)
);

CREATE TABLE shop_shelves (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    name TEXT NOT NULL,
    banner TEXT NOT NULL,
    data TEXT NOT NULL,
    deleted_at BIGINT
);
