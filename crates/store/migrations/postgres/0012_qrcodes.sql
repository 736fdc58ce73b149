-- Parametric QR codes (WeChat shop notes §6): a ticket per code, its scene
-- (an id or a string), temporary codes expiring on the business clock,
-- permanent codes unique per scene (asking again returns the same ticket).
-- PostgreSQL dialect; ../sqlite/0012_qrcodes.sql is the same with INTEGER.
CREATE TABLE mp_qrcodes (
    ticket TEXT PRIMARY KEY,
    appid TEXT NOT NULL REFERENCES mp_accounts (appid),
    action_name TEXT NOT NULL,
    scene TEXT NOT NULL,
    permanent BIGINT NOT NULL,
    url TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX mp_qrcodes_permanent ON mp_qrcodes (appid, action_name, scene) WHERE permanent = 1;
CREATE INDEX mp_qrcodes_appid ON mp_qrcodes (appid, permanent);
