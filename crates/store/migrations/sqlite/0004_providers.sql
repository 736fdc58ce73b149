-- Service providers and partner mode: providers and their sub-merchants,
-- privileges granted and revoked (append-only), refusals, console users,
-- partner orders and refunds, profit sharing. SQLite dialect;
-- ../postgres/0004_providers.sql is the same with BIGINT/BIGSERIAL types.
CREATE TABLE providers (
    sp_mchid TEXT PRIMARY KEY REFERENCES merchants (mchid),
    kind TEXT NOT NULL CHECK (kind IN ('official', 'third_party')),
    sp_appid TEXT NOT NULL REFERENCES apps (appid),
    created_at INTEGER NOT NULL
);

-- A sub-merchant is a merchant whose sp_mchid names its provider.
ALTER TABLE merchants ADD COLUMN sp_mchid TEXT REFERENCES providers (sp_mchid);
-- Profit sharing: the largest share of an order, in ten-thousandths.
ALTER TABLE merchants ADD COLUMN max_ratio INTEGER NOT NULL DEFAULT 3000;
-- Where this merchant hears of shares it receives as a MERCHANT_ID receiver.
ALTER TABLE merchants ADD COLUMN service_notify_url TEXT;
CREATE INDEX merchants_sp_mchid ON merchants (sp_mchid);

CREATE TABLE privilege_events (
    id INTEGER PRIMARY KEY,
    sp_mchid TEXT NOT NULL REFERENCES providers (sp_mchid),
    privilege TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('grant', 'revoke')),
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX privilege_events_provider ON privilege_events (sp_mchid, privilege, id);

CREATE TABLE refusals (
    id INTEGER PRIMARY KEY,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX refusals_principal ON refusals (principal, id);

CREATE TABLE console_users (
    login TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'provider')),
    sp_mchid TEXT REFERENCES providers (sp_mchid),
    created_at INTEGER NOT NULL,
    CHECK ((role = 'provider') = (sp_mchid IS NOT NULL))
);

CREATE TABLE console_sessions (
    token TEXT PRIMARY KEY,
    login TEXT NOT NULL REFERENCES console_users (login),
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_login ON console_sessions (login);

ALTER TABLE orders ADD COLUMN sp_mchid TEXT;
ALTER TABLE orders ADD COLUMN sub_appid TEXT;
ALTER TABLE orders ADD COLUMN payer_sub_openid TEXT;
ALTER TABLE orders ADD COLUMN profit_sharing INTEGER NOT NULL DEFAULT 0;
-- Set while a profit-sharing order's funds are frozen: when they unfreeze
-- by themselves (business time).
ALTER TABLE orders ADD COLUMN frozen_until INTEGER;
ALTER TABLE orders ADD COLUMN shared_fen INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_sp_mchid ON orders (sp_mchid, success_time);
CREATE INDEX orders_frozen ON orders (frozen_until);

ALTER TABLE refunds ADD COLUMN sp_mchid TEXT;

CREATE TABLE sharing_receivers (
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    receiver_type TEXT NOT NULL,
    account TEXT NOT NULL,
    appid TEXT NOT NULL,
    name TEXT,
    relation_type TEXT NOT NULL,
    custom_relation TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (mchid, receiver_type, account)
);

CREATE TABLE sharing_orders (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    sp_mchid TEXT,
    payment_id INTEGER NOT NULL REFERENCES orders (id),
    out_order_no TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('share', 'unfreeze')),
    state TEXT NOT NULL CHECK (state IN ('PROCESSING', 'FINISHED')),
    unfreeze_unsplit INTEGER NOT NULL,
    params_digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (mchid, out_order_no)
);
CREATE INDEX sharing_orders_due ON sharing_orders (state, due_at);
CREATE INDEX sharing_orders_payment ON sharing_orders (payment_id);

CREATE TABLE sharing_results (
    id INTEGER PRIMARY KEY,
    sharing_order_id INTEGER NOT NULL REFERENCES sharing_orders (id),
    detail_id TEXT NOT NULL UNIQUE,
    receiver_type TEXT NOT NULL,
    account TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    description TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('PENDING', 'SUCCESS', 'CLOSED')),
    fail_reason TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX sharing_results_order ON sharing_results (sharing_order_id);

CREATE TABLE sharing_returns (
    id INTEGER PRIMARY KEY,
    return_id TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    sp_mchid TEXT,
    sharing_order_id INTEGER NOT NULL REFERENCES sharing_orders (id),
    out_return_no TEXT NOT NULL,
    return_mchid TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    description TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('PROCESSING', 'SUCCESS', 'FAILED')),
    fail_reason TEXT,
    params_digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (mchid, out_return_no)
);
CREATE INDEX sharing_returns_due ON sharing_returns (result, due_at);
