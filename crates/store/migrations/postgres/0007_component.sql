-- The third-party platform: a provider's component (its own appid, secret,
-- Token and EncodingAESKey, and the URL its verify tickets and
-- authorisation events go to); tickets, component tokens, pre-auth and
-- auth codes; authorisations of accounts (the granted permission sets and
-- the refresh token) and authorizer tokens. PostgreSQL dialect;
-- ../sqlite/0007_component.sql is the same with INTEGER types.
CREATE TABLE components (
    component_appid TEXT PRIMARY KEY,
    provider_mchid TEXT NOT NULL UNIQUE REFERENCES merchants (mchid),
    secret TEXT NOT NULL,
    token TEXT NOT NULL,
    encoding_aes_key TEXT NOT NULL,
    event_url TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE component_tickets (
    ticket TEXT PRIMARY KEY,
    component_appid TEXT NOT NULL REFERENCES components (component_appid),
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX component_tickets_latest ON component_tickets (component_appid, issued_at);

CREATE TABLE component_tokens (
    token TEXT PRIMARY KEY,
    component_appid TEXT NOT NULL REFERENCES components (component_appid),
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Pre-auth codes (single use, carry the redirect once the page saw it) and
-- auth codes (usable until they expire: the redirect and the push both
-- carry the same one).
CREATE TABLE component_codes (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('pre_auth', 'auth')),
    component_appid TEXT NOT NULL REFERENCES components (component_appid),
    authorizer_appid TEXT,
    redirect_uri TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE authorizations (
    component_appid TEXT NOT NULL REFERENCES components (component_appid),
    authorizer_appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    func_ids TEXT NOT NULL,
    refresh_token TEXT NOT NULL UNIQUE,
    options TEXT NOT NULL DEFAULT '{}',
    authorized_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (component_appid, authorizer_appid)
);
CREATE INDEX authorizations_account ON authorizations (authorizer_appid);

CREATE TABLE authorizer_tokens (
    token TEXT PRIMARY KEY,
    component_appid TEXT NOT NULL REFERENCES components (component_appid),
    authorizer_appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    superseded_at BIGINT
);
CREATE INDEX authorizer_tokens_pair ON authorizer_tokens (component_appid, authorizer_appid, issued_at);

-- Web OAuth on behalf of an account: the component that asked.
ALTER TABLE mp_oauth_codes ADD COLUMN component_appid TEXT;
ALTER TABLE mp_user_tokens ADD COLUMN component_appid TEXT;
