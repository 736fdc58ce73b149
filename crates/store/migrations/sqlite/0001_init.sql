-- Koudai schema, SQLite dialect. Keep in step with ../postgres/0001_init.sql:
-- the same tables, columns and constraints; only types and id generation differ.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE platform_keys (
    id INTEGER PRIMARY KEY,
    private_key_pem TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    certificate_serial TEXT NOT NULL,
    public_key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE merchants (
    mchid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_mode TEXT NOT NULL CHECK (key_mode IN ('certificate', 'public_key')),
    apiv3_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE merchant_certificates (
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    serial_no TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    not_after INTEGER NOT NULL,
    PRIMARY KEY (mchid, serial_no)
);

CREATE TABLE apps (
    appid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE app_merchants (
    appid TEXT NOT NULL REFERENCES apps (appid),
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    PRIMARY KEY (appid, mchid)
);
CREATE INDEX app_merchants_mchid ON app_merchants (mchid);

CREATE TABLE consumers (
    login TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE openids (
    openid TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES apps (appid),
    login TEXT NOT NULL REFERENCES consumers (login),
    UNIQUE (login, appid)
);
CREATE INDEX openids_appid ON openids (appid);

CREATE TABLE consumer_sessions (
    token TEXT PRIMARY KEY,
    login TEXT NOT NULL REFERENCES consumers (login),
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX consumer_sessions_login ON consumer_sessions (login);

CREATE TABLE ledger_accounts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    balance_fen INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, owner)
);

CREATE TABLE journal_entries (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX journal_entries_reference ON journal_entries (reference);

CREATE TABLE postings (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES journal_entries (id),
    account_id INTEGER NOT NULL REFERENCES ledger_accounts (id),
    amount_fen INTEGER NOT NULL CHECK (amount_fen <> 0)
);
CREATE INDEX postings_entry_id ON postings (entry_id);
CREATE INDEX postings_account_id ON postings (account_id);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    appid TEXT NOT NULL REFERENCES apps (appid),
    out_trade_no TEXT NOT NULL,
    trade_type TEXT NOT NULL,
    description TEXT NOT NULL,
    attach TEXT,
    notify_url TEXT NOT NULL,
    total_fen INTEGER NOT NULL CHECK (total_fen > 0),
    payer_openid TEXT,
    device_id TEXT,
    params_digest TEXT NOT NULL,
    time_expire INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    trade_state TEXT NOT NULL,
    transaction_id TEXT UNIQUE,
    success_time INTEGER,
    payer_login TEXT REFERENCES consumers (login),
    prepay_id TEXT NOT NULL UNIQUE,
    prepay_expires_at INTEGER NOT NULL,
    pay_token TEXT NOT NULL UNIQUE,
    UNIQUE (mchid, out_trade_no)
);
CREATE INDEX orders_appid ON orders (appid);
CREATE INDEX orders_payer_login ON orders (payer_login);
CREATE INDEX orders_unpaid_expiry ON orders (trade_state, time_expire);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    reference TEXT NOT NULL,
    event_type TEXT NOT NULL,
    notify_url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_reference ON notifications (mchid, reference);

CREATE TABLE notification_attempts (
    id INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    attempt_no INTEGER NOT NULL,
    attempted_at INTEGER NOT NULL,
    http_status INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    UNIQUE (notification_id, attempt_no)
);
