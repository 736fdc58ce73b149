//! The parties of the platform: merchants (with a generated or a supplied
//! key and certificate), apps, consumers and their wallets, deposits.
//! Used by `koudai admin …` (live and sandbox alike), the demo world and
//! the cashier's login. [`providers`] are the service providers and the
//! operator's privileges; [`onboarding`] is a sub-merchant's application,
//! from media upload to audit and signing.

pub mod onboarding;
pub mod providers;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use koudai_domain::{ids, BusinessTime, Secret, WallTime};
use koudai_protocol::{cert, PrivateKey};
use koudai_store::{KeyMode, MerchantCertificate, NewMerchant, Store, StoreError};

use crate::{Internal, PlatformKeys, Rng};

/// Why a party could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum PartyError {
    /// The input breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    #[error("no {0}")]
    NotFound(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for PartyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => PartyError::Invalid(format!("already exists ({what})")),
            other => PartyError::Internal(other.into()),
        }
    }
}

/// A merchant just created, with what its developer needs.
#[derive(Debug, Clone)]
pub struct CreatedMerchant {
    pub mchid: String,
    pub key_mode: KeyMode,
    pub serial_no: String,
    /// PKCS#8 PEM; `None` when the merchant brought its own certificate and
    /// so keeps its own key.
    pub private_key_pem: Option<Secret<String>>,
    pub certificate_pem: String,
    pub apiv3_key: Secret<String>,
}

/// What a new merchant is.
pub struct MerchantSpec<'a> {
    pub mchid: Option<String>,
    pub name: &'a str,
    pub key_mode: KeyMode,
    /// The merchant's own API certificate (PEM); without it a key pair is
    /// generated and a certificate issued by the platform.
    pub certificate_pem: Option<&'a str>,
}

/// Creates a merchant.
pub async fn create_merchant(
    store: &Store,
    rng: &Rng,
    platform: &PlatformKeys,
    spec: MerchantSpec<'_>,
    now: WallTime,
) -> Result<CreatedMerchant, PartyError> {
    let mchid = spec.mchid.unwrap_or_else(|| ids::mchid(&rng.bytes()));
    if mchid.is_empty() || mchid.len() > 32 || !mchid.chars().all(|c| c.is_ascii_digit()) {
        return Err(PartyError::Invalid("a mchid is 1 to 32 digits".into()));
    }
    let (private_key_pem, cert) = match spec.certificate_pem {
        Some(pem) => {
            let cert = cert::parse_pem(pem)
                .map_err(|e| PartyError::Invalid(format!("reading the merchant certificate: {e}")))?;
            (None, cert)
        }
        None => {
            let key = PrivateKey::generate().map_err(|e| Internal::bug(format!("merchant key: {e}")))?;
            let cert = platform
                .issue_merchant_certificate(rng, &mchid, spec.name, &key.public_key(), now)
                .map_err(|e| Internal::bug(format!("merchant certificate: {e}")))?;
            let pem = key.to_pem().map_err(|e| Internal::bug(format!("merchant key: {e}")))?;
            (Some(Secret::new(pem)), cert)
        }
    };
    let public_key_pem = cert.public_key.to_pem().map_err(|e| Internal::bug(format!("merchant public key: {e}")))?;
    let apiv3_key = Secret::new(ids::apiv3_key(&rng.bytes()));
    store
        .create_merchant(&NewMerchant {
            mchid: mchid.clone(),
            name: spec.name.to_owned(),
            key_mode: spec.key_mode,
            apiv3_key: apiv3_key.clone(),
            certificate: MerchantCertificate {
                serial_no: cert.serial_hex.clone(),
                certificate_pem: cert.pem.clone(),
                public_key_pem,
                not_after: cert.not_after_s,
            },
            created_at: now.unix(),
        })
        .await?;
    Ok(CreatedMerchant {
        mchid,
        key_mode: spec.key_mode,
        serial_no: cert.serial_hex,
        private_key_pem,
        certificate_pem: cert.pem,
        apiv3_key,
    })
}

/// Creates an app bound to `mchid` (or binds an existing one); returns its appid.
pub async fn create_app(
    store: &Store,
    rng: &Rng,
    appid: Option<String>,
    name: &str,
    mchid: &str,
    now: WallTime,
) -> Result<String, PartyError> {
    if store.merchant(mchid).await?.is_none() {
        return Err(PartyError::NotFound(format!("merchant {mchid}")));
    }
    let appid = appid.unwrap_or_else(|| ids::appid(&rng.bytes()));
    if !store.app_exists(&appid).await? {
        store.create_app(&appid, name, now.unix()).await?;
    }
    store.bind_app(&appid, mchid).await?;
    Ok(appid)
}

/// Argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane), written out
/// rather than left to the library's default: every login costs the server
/// this much, which is why logins are also throttled.
fn argon2() -> Result<Argon2<'static>, Internal> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| Internal::bug(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password (argon2id, random salt).
pub fn hash_password(rng: &Rng, password: &str) -> Result<String, Internal> {
    let salt = SaltString::encode_b64(&rng.bytes::<16>()).map_err(|e| Internal::bug(format!("salt: {e}")))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Internal::bug(format!("hashing a password: {e}")))?
        .to_string())
}

/// Whether `password` matches `hash`; a stored hash that does not parse is
/// an error, not a wrong password.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, Internal> {
    let parsed = PasswordHash::new(hash).map_err(|e| Internal::bug(format!("stored password hash: {e}")))?;
    match argon2()?.verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Internal::bug(format!("checking a password against its stored hash: {e}"))),
    }
}

/// Creates a consumer, optionally with an opening balance. Both are business
/// events: the opening top-up is posted at business time like every other
/// movement, so fund-flow bills agree on a moved sandbox clock.
pub async fn create_consumer(
    store: &Store,
    rng: &Rng,
    login: &str,
    password: &str,
    balance_fen: i64,
    now: BusinessTime,
) -> Result<(), PartyError> {
    if login.is_empty() || login.len() > 64 || !login.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(PartyError::Invalid("a login is 1 to 64 letters, digits or _-.".into()));
    }
    if password.len() < 6 {
        return Err(PartyError::Invalid("a password has at least 6 characters".into()));
    }
    store.create_consumer(login, &hash_password(rng, password)?, now.unix()).await?;
    if balance_fen > 0 {
        top_up(store, rng, login, balance_fen, now).await?;
    }
    Ok(())
}

/// Adds money to a consumer's wallet; returns the new balance.
pub async fn top_up(
    store: &Store,
    rng: &Rng,
    login: &str,
    amount_fen: i64,
    now: BusinessTime,
) -> Result<i64, PartyError> {
    if amount_fen <= 0 {
        return Err(PartyError::Invalid("a top-up is a positive number of fen".into()));
    }
    if store.consumer(login).await?.is_none() {
        return Err(PartyError::NotFound(format!("consumer {login}")));
    }
    let reference = format!("topup-{}", ids::upper_hex(&rng.bytes::<8>()));
    Ok(store.top_up(login, amount_fen, &reference, now.unix()).await?)
}

/// Records a deposit paid in; without an amount, what the merchant's fee
/// rule still asks for. Returns the deposit held afterwards.
pub async fn pay_deposit(
    store: &Store,
    rng: &Rng,
    mchid: &str,
    amount_fen: Option<i64>,
    now: BusinessTime,
) -> Result<i64, PartyError> {
    let standing =
        store.standing(mchid, now.unix()).await?.ok_or_else(|| PartyError::NotFound(format!("merchant {mchid}")))?;
    let amount = match amount_fen {
        Some(a) if a > 0 => a,
        Some(_) => return Err(PartyError::Invalid("a deposit is a positive number of fen".into())),
        None => standing.deposit_missing_fen(),
    };
    if amount > 0 {
        let reference = format!("DEP{}", ids::upper_hex(&rng.bytes::<8>()));
        store.pay_deposit(mchid, amount, &reference, now.unix()).await?;
        crate::access::eligibility::refresh_for(store, mchid, now.unix(), &format!("deposit of {amount} fen paid"))
            .await;
    }
    Ok(standing.deposit_held_fen + amount)
}

/// Releases a merchant's deposit to its available funds.
pub async fn release_deposit(store: &Store, rng: &Rng, mchid: &str, now: BusinessTime) -> Result<i64, PartyError> {
    let reference = format!("DEP{}", ids::upper_hex(&rng.bytes::<8>()));
    let released = store.release_deposit(mchid, &reference, now.unix()).await?;
    crate::access::eligibility::refresh_for(store, mchid, now.unix(), "deposit released").await;
    Ok(released)
}

/// The consumer's openid in an app, created if needed.
pub async fn openid_for(store: &Store, rng: &Rng, login: &str, appid: &str) -> Result<String, PartyError> {
    Ok(store.ensure_openid(login, appid, &ids::openid(&rng.bytes())).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_a_corrupt_hash_is_an_error() {
        let rng = Rng::seeded(1);
        let hash = hash_password(&rng, "correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &hash).unwrap());
        assert!(!verify_password("wrong", &hash).unwrap());
        assert!(verify_password("x", "not a hash").is_err());
    }
}
