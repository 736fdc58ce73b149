-- Merchants get console users too (to manage their official accounts and
-- the third-party platforms they authorised): the role check widens and a
-- merchant user names its merchant. PostgreSQL changes the constraints in
-- place; ../sqlite/0008_merchant_console.sql rebuilds the table.
ALTER TABLE console_users DROP CONSTRAINT console_users_role_check;
ALTER TABLE console_users ADD COLUMN mchid TEXT REFERENCES merchants (mchid);
ALTER TABLE console_users ADD CONSTRAINT console_users_role_check CHECK (role IN ('operator', 'provider', 'merchant'));
ALTER TABLE console_users ADD CONSTRAINT console_users_merchant_check CHECK ((role = 'merchant') = (mchid IS NOT NULL));
