-- Request nonces seen in the last ten minutes, shared by every node, so a
-- replayed request is refused whichever node it reaches. UNLOGGED: they are
-- worth nothing after ten minutes and need no crash safety or replication.
CREATE UNLOGGED TABLE request_nonces (
    mchid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    forget_at BIGINT NOT NULL,
    PRIMARY KEY (mchid, nonce)
);
CREATE INDEX request_nonces_forget_at ON request_nonces (forget_at);
