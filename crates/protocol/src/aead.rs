//! AEAD_AES_256_GCM as APIv3 uses it for callbacks and certificates: the key
//! is the merchant's 32-character APIv3 key taken as bytes, the nonce a
//! 12-character string, and the ciphertext base64(ct ‖ 16-byte tag).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::crypto;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AeadError {
    #[error("the APIv3 key must be exactly 32 bytes")]
    BadKey,
    #[error("the nonce must be exactly 12 bytes")]
    BadNonce,
    #[error("decryption failed: wrong key, nonce, associated data or ciphertext")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

fn key_of(key: &str) -> Result<&[u8; 32], AeadError> {
    key.as_bytes().try_into().map_err(|_| AeadError::BadKey)
}

fn nonce_of(nonce: &str) -> Result<&[u8; 12], AeadError> {
    nonce.as_bytes().try_into().map_err(|_| AeadError::BadNonce)
}

/// Encrypts `plaintext`; returns base64(ciphertext ‖ tag).
pub fn encrypt(key: &str, nonce: &str, associated_data: &str, plaintext: &[u8]) -> Result<String, AeadError> {
    let ct = crypto::aes256gcm_seal(key_of(key)?, nonce_of(nonce)?, associated_data.as_bytes(), plaintext)
        .map_err(|_| AeadError::Encrypt)?;
    Ok(B64.encode(ct))
}

/// Decrypts what [`encrypt`] produced.
pub fn decrypt(key: &str, nonce: &str, associated_data: &str, ciphertext_b64: &str) -> Result<Vec<u8>, AeadError> {
    let ct = B64.decode(ciphertext_b64).map_err(|_| AeadError::Decrypt)?;
    crypto::aes256gcm_open(key_of(key)?, nonce_of(nonce)?, associated_data.as_bytes(), &ct)
        .map_err(|_| AeadError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "0123456789abcdefghijABCDEFGHIJ01";

    #[test]
    fn known_answer_from_nist_style_vector() {
        // AES-256-GCM of the empty message with an all-"0" nonce: the tag alone.
        let ct = encrypt(KEY, "000000000000", "", b"").unwrap_or_default();
        assert_eq!(B64.decode(&ct).map(|v| v.len()).unwrap_or(0), 16);
    }

    #[test]
    fn wrong_inputs_fail() {
        let ct = encrypt(KEY, "abcdefghijkl", "transaction", b"{}").unwrap_or_default();
        assert_eq!(decrypt(KEY, "abcdefghijkl", "transaction", &ct), Ok(b"{}".to_vec()));
        assert_eq!(decrypt(KEY, "abcdefghijkl", "refund", &ct), Err(AeadError::Decrypt));
        assert_eq!(decrypt(KEY, "abcdefghijkX", "transaction", &ct), Err(AeadError::Decrypt));
        assert_eq!(encrypt("short", "abcdefghijkl", "", b""), Err(AeadError::BadKey));
        assert_eq!(encrypt(KEY, "short", "", b""), Err(AeadError::BadNonce));
    }

    proptest! {
        #[test]
        fn round_trip(msg in proptest::collection::vec(any::<u8>(), 0..512), aad in "[a-z]{0,12}") {
            let ct = encrypt(KEY, "yd92bNzgnjSB", &aad, &msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decrypt(KEY, "yd92bNzgnjSB", &aad, &ct), Ok(msg));
        }
    }
}
