-- Money: fees, deposits, refunds, settlement, payouts, bills. SQLite dialect;
-- ../postgres/0002_money.sql is the same with BIGINT/BIGSERIAL types.
ALTER TABLE merchants ADD COLUMN fee_rule TEXT NOT NULL DEFAULT 'general';
ALTER TABLE merchants ADD COLUMN bank_account TEXT;

CREATE TABLE fee_schedules (
    version TEXT PRIMARY KEY,
    effective_from INTEGER NOT NULL,
    body TEXT NOT NULL,
    loaded_at INTEGER NOT NULL
);

ALTER TABLE orders ADD COLUMN fee_rule TEXT;
ALTER TABLE orders ADD COLUMN fee_rate_ppm INTEGER;
ALTER TABLE orders ADD COLUMN fee_fen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refunded_fen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN fee_refunded_fen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refund_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN pending_fen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN settles_on TEXT;
ALTER TABLE orders ADD COLUMN settled_on TEXT;
CREATE INDEX orders_settlement ON orders (mchid, settled_on, settles_on);
CREATE INDEX orders_success_time ON orders (mchid, success_time);

ALTER TABLE journal_entries ADD COLUMN voucher TEXT;
ALTER TABLE postings ADD COLUMN balance_after_fen INTEGER;

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    out_refund_no TEXT NOT NULL,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    reason TEXT,
    notify_url TEXT NOT NULL,
    refund_fen INTEGER NOT NULL CHECK (refund_fen > 0),
    fee_refund_fen INTEGER NOT NULL CHECK (fee_refund_fen >= 0),
    funds_account TEXT NOT NULL CHECK (funds_account IN ('UNSETTLED', 'AVAILABLE')),
    status TEXT NOT NULL CHECK (status IN ('PROCESSING', 'SUCCESS', 'CLOSED', 'ABNORMAL')),
    params_digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    success_time INTEGER,
    closed_at INTEGER,
    UNIQUE (mchid, out_refund_no)
);
CREATE INDEX refunds_order_id ON refunds (order_id);
CREATE INDEX refunds_due ON refunds (status, due_at);
CREATE INDEX refunds_created ON refunds (mchid, created_at);

CREATE TABLE settlements (
    id INTEGER PRIMARY KEY,
    voucher TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    settle_date TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    order_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX settlements_mchid ON settlements (mchid, settle_date);

CREATE TABLE payouts (
    id INTEGER PRIMARY KEY,
    payout_no TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    payout_date TEXT NOT NULL,
    bank_account TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL CHECK (status IN ('SENT', 'CONFIRMED')),
    created_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    UNIQUE (mchid, payout_date)
);

CREATE TABLE bills (
    id INTEGER PRIMARY KEY,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    bill_kind TEXT NOT NULL CHECK (bill_kind IN ('trade', 'fundflow')),
    bill_date TEXT NOT NULL,
    bill_type TEXT NOT NULL,
    content TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (mchid, bill_kind, bill_date, bill_type)
);

CREATE TABLE bill_downloads (
    token TEXT PRIMARY KEY,
    bill_id INTEGER NOT NULL REFERENCES bills (id),
    mchid TEXT NOT NULL,
    gzip INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
