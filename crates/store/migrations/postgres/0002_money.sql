-- Money: fees, deposits, refunds, settlement, payouts, bills. PostgreSQL dialect;
-- ../sqlite/0002_money.sql is the same with INTEGER types.
ALTER TABLE merchants ADD COLUMN fee_rule TEXT NOT NULL DEFAULT 'general';
ALTER TABLE merchants ADD COLUMN bank_account TEXT;

CREATE TABLE fee_schedules (
    version TEXT PRIMARY KEY,
    effective_from BIGINT NOT NULL,
    body TEXT NOT NULL,
    loaded_at BIGINT NOT NULL
);

ALTER TABLE orders ADD COLUMN fee_rule TEXT;
ALTER TABLE orders ADD COLUMN fee_rate_ppm BIGINT;
ALTER TABLE orders ADD COLUMN fee_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refunded_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN fee_refunded_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refund_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN pending_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN settles_on TEXT;
ALTER TABLE orders ADD COLUMN settled_on TEXT;
CREATE INDEX orders_settlement ON orders (mchid, settled_on, settles_on);
CREATE INDEX orders_success_time ON orders (mchid, success_time);

ALTER TABLE journal_entries ADD COLUMN voucher TEXT;
ALTER TABLE postings ADD COLUMN balance_after_fen BIGINT;

CREATE TABLE refunds (
    id BIGSERIAL PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    out_refund_no TEXT NOT NULL,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    reason TEXT,
    notify_url TEXT NOT NULL,
    refund_fen BIGINT NOT NULL CHECK (refund_fen > 0),
    fee_refund_fen BIGINT NOT NULL CHECK (fee_refund_fen >= 0),
    funds_account TEXT NOT NULL CHECK (funds_account IN ('UNSETTLED', 'AVAILABLE')),
    status TEXT NOT NULL CHECK (status IN ('PROCESSING', 'SUCCESS', 'CLOSED', 'ABNORMAL')),
    params_digest TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    success_time BIGINT,
    closed_at BIGINT,
    UNIQUE (mchid, out_refund_no)
);
CREATE INDEX refunds_order_id ON refunds (order_id);
CREATE INDEX refunds_due ON refunds (status, due_at);
CREATE INDEX refunds_created ON refunds (mchid, created_at);

CREATE TABLE settlements (
    id BIGSERIAL PRIMARY KEY,
    voucher TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    settle_date TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    order_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX settlements_mchid ON settlements (mchid, settle_date);

CREATE TABLE payouts (
    id BIGSERIAL PRIMARY KEY,
    payout_no TEXT NOT NULL UNIQUE,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    payout_date TEXT NOT NULL,
    bank_account TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL CHECK (status IN ('SENT', 'CONFIRMED')),
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    UNIQUE (mchid, payout_date)
);

CREATE TABLE bills (
    id BIGSERIAL PRIMARY KEY,
    mchid TEXT NOT NULL REFERENCES merchants (mchid),
    bill_kind TEXT NOT NULL CHECK (bill_kind IN ('trade', 'fundflow')),
    bill_date TEXT NOT NULL,
    bill_type TEXT NOT NULL,
    content TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (mchid, bill_kind, bill_date, bill_type)
);

CREATE TABLE bill_downloads (
    token TEXT PRIMARY KEY,
    bill_id BIGINT NOT NULL REFERENCES bills (id),
    mchid TEXT NOT NULL,
    gzip BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
