-- Request nonces seen in the last ten minutes (used on PostgreSQL, where
-- several nodes share them; one SQLite process keeps them in memory). The
-- table exists on both engines so the schemas stay alike.
CREATE TABLE request_nonces (
    mchid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    forget_at INTEGER NOT NULL,
    PRIMARY KEY (mchid, nonce)
);
CREATE INDEX request_nonces_forget_at ON request_nonces (forget_at);
