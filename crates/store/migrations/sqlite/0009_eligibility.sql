-- The e-commerce rules: accounts gain the facts only they carry (service
-- or subscription account, verified or not; accounts made before this
-- count as verified service accounts), violations recorded against an
-- account, published rule sets (versioned, never edited), each account's
-- current capabilities with their explanation (a cache the events that
-- change facts refresh), and the log of every change of a capability.
-- SQLite dialect; ../postgres/0009_eligibility.sql uses BIGINT/BIGSERIAL.
ALTER TABLE mp_accounts ADD COLUMN service_type TEXT NOT NULL DEFAULT 'service'
    CHECK (service_type IN ('service', 'subscription'));
ALTER TABLE mp_accounts ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
UPDATE mp_accounts SET verified = 1;

CREATE TABLE violations (
    id INTEGER PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    reason TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    closed_by TEXT,
    closed_at INTEGER
);
CREATE INDEX violations_open ON violations (appid, closed_at);

CREATE TABLE rule_sets (
    version INTEGER PRIMARY KEY,
    document TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at INTEGER NOT NULL
);

CREATE TABLE account_capabilities (
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    capability TEXT NOT NULL,
    granted INTEGER NOT NULL,
    unmet TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (appid, capability)
);

CREATE TABLE capability_log (
    id INTEGER PRIMARY KEY,
    appid TEXT NOT NULL,
    capability TEXT NOT NULL,
    granted INTEGER NOT NULL,
    cause TEXT NOT NULL,
    unmet TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX capability_log_appid ON capability_log (appid, id);
