//! The platform's signing key, generated on first start and kept in the
//! database, with its two identities: a self-signed certificate (certificate
//! mode) and a `PUB_KEY_ID_…` (public-key mode).

use anyhow::Context as _;
use rand::RngCore;

use koudai_domain::ids;
use koudai_protocol::cert::{self, CertInfo, CertRequest};
use koudai_protocol::{PrivateKey, PublicKey};
use koudai_store::{KeyMode, PlatformKeyRecord, Store};

/// The distinguished name of the platform certificate, also the issuer of
/// the merchant certificates Koudai issues.
pub const PLATFORM_DN: &str = "CN=Koudai Platform,OU=Koudai Sandbox,O=Koudai,C=CN";

/// Certificates are valid from a day before they are made (clock skew)
/// for five years.
const VALID_BEFORE_S: i64 = 24 * 3600;
const VALID_FOR_S: i64 = 5 * 365 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct PlatformKeys {
    pub key: PrivateKey,
    pub public_key: PublicKey,
    pub certificate: CertInfo,
    pub public_key_id: String,
}

impl PlatformKeys {
    /// Loads the platform key, generating and storing it on first start.
    pub async fn load_or_create(store: &Store, wall_now: i64) -> anyhow::Result<PlatformKeys> {
        let record = match store.platform_key().await? {
            Some(r) => r,
            None => {
                let key = PrivateKey::generate()?;
                let mut serial = [0u8; 20];
                rand::thread_rng().fill_bytes(&mut serial);
                let serial = ids::certificate_serial(&serial);
                let certificate = cert::issue(
                    &CertRequest {
                        subject: PLATFORM_DN,
                        subject_key: &key.public_key(),
                        serial: &serial,
                        not_before_s: wall_now - VALID_BEFORE_S,
                        not_after_s: wall_now + VALID_FOR_S,
                    },
                    &key,
                    None,
                )?;
                let mut id = [0u8; 30];
                rand::thread_rng().fill_bytes(&mut id);
                let record = PlatformKeyRecord {
                    private_key_pem: key.to_pem()?,
                    certificate_pem: certificate.pem.clone(),
                    certificate_serial: certificate.serial_hex.clone(),
                    public_key_id: ids::public_key_id(&id),
                    created_at: wall_now,
                };
                // If another node got there first, its key is the one used.
                store.init_platform_key(&record).await?
            }
        };
        let key = PrivateKey::from_pem(&record.private_key_pem).context("stored platform key")?;
        let certificate = cert::parse_pem(&record.certificate_pem).context("stored platform certificate")?;
        Ok(PlatformKeys { public_key: key.public_key(), key, certificate, public_key_id: record.public_key_id })
    }

    /// The `Wechatpay-Serial` for a key mode.
    pub fn serial_for(&self, mode: KeyMode) -> &str {
        match mode {
            KeyMode::Certificate => &self.certificate.serial_hex,
            KeyMode::PublicKey => &self.public_key_id,
        }
    }

    /// Issues a merchant API certificate for `subject_key`.
    pub fn issue_merchant_certificate(
        &self,
        mchid: &str,
        name: &str,
        subject_key: &PublicKey,
        wall_now: i64,
    ) -> anyhow::Result<CertInfo> {
        let mut serial = [0u8; 20];
        rand::thread_rng().fill_bytes(&mut serial);
        let serial = ids::certificate_serial(&serial);
        let safe_name: String = name.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
        let subject = format!(
            "CN={mchid},OU={},O=Koudai Merchant,C=CN",
            if safe_name.is_empty() { "merchant" } else { safe_name.as_str() }
        );
        Ok(cert::issue(
            &CertRequest {
                subject: &subject,
                subject_key,
                serial: &serial,
                not_before_s: wall_now - VALID_BEFORE_S,
                not_after_s: wall_now + VALID_FOR_S,
            },
            &self.key,
            Some(PLATFORM_DN),
        )?)
    }
}
