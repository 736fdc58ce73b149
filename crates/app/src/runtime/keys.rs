//! The platform's signing key, generated on first start and kept in the
//! database, with its two identities: a self-signed certificate (certificate
//! mode) and a `PUB_KEY_ID_…` (public-key mode).

use koudai_domain::{ids, Secret, WallTime};
use koudai_protocol::cert::{self, CertInfo, CertRequest};
use koudai_protocol::{PrivateKey, PublicKey};
use koudai_store::{KeyMode, PlatformKeyRecord, Store};

use crate::{Internal, Rng};

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
    pub async fn load_or_create(store: &Store, rng: &Rng, wall_now: WallTime) -> Result<PlatformKeys, Internal> {
        let wall_now = wall_now.unix();
        let record = match store.platform_key().await? {
            Some(r) => r,
            None => {
                let key = PrivateKey::generate().map_err(|e| Internal::bug(format!("platform key: {e}")))?;
                let serial = ids::certificate_serial(&rng.bytes());
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
                )
                .map_err(|e| Internal::bug(format!("platform certificate: {e}")))?;
                let private_key_pem = key.to_pem().map_err(|e| Internal::bug(format!("platform key: {e}")))?;
                let record = PlatformKeyRecord {
                    private_key_pem: Secret::new(private_key_pem),
                    certificate_pem: certificate.pem.clone(),
                    certificate_serial: certificate.serial_hex.clone(),
                    public_key_id: ids::public_key_id(&rng.bytes()),
                    created_at: wall_now,
                };
                // If another node got there first, its key is the one used.
                store.init_platform_key(&record).await?
            }
        };
        let key = PrivateKey::from_pem(record.private_key_pem.expose())
            .map_err(|e| Internal::bug(format!("stored platform key: {e}")))?;
        let certificate = cert::parse_pem(&record.certificate_pem)
            .map_err(|e| Internal::bug(format!("stored platform certificate: {e}")))?;
        Ok(PlatformKeys { public_key: key.public_key(), key, certificate, public_key_id: record.public_key_id })
    }

    /// The `Wechatpay-Serial` for a key mode.
    pub fn serial_for(&self, mode: KeyMode) -> &str {
        match mode {
            KeyMode::Certificate => &self.certificate.serial_hex,
            KeyMode::PublicKey => &self.public_key_id,
        }
    }

    /// Whether a request's `Wechatpay-Serial` names this key: its public key
    /// id, or its certificate serial in any case and with or without leading
    /// zeros (some SDKs print the serial as a number).
    pub fn names_this_key(&self, serial: &str) -> bool {
        let norm = |s: &str| s.trim().trim_start_matches('0').to_ascii_uppercase();
        serial.trim() == self.public_key_id
            || (!serial.trim().is_empty() && norm(serial) == norm(&self.certificate.serial_hex))
    }

    /// Issues a merchant API certificate for `subject_key`.
    pub fn issue_merchant_certificate(
        &self,
        rng: &Rng,
        mchid: &str,
        name: &str,
        subject_key: &PublicKey,
        wall_now: WallTime,
    ) -> Result<CertInfo, cert::CertError> {
        let wall_now = wall_now.unix();
        let serial = ids::certificate_serial(&rng.bytes());
        let safe_name: String = name.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
        let subject = format!(
            "CN={mchid},OU={},O=Koudai Merchant,C=CN",
            if safe_name.is_empty() { "merchant" } else { safe_name.as_str() }
        );
        cert::issue(
            &CertRequest {
                subject: &subject,
                subject_key,
                serial: &serial,
                not_before_s: wall_now - VALID_BEFORE_S,
                not_after_s: wall_now + VALID_FOR_S,
            },
            &self.key,
            Some(PLATFORM_DN),
        )
    }
}
