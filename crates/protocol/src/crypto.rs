//! The one facade over the cryptographic library (aws-lc-rs). Nothing else in
//! Koudai names its types: keys, AEAD, certificates and digests all come
//! through here, so the backend can change in one file.
//!
//! What it offers: RSA-2048 key pairs (generate; PKCS#8 and PKCS#1 in, PKCS#8
//! out; RSASSA-PKCS1-v1_5-SHA256; RSA-OAEP-SHA1 with MGF1-SHA1), RSA public
//! keys (SPKI in and out; verify; OAEP encrypt), AES-256-GCM, SHA-256, SHA-1,
//! a system random source, and PEM armouring.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA1_MGF1SHA1,
};
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey, RsaKeyPair, RSA_PKCS1_2048_8192_SHA256};

/// A cryptographic operation failed. Deliberately uninformative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cryptographic operation failed")]
pub struct CryptoError;

impl From<aws_lc_rs::error::Unspecified> for CryptoError {
    fn from(_: aws_lc_rs::error::Unspecified) -> CryptoError {
        CryptoError
    }
}

impl From<aws_lc_rs::error::KeyRejected> for CryptoError {
    fn from(_: aws_lc_rs::error::KeyRejected) -> CryptoError {
        CryptoError
    }
}

// ---------------------------------------------------------------------------
// Random, digests

/// Fills `dest` from the system CSPRNG (AWS-LC's, seeded by the OS).
///
/// Infallible in practice: AWS-LC aborts the process rather than return
/// without randomness. Should the library ever report a failure, this panics,
/// since no caller can safely go on with predictable bytes.
pub fn fill_random(dest: &mut [u8]) {
    if SystemRandom::new().fill(dest).is_err() {
        panic!("the system random source failed");
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// SHA-1 of `data`. Only for formats that require it (bill digests, key ids).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref());
    out
}

// ---------------------------------------------------------------------------
// AES-256-GCM

/// AES-256-GCM: returns ciphertext ‖ 16-byte tag.
pub(crate) fn aes256gcm_seal(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?);
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut in_out)?;
    Ok(in_out)
}

/// Opens what [`aes256gcm_seal`] produced (ciphertext ‖ tag).
pub(crate) fn aes256gcm_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?);
    let mut in_out = ciphertext_and_tag.to_vec();
    let len = key.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut in_out)?.len();
    in_out.truncate(len);
    Ok(in_out)
}

// ---------------------------------------------------------------------------
// AES-256-CBC without padding (the Official Account "safe mode" pads itself)

/// AES-256-CBC over whole blocks; the caller pads.
pub(crate) fn aes256cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError> {
    use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256};
    use aws_lc_rs::iv::FixedLength;
    if !data.len().is_multiple_of(16) {
        return Err(CryptoError);
    }
    let key = EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, key)?)?;
    key.less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(*iv)))?;
    Ok(())
}

/// Inverse of [`aes256cbc_encrypt`].
pub(crate) fn aes256cbc_decrypt(key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError> {
    use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext, UnboundCipherKey, AES_256};
    use aws_lc_rs::iv::FixedLength;
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(CryptoError);
    }
    let key = DecryptingKey::cbc(UnboundCipherKey::new(&AES_256, key)?)?;
    key.decrypt(data, DecryptionContext::Iv128(FixedLength::from(*iv)))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// PEM

/// The label and DER contents of the first PEM block in `text`.
pub(crate) fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let block = pem::parse(text.trim()).ok()?;
    Some((block.tag().to_owned(), block.into_contents()))
}

/// PEM with LF line endings and 64-character lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(&pem::Pem::new(label, der), pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

// ---------------------------------------------------------------------------
// RSA

/// An RSA private key: signs (PKCS#1 v1.5, SHA-256) and decrypts (OAEP-SHA1).
#[derive(Clone)]
pub(crate) struct RsaPrivateKey {
    signing: RsaKeyPair,
    decrypting: PrivateDecryptingKey,
    public: RsaPublicKey,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaPrivateKey(***)")
    }
}

impl RsaPrivateKey {
    /// A fresh RSA-2048 key.
    pub(crate) fn generate() -> Result<RsaPrivateKey, CryptoError> {
        RsaPrivateKey::from_key_pair(RsaKeyPair::generate(KeySize::Rsa2048)?)
    }

    /// PKCS#8 `PrivateKeyInfo` DER.
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<RsaPrivateKey, CryptoError> {
        RsaPrivateKey::from_key_pair(RsaKeyPair::from_pkcs8(der)?)
    }

    /// PKCS#1 `RSAPrivateKey` DER.
    pub(crate) fn from_pkcs1_der(der: &[u8]) -> Result<RsaPrivateKey, CryptoError> {
        RsaPrivateKey::from_key_pair(RsaKeyPair::from_der(der)?)
    }

    fn from_key_pair(signing: RsaKeyPair) -> Result<RsaPrivateKey, CryptoError> {
        let decrypting = PrivateDecryptingKey::from_pkcs8(signing.as_der()?.as_ref())?;
        let public = RsaPublicKey::from_der(signing.public_key().as_der()?.as_ref())?;
        Ok(RsaPrivateKey { signing, decrypting, public })
    }

    /// PKCS#8 (v1) `PrivateKeyInfo` DER.
    pub(crate) fn to_pkcs8_der(&self) -> Result<Vec<u8>, CryptoError> {
        Ok(self.signing.as_der()?.as_ref().to_vec())
    }

    pub(crate) fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`. Deterministic.
    pub(crate) fn sign_pkcs1_sha256(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut sig = vec![0u8; self.signing.public_modulus_len()];
        self.signing.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)?;
        Ok(sig)
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1, empty label) decryption.
    pub(crate) fn oaep_sha1_decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = OaepPrivateDecryptingKey::new(self.decrypting.clone())?;
        let mut out = vec![0u8; key.min_output_size()];
        let len = key.decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut out, None)?.len();
        out.truncate(len);
        Ok(out)
    }
}

/// An RSA public key. Equality is by its SubjectPublicKeyInfo DER.
#[derive(Clone)]
pub(crate) struct RsaPublicKey {
    verifying: ParsedPublicKey,
    /// X.509 SubjectPublicKeyInfo DER, as re-encoded by the library.
    spki: Vec<u8>,
    /// PKCS#1 `RSAPublicKey` DER: the SPKI's subjectPublicKey bits.
    pkcs1: Vec<u8>,
}

impl RsaPublicKey {
    /// SubjectPublicKeyInfo DER (or PKCS#1 `RSAPublicKey` DER) of an RSA key
    /// of 2048 to 8192 bits.
    pub(crate) fn from_der(der: &[u8]) -> Result<RsaPublicKey, CryptoError> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der)?;
        let spki = key.as_der()?.as_ref().to_vec();
        let verifying = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki)?;
        Ok(RsaPublicKey { verifying, pkcs1: key.as_ref().to_vec(), spki })
    }

    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    pub(crate) fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1
    }

    /// Whether `signature` is an RSASSA-PKCS1-v1_5-SHA256 signature of `message`.
    pub(crate) fn verify_pkcs1_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifying.verify_sig(message, signature).is_ok()
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1, empty label) encryption.
    pub(crate) fn oaep_sha1_encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&self.spki)?)?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len = key.encrypt(&OAEP_SHA1_MGF1SHA1, plaintext, &mut out, None)?.len();
        out.truncate(len);
        Ok(out)
    }
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &RsaPublicKey) -> bool {
        self.spki == other.spki
    }
}

impl Eq for RsaPublicKey {}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey(sha256:{})", koudai_domain::ids::upper_hex(&sha256(&self.spki)[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn digests_match_known_answers() {
        assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn random_fills() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill_random(&mut a);
        fill_random(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn aes_gcm_known_answer() {
        // NIST GCM test case 13: zero key, zero IV, empty message: the tag alone.
        let tag = aes256gcm_seal(&[0; 32], &[0; 12], b"", b"").unwrap_or_default();
        assert_eq!(hex(&tag), "530f8afbc74536b9a963b4f1c4cb738b");
        // Test case 14: one zero block.
        let ct = aes256gcm_seal(&[0; 32], &[0; 12], b"", &[0; 16]).unwrap_or_default();
        assert_eq!(hex(&ct), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
        assert_eq!(aes256gcm_open(&[0; 32], &[0; 12], b"", &ct), Ok(vec![0; 16]));
        assert_eq!(aes256gcm_open(&[0; 32], &[0; 12], b"x", &ct), Err(CryptoError));
        assert_eq!(aes256gcm_open(&[0; 32], &[0; 12], b"", &ct[..10]), Err(CryptoError));
    }

    #[test]
    fn debug_redacts_private_keys() {
        let key = crate::keys::tests::test_key();
        assert_eq!(format!("{key:?}"), "PrivateKey(***)");
    }
}
