//! Administration: creating merchants (with a generated or a supplied key
//! and certificate), apps and consumers, and topping up wallets. Used by the
//! `koudai admin …` commands (live and sandbox alike) and by the demo world.

use anyhow::{bail, Context as _};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use rand::RngCore;

use koudai_domain::ids;
use koudai_protocol::cert;
use koudai_protocol::PrivateKey;
use koudai_store::{KeyMode, MerchantCertificate, NewMerchant, Store};

use crate::platform::PlatformKeys;

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// A merchant just created, with what its developer needs.
#[derive(Debug, Clone)]
pub struct CreatedMerchant {
    pub mchid: String,
    pub key_mode: KeyMode,
    pub serial_no: String,
    /// PKCS#8 PEM; `None` when the merchant brought its own certificate and
    /// so keeps its own key.
    pub private_key_pem: Option<String>,
    pub certificate_pem: String,
    pub apiv3_key: String,
}

/// Creates a merchant. With `certificate_pem` the merchant's own certificate
/// is registered; without it a key pair is generated and a certificate
/// issued by the platform.
pub async fn create_merchant(
    store: &Store,
    platform: &PlatformKeys,
    mchid: Option<String>,
    name: &str,
    key_mode: KeyMode,
    certificate_pem: Option<&str>,
    wall_now: i64,
) -> anyhow::Result<CreatedMerchant> {
    let mchid = mchid.unwrap_or_else(|| ids::mchid(&random()));
    if mchid.is_empty() || mchid.len() > 32 || !mchid.chars().all(|c| c.is_ascii_digit()) {
        bail!("a mchid is 1 to 32 digits");
    }
    let (private_key_pem, cert) = match certificate_pem {
        Some(pem) => (None, cert::parse_pem(pem).context("reading the merchant certificate")?),
        None => {
            let key = PrivateKey::generate()?;
            let cert = platform.issue_merchant_certificate(&mchid, name, &key.public_key(), wall_now)?;
            (Some(key.to_pem()?), cert)
        }
    };
    let apiv3_key = ids::apiv3_key(&random());
    store
        .create_merchant(&NewMerchant {
            mchid: mchid.clone(),
            name: name.to_owned(),
            key_mode,
            apiv3_key: apiv3_key.clone(),
            certificate: MerchantCertificate {
                serial_no: cert.serial_hex.clone(),
                certificate_pem: cert.pem.clone(),
                public_key_pem: cert.public_key.to_pem()?,
                not_after: cert.not_after_s,
            },
            created_at: wall_now,
        })
        .await
        .with_context(|| format!("creating merchant {mchid}"))?;
    Ok(CreatedMerchant {
        mchid,
        key_mode,
        serial_no: cert.serial_hex,
        private_key_pem,
        certificate_pem: cert.pem,
        apiv3_key,
    })
}

/// Creates an app bound to `mchid`; returns its appid.
pub async fn create_app(
    store: &Store,
    appid: Option<String>,
    name: &str,
    mchid: &str,
    now: i64,
) -> anyhow::Result<String> {
    if store.merchant(mchid).await?.is_none() {
        bail!("no merchant {mchid}");
    }
    let appid = appid.unwrap_or_else(|| ids::appid(&random()));
    if !store.app_exists(&appid).await? {
        store.create_app(&appid, name, now).await?;
    }
    store.bind_app(&appid, mchid).await?;
    Ok(appid)
}

/// Hashes a consumer password (argon2id, random salt).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&random::<16>()).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

/// Checks a password against its stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Creates a consumer, optionally with an opening balance.
pub async fn create_consumer(
    store: &Store,
    login: &str,
    password: &str,
    balance_fen: i64,
    now: i64,
) -> anyhow::Result<()> {
    if login.is_empty() || login.len() > 64 || !login.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        bail!("a login is 1 to 64 letters, digits or _-.");
    }
    if password.len() < 6 {
        bail!("a password has at least 6 characters");
    }
    store
        .create_consumer(login, &hash_password(password)?, now)
        .await
        .with_context(|| format!("creating consumer {login}"))?;
    if balance_fen > 0 {
        top_up(store, login, balance_fen, now).await?;
    }
    Ok(())
}

/// Adds money to a consumer's wallet; returns the new balance.
pub async fn top_up(store: &Store, login: &str, amount_fen: i64, now: i64) -> anyhow::Result<i64> {
    if amount_fen <= 0 {
        bail!("a top-up is a positive number of fen");
    }
    let reference = format!("topup-{}", random_token_hex());
    store.top_up(login, amount_fen, &reference, now).await.with_context(|| format!("topping up {login}"))
}

fn random_token_hex() -> String {
    ids::upper_hex(&random::<8>())
}

/// Records a deposit paid in; without an amount, what the merchant's fee
/// rule still asks for. Returns the deposit held afterwards.
pub async fn pay_deposit(store: &Store, mchid: &str, amount_fen: Option<i64>, now: i64) -> anyhow::Result<i64> {
    let standing = store.standing(mchid, now).await?.with_context(|| format!("no merchant {mchid}"))?;
    let amount = match amount_fen {
        Some(a) if a > 0 => a,
        Some(_) => bail!("a deposit is a positive number of fen"),
        None => standing.deposit_missing_fen(),
    };
    if amount > 0 {
        let reference = format!("DEP{}", random_token_hex());
        store.pay_deposit(mchid, amount, &reference, now).await?;
    }
    Ok(standing.deposit_held_fen + amount)
}

/// Releases a merchant's deposit to its available funds.
pub async fn release_deposit(store: &Store, mchid: &str, now: i64) -> anyhow::Result<i64> {
    let reference = format!("DEP{}", random_token_hex());
    Ok(store.release_deposit(mchid, &reference, now).await?)
}

/// The consumer's openid in an app, created if needed.
pub async fn openid_for(store: &Store, login: &str, appid: &str) -> anyhow::Result<String> {
    Ok(store.ensure_openid(login, appid, &ids::openid(&random())).await?)
}
