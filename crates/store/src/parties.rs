//! The platform key, merchants and their certificates, apps, consumers,
//! openids and consumer sessions.

use koudai_domain::Secret;

use crate::{Store, StoreError, WriteTx};

/// The platform's signing key and its two identities.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlatformKeyRecord {
    #[sqlx(try_from = "String")]
    pub private_key_pem: Secret<String>,
    pub certificate_pem: String,
    /// Upper-case hex.
    pub certificate_serial: String,
    pub public_key_id: String,
    pub created_at: i64,
}

koudai_domain::text_enum! {
    /// How the platform signs what it sends a merchant.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum KeyMode: "key_mode" {
        /// Platform certificate (`Wechatpay-Serial` = certificate serial).
        Certificate = "certificate",
        /// WeChat Pay public key (`Wechatpay-Serial` = `PUB_KEY_ID_…`).
        PublicKey = "public_key",
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MerchantCertificate {
    /// Upper-case hex.
    pub serial_no: String,
    pub certificate_pem: String,
    pub public_key_pem: String,
    pub not_after: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Merchant {
    pub mchid: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub key_mode: KeyMode,
    #[sqlx(try_from = "String")]
    pub apiv3_key: Secret<String>,
    pub created_at: i64,
    /// The fee-schedule rule (category or `settlement_id`) it is under.
    pub fee_rule: String,
    /// The (simulated) bank account payouts go to.
    pub bank_account: Option<String>,
    /// For a sub-merchant, its service provider.
    pub sp_mchid: Option<String>,
    /// The most of an order profit sharing may give away (ten-thousandths).
    pub max_ratio: i64,
    /// Where it hears of profit shares it receives.
    pub service_notify_url: Option<String>,
}

impl Merchant {
    /// Whether it is a sub-merchant (acts through its provider only).
    pub fn is_sub_merchant(&self) -> bool {
        self.sp_mchid.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct NewMerchant {
    pub mchid: String,
    pub name: String,
    pub key_mode: KeyMode,
    pub apiv3_key: Secret<String>,
    pub certificate: MerchantCertificate,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Consumer {
    pub login: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// Whose sessions: the cashier's consumers or the consoles' users. Each has
/// its own table, so a token of one can never open the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRealm {
    Consumer,
    Console,
}

impl SessionRealm {
    pub(crate) fn table(self) -> &'static str {
        match self {
            SessionRealm::Consumer => "consumer_sessions",
            SessionRealm::Console => "console_sessions",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    /// Hex SHA-256 of the cookie's token: the token itself is never stored,
    /// so a copy of the database opens no session.
    #[sqlx(rename = "token")]
    pub token_sha256: String,
    pub login: String,
    #[sqlx(try_from = "String")]
    pub csrf: Secret<String>,
    pub expires_at: i64,
}

pub(crate) const MERCHANT_COLUMNS: &str =
    "mchid, name, key_mode, apiv3_key, created_at, fee_rule, bank_account, sp_mchid, max_ratio, service_notify_url";
const CERTIFICATE_COLUMNS: &str = "serial_no, certificate_pem, public_key_pem, not_after";

impl Store {
    /// The platform key, if one was generated.
    pub async fn platform_key(&self) -> Result<Option<PlatformKeyRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT private_key_pem, certificate_pem, certificate_serial, public_key_id, created_at \
             FROM platform_keys ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores the first platform key. If another node stored one first, that
    /// one wins and is returned.
    pub async fn init_platform_key(&self, key: &PlatformKeyRecord) -> Result<PlatformKeyRecord, StoreError> {
        let mut tx = self.write().await?;
        let existing: Option<i64> = sqlx::query_scalar(&tx.lock("SELECT id FROM platform_keys ORDER BY id LIMIT 1"))
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_none() {
            sqlx::query(
                "INSERT INTO platform_keys (private_key_pem, certificate_pem, certificate_serial, public_key_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key.private_key_pem.expose())
            .bind(&key.certificate_pem)
            .bind(&key.certificate_serial)
            .bind(&key.public_key_id)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.platform_key().await?.ok_or(StoreError::NotFound)
    }

    /// Registers a merchant with its first API certificate.
    pub async fn create_merchant(&self, m: &NewMerchant) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO merchants (mchid, name, key_mode, apiv3_key, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&m.mchid)
            .bind(&m.name)
            .bind(m.key_mode.as_str())
            .bind(m.apiv3_key.expose())
            .bind(m.created_at)
            .execute(&mut *tx)
            .await?;
        insert_merchant_certificate(&mut tx, &m.mchid, &m.certificate).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn merchant(&self, mchid: &str) -> Result<Option<Merchant>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE mchid = $1"))
            .bind(mchid)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {MERCHANT_COLUMNS} FROM merchants ORDER BY created_at, mchid"))
            .fetch_all(&self.pool)
            .await?)
    }

    /// A merchant's API certificate by serial; serials match case-insensitively.
    pub async fn merchant_certificate(
        &self,
        mchid: &str,
        serial_no: &str,
    ) -> Result<Option<MerchantCertificate>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM merchant_certificates WHERE mchid = $1 AND serial_no = $2"
        ))
        .bind(mchid)
        .bind(serial_no.to_ascii_uppercase())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn create_app(&self, appid: &str, name: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO apps (appid, name, created_at) VALUES ($1, $2, $3)")
            .bind(appid)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn app_exists(&self, appid: &str) -> Result<bool, StoreError> {
        let n: Option<String> = sqlx::query_scalar("SELECT appid FROM apps WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(n.is_some())
    }

    /// Binds an app to a merchant number (idempotent).
    pub async fn bind_app(&self, appid: &str, mchid: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO app_merchants (appid, mchid) VALUES ($1, $2) ON CONFLICT (appid, mchid) DO NOTHING")
            .bind(appid)
            .bind(mchid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_consumer(&self, login: &str, password_hash: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO consumers (login, password_hash, created_at) VALUES ($1, $2, $3)")
            .bind(login)
            .bind(password_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn consumer(&self, login: &str) -> Result<Option<Consumer>, StoreError> {
        Ok(sqlx::query_as("SELECT login, password_hash, created_at FROM consumers WHERE login = $1")
            .bind(login)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The consumer's openid for an app, created from `fresh` if there is none.
    pub async fn ensure_openid(&self, login: &str, appid: &str, fresh: &str) -> Result<String, StoreError> {
        let mut tx = self.write().await?;
        let openid = ensure_openid_in(&mut tx, login, appid, fresh).await?;
        tx.commit().await?;
        Ok(openid)
    }

    /// Every openid of a consumer, as `(appid, openid)`.
    pub async fn openids_of(&self, login: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT appid, openid FROM openids WHERE login = $1 ORDER BY appid")
            .bind(login)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn create_session(&self, realm: SessionRealm, s: &Session) -> Result<(), StoreError> {
        sqlx::query(&format!("INSERT INTO {} (token, login, csrf, expires_at) VALUES ($1, $2, $3, $4)", realm.table()))
            .bind(&s.token_sha256)
            .bind(&s.login)
            .bind(s.csrf.expose())
            .bind(s.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A session, by the SHA-256 of its token, that has not expired at
    /// wall time `now`.
    pub async fn session(
        &self,
        realm: SessionRealm,
        token_sha256: &str,
        now: i64,
    ) -> Result<Option<Session>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT token, login, csrf, expires_at FROM {} WHERE token = $1 AND expires_at > $2",
            realm.table()
        ))
        .bind(token_sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn delete_session(&self, realm: SessionRealm, token_sha256: &str) -> Result<(), StoreError> {
        sqlx::query(&format!("DELETE FROM {} WHERE token = $1", realm.table()))
            .bind(token_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes sessions that expired before wall time `now`.
    pub async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let mut n = 0;
        for realm in [SessionRealm::Consumer, SessionRealm::Console] {
            n += sqlx::query(&format!("DELETE FROM {} WHERE expires_at <= $1", realm.table()))
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }
}

/// Adds an API certificate to a merchant inside `tx`; the serial is stored
/// in upper case, as lookups expect.
pub async fn insert_merchant_certificate(
    tx: &mut WriteTx,
    mchid: &str,
    c: &MerchantCertificate,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO merchant_certificates (mchid, serial_no, certificate_pem, public_key_pem, not_after) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(mchid)
    .bind(c.serial_no.to_ascii_uppercase())
    .bind(&c.certificate_pem)
    .bind(&c.public_key_pem)
    .bind(c.not_after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn ensure_openid_in(
    tx: &mut WriteTx,
    login: &str,
    appid: &str,
    fresh: &str,
) -> Result<String, StoreError> {
    sqlx::query("INSERT INTO openids (openid, appid, login) VALUES ($1, $2, $3) ON CONFLICT (login, appid) DO NOTHING")
        .bind(fresh)
        .bind(appid)
        .bind(login)
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query_scalar("SELECT openid FROM openids WHERE login = $1 AND appid = $2")
        .bind(login)
        .bind(appid)
        .fetch_one(&mut **tx)
        .await?)
}

impl Store {
    /// Whether `openid` is a consumer's identity in `appid`.
    pub async fn openid_belongs_to_app(&self, openid: &str, appid: &str) -> Result<bool, StoreError> {
        let n: Option<String> = sqlx::query_scalar("SELECT openid FROM openids WHERE openid = $1 AND appid = $2")
            .bind(openid)
            .bind(appid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(n.is_some())
    }

    /// The consumer behind an openid.
    pub async fn login_of_openid(&self, openid: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT login FROM openids WHERE openid = $1")
            .bind(openid)
            .fetch_optional(&self.pool)
            .await?)
    }
}

impl Store {
    /// All API certificates of a merchant.
    pub async fn merchant_certificates(&self, mchid: &str) -> Result<Vec<MerchantCertificate>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM merchant_certificates WHERE mchid = $1 ORDER BY not_after DESC"
        ))
        .bind(mchid)
        .fetch_all(&self.pool)
        .await?)
    }
}
