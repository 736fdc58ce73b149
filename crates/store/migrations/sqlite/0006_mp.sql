-- Official accounts: an app with its secret, server settings and IP
-- allow-list; access tokens (superseded, not deleted); daily call counts
-- per API; custom menus (default and conditional). SQLite dialect;
-- ../postgres/0006_mp.sql is the same with BIGINT/BIGSERIAL types.
CREATE TABLE mp_accounts (
    appid TEXT PRIMARY KEY REFERENCES apps (appid),
    owner_mchid TEXT NOT NULL REFERENCES merchants (mchid),
    original_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    token TEXT NOT NULL,
    encoding_aes_key TEXT NOT NULL,
    server_url TEXT,
    message_mode TEXT NOT NULL DEFAULT 'plain' CHECK (message_mode IN ('plain', 'compatible', 'safe')),
    ip_allowlist TEXT NOT NULL DEFAULT '',
    next_menuid INTEGER NOT NULL DEFAULT 100,
    created_at INTEGER NOT NULL
);

CREATE TABLE mp_tokens (
    token TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    pool TEXT NOT NULL CHECK (pool IN ('token', 'stable')),
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    superseded_at INTEGER
);
CREATE INDEX mp_tokens_appid ON mp_tokens (appid, pool, issued_at);

CREATE TABLE mp_quota (
    appid TEXT NOT NULL,
    api TEXT NOT NULL,
    day TEXT NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (appid, api, day)
);

CREATE TABLE mp_menus (
    id INTEGER PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    menuid INTEGER NOT NULL,
    conditional INTEGER NOT NULL,
    buttons TEXT NOT NULL,
    matchrule TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (appid, menuid)
);
CREATE INDEX mp_menus_appid ON mp_menus (appid, conditional, id);

-- Pushes to an account's server travel the same outbox as payment
-- callbacks: the channel says how to deliver, the reply is what the
-- developer's server answered (its passive reply, parsed).
ALTER TABLE notifications ADD COLUMN channel TEXT NOT NULL DEFAULT 'v3';
ALTER TABLE notifications ADD COLUMN appid TEXT;
ALTER TABLE notifications ADD COLUMN reply TEXT;

-- Web OAuth: codes (single use, five minutes) and user tokens.
CREATE TABLE mp_oauth_codes (
    code TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    openid TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE mp_user_tokens (
    access_token TEXT PRIMARY KEY,
    refresh_token TEXT NOT NULL,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    openid TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    refresh_expires_at INTEGER NOT NULL
);
CREATE INDEX mp_user_tokens_refresh ON mp_user_tokens (refresh_token);

-- Consumers on an account's page: who follows, and what they sent (with
-- the push that carried it, whose reply the page shows).
CREATE TABLE mp_followers (
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    openid TEXT NOT NULL,
    following INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (appid, openid)
);

CREATE TABLE mp_messages (
    id INTEGER PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    openid TEXT NOT NULL,
    summary TEXT NOT NULL,
    notification_id INTEGER REFERENCES notifications (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX mp_messages_chat ON mp_messages (appid, openid, id);
