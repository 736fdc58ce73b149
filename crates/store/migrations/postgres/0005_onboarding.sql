-- Sub-merchant onboarding: uploaded media (content-addressed, owned by the
-- uploader), applications with their sensitive values sealed (envelope
-- encryption; the master key is never in the database), every transition,
-- and every reveal of a sensitive value. PostgreSQL dialect;
-- ../sqlite/0005_onboarding.sql is the same with INTEGER/BLOB.
CREATE TABLE media_blobs (
    sha256 TEXT PRIMARY KEY,
    content BYTEA NOT NULL
);

CREATE TABLE media (
    media_id TEXT PRIMARY KEY,
    owner_mchid TEXT NOT NULL REFERENCES merchants (mchid),
    sha256 TEXT NOT NULL REFERENCES media_blobs (sha256),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (owner_mchid, sha256)
);

CREATE TABLE applyments (
    id BIGSERIAL PRIMARY KEY,
    applyment_id BIGINT NOT NULL UNIQUE,
    sp_mchid TEXT NOT NULL REFERENCES merchants (mchid),
    business_code TEXT NOT NULL,
    state TEXT NOT NULL,
    audit_class TEXT NOT NULL CHECK (audit_class IN ('fast_track', 'normal')),
    merchant_name TEXT NOT NULL,
    merchant_shortname TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    license_number TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    qualification_type TEXT NOT NULL,
    account_digest TEXT NOT NULL,
    phone_digest TEXT NOT NULL,
    public_json TEXT NOT NULL,
    sealed TEXT NOT NULL,
    params_digest TEXT NOT NULL,
    audit_detail TEXT,
    sub_mchid TEXT REFERENCES merchants (mchid),
    sign_token TEXT UNIQUE,
    sign_code TEXT,
    submitted_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    decided_at BIGINT,
    signed_at BIGINT,
    finish_at BIGINT,
    finished_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (sp_mchid, business_code)
);
CREATE INDEX applyments_queue ON applyments (state, audit_class, deadline_at);
CREATE INDEX applyments_license ON applyments (license_number);
CREATE INDEX applyments_account ON applyments (account_digest);

CREATE TABLE applyment_events (
    id BIGSERIAL PRIMARY KEY,
    applyment_row BIGINT NOT NULL REFERENCES applyments (id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX applyment_events_row ON applyment_events (applyment_row, id);

CREATE TABLE applyment_reveals (
    id BIGSERIAL PRIMARY KEY,
    applyment_row BIGINT NOT NULL REFERENCES applyments (id),
    actor TEXT NOT NULL,
    field TEXT NOT NULL,
    at BIGINT NOT NULL
);
