//! RSA-2048 keys: PEM in and out, PKCS#1 v1.5 SHA-256 signatures in base64.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// Why key material could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a usable RSA private key (PKCS#8 or PKCS#1 PEM expected)")]
    BadPrivateKey,
    #[error("not a usable RSA public key (SPKI PEM expected)")]
    BadPublicKey,
    #[error("key generation failed")]
    Generation,
    #[error("PEM encoding failed")]
    Encoding,
}

/// A private key that signs.
#[derive(Clone)]
pub struct PrivateKey {
    key: RsaPrivateKey,
    signer: SigningKey<Sha256>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

impl PrivateKey {
    /// A fresh RSA-2048 key.
    pub fn generate() -> Result<PrivateKey, KeyError> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|_| KeyError::Generation)?;
        Ok(PrivateKey::from_rsa(key))
    }

    fn from_rsa(key: RsaPrivateKey) -> PrivateKey {
        let signer = SigningKey::<Sha256>::new(key.clone());
        PrivateKey { key, signer }
    }

    /// Reads PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<PrivateKey, KeyError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| KeyError::BadPrivateKey)?;
        Ok(PrivateKey::from_rsa(key))
    }

    /// PKCS#8 PEM, the form every SDK loads.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        Ok(self.key.to_pkcs8_pem(LineEnding::LF).map_err(|_| KeyError::Encoding)?.to_string())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey { key: self.key.to_public_key() }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey<Sha256> {
        &self.signer
    }

    /// RSA-PKCS1v15-SHA256 over `message`, base64. Blinded, so that timing
    /// does not leak the key.
    pub fn sign(&self, message: &[u8]) -> String {
        let sig: Signature = self.signer.sign_with_rng(&mut rand::thread_rng(), message);
        B64.encode(sig.to_bytes())
    }
}

/// A public key that verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: RsaPublicKey,
}

impl PublicKey {
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let key = RsaPublicKey::from_public_key_pem(pem).map_err(|_| KeyError::BadPublicKey)?;
        Ok(PublicKey { key })
    }

    pub(crate) fn from_rsa(key: RsaPublicKey) -> PublicKey {
        PublicKey { key }
    }

    pub(crate) fn rsa(&self) -> &RsaPublicKey {
        &self.key
    }

    /// SPKI PEM (`BEGIN PUBLIC KEY`), the form wechatpayv3 loads.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key.to_public_key_pem(LineEnding::LF).map_err(|_| KeyError::Encoding)
    }

    /// Whether `signature_b64` is a valid signature of `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(bytes) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        let Ok(sig) = Signature::try_from(bytes.as_slice()) else {
            return false;
        };
        VerifyingKey::<Sha256>::new(self.key.clone()).verify(message, &sig).is_ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One key per test binary: generation takes a while.
    pub(crate) fn test_key() -> &'static PrivateKey {
        static KEY: OnceLock<PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| PrivateKey::generate().unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let key = test_key();
        let sig = key.sign(b"hello\n");
        assert!(key.public_key().verify(b"hello\n", &sig));
        assert!(!key.public_key().verify(b"hello!\n", &sig));
        assert!(!key.public_key().verify(b"hello\n", "bm90IGEgc2lnbmF0dXJl"));
        assert!(!key.public_key().verify(b"hello\n", "%%%"));
    }

    #[test]
    fn pem_round_trips() {
        let key = test_key();
        let pem = key.to_pem().unwrap_or_default();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.public_key(), key.public_key());
        let pub_pem = key.public_key().to_pem().unwrap_or_default();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(PublicKey::from_pem(&pub_pem).ok(), Some(key.public_key()));
        assert!(PrivateKey::from_pem("garbage").is_err());
    }
}
