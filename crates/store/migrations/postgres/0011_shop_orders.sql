-- Shop orders (WeChat Shop §2.5, §3.2): each is paid by one JSAPI payment
-- order of the account's owner (out_trade_no). Status 1 is ours: the stock
-- is reserved and the payment not made yet (never shown to the API); 2
-- paid, 3 shipped, 5 finished, 8 rights case, 6 closed. The payment and
-- the move to 2 happen in one transaction. PostgreSQL dialect;
-- ../sqlite/0011_shop_orders.sql is the same with INTEGER.
CREATE TABLE shop_orders (
    order_id TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    consumer TEXT NOT NULL,
    openid TEXT NOT NULL,
    product_id TEXT NOT NULL REFERENCES shop_products (product_id),
    product_name TEXT NOT NULL,
    product_img TEXT NOT NULL,
    sku_info TEXT NOT NULL,
    product_count BIGINT NOT NULL CHECK (product_count > 0),
    product_price BIGINT NOT NULL,
    express_price BIGINT NOT NULL,
    total_price BIGINT NOT NULL,
    status BIGINT NOT NULL CHECK (status IN (1, 2, 3, 5, 6, 8)),
    status_before_rights BIGINT,
    out_trade_no TEXT NOT NULL UNIQUE,
    transaction_id TEXT,
    receiver_name TEXT NOT NULL,
    receiver_province TEXT NOT NULL,
    receiver_city TEXT NOT NULL,
    receiver_zone TEXT NOT NULL,
    receiver_address TEXT NOT NULL,
    receiver_mobile TEXT NOT NULL,
    delivery_company TEXT NOT NULL DEFAULT '',
    delivery_id TEXT NOT NULL DEFAULT '',
    rights_reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    paid_at BIGINT,
    shipped_at BIGINT,
    finished_at BIGINT,
    closed_at BIGINT
);
CREATE INDEX shop_orders_appid ON shop_orders (appid, created_at);
CREATE INDEX shop_orders_consumer ON shop_orders (consumer, created_at);
CREATE INDEX shop_orders_status ON shop_orders (status, created_at);
