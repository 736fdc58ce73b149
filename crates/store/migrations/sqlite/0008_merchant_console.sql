-- Merchants get console users too (to manage their official accounts and
-- the third-party platforms they authorised): the role check widens and a
-- merchant user names its merchant. SQLite cannot change a CHECK in place,
-- so the table is rebuilt; open console sessions end (everyone signs in
-- again). ../postgres/0008_merchant_console.sql alters the constraints.
DELETE FROM console_sessions;
CREATE TABLE console_users_new (
    login TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'provider', 'merchant')),
    sp_mchid TEXT REFERENCES providers (sp_mchid),
    mchid TEXT REFERENCES merchants (mchid),
    created_at INTEGER NOT NULL,
    CHECK ((role = 'provider') = (sp_mchid IS NOT NULL)),
    CHECK ((role = 'merchant') = (mchid IS NOT NULL))
);
INSERT INTO console_users_new (login, password_hash, role, sp_mchid, mchid, created_at)
    SELECT login, password_hash, role, sp_mchid, NULL, created_at FROM console_users;
DROP TABLE console_users;
ALTER TABLE console_users_new RENAME TO console_users;
