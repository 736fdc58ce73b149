-- The e-commerce rules: accounts gain the facts only they carry (service
-- or subscription account, verified or not; accounts made before this
-- count as verified service accounts), violations recorded against an
-- account, published rule sets (versioned, never edited), each account's
-- current capabilities with their explanation (a cache the events that
-- change facts refresh), and the log of every change of a capability.
-- PostgreSQL dialect; ../sqlite/0009_eligibility.sql uses INTEGER.
ALTER TABLE mp_accounts ADD COLUMN service_type TEXT NOT NULL DEFAULT 'service'
    CHECK (service_type IN ('service', 'subscription'));
ALTER TABLE mp_accounts ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;
UPDATE mp_accounts SET verified = 1;

CREATE TABLE violations (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    reason TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_by TEXT,
    closed_at BIGINT
);
CREATE INDEX violations_open ON violations (appid, closed_at);

CREATE TABLE rule_sets (
    version BIGINT PRIMARY KEY,
    document TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at BIGINT NOT NULL
);

CREATE TABLE account_capabilities (
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    capability TEXT NOT NULL,
    granted BIGINT NOT NULL,
    unmet TEXT NOT NULL,
    rule_version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (appid, capability)
);

CREATE TABLE capability_log (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL,
    capability TEXT NOT NULL,
    granted BIGINT NOT NULL,
    cause TEXT NOT NULL,
    unmet TEXT NOT NULL,
    rule_version BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX capability_log_appid ON capability_log (appid, id);
