//! Envelope encryption of data at rest: each sealed value has its own
//! random 256-bit data key, which is itself sealed with the master key
//! (AES-256-GCM both times). The master key lives outside the database
//! (a file in the data directory or the environment); the database holds
//! only the wrapped data key and the ciphertext. Also keyed digests
//! (HMAC-SHA256) for finding equal secrets without storing them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, aes256gcm_open, aes256gcm_seal, CryptoError};

/// What the database keeps for one sealed value (base64 fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Format version.
    pub v: u8,
    /// The data key, sealed with the master key: nonce ‖ ciphertext ‖ tag.
    pub key: String,
    /// The value, sealed with the data key: nonce ‖ ciphertext ‖ tag.
    pub data: String,
}

/// Seals `plaintext` under `master`; `context` is bound to both layers
/// (a sealed value moved to another row does not open there).
pub fn seal(master: &[u8; 32], context: &str, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
    let mut data_key = [0u8; 32];
    crypto::fill_random(&mut data_key);
    let key = seal_with(master, context.as_bytes(), &data_key)?;
    let data = seal_with(&data_key, context.as_bytes(), plaintext)?;
    Ok(Sealed { v: 1, key: STANDARD.encode(key), data: STANDARD.encode(data) })
}

/// Opens what [`seal`] made, with the same master key and context.
pub fn open(master: &[u8; 32], context: &str, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
    if sealed.v != 1 {
        return Err(CryptoError);
    }
    let key = STANDARD.decode(&sealed.key).map_err(|_| CryptoError)?;
    let data_key: [u8; 32] = open_with(master, context.as_bytes(), &key)?.try_into().map_err(|_| CryptoError)?;
    let data = STANDARD.decode(&sealed.data).map_err(|_| CryptoError)?;
    open_with(&data_key, context.as_bytes(), &data)
}

fn seal_with(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; 12];
    crypto::fill_random(&mut nonce);
    let mut out = nonce.to_vec();
    out.extend(aes256gcm_seal(key, &nonce, aad, plaintext)?);
    Ok(out)
}

fn open_with(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (nonce, rest) = sealed.split_at_checked(12).ok_or(CryptoError)?;
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError)?;
    aes256gcm_open(key, &nonce, aad, rest)
}

/// A key for one purpose, derived from the master key: HMAC-SHA256 of the
/// purpose's label.
pub fn derive_key(master: &[u8; 32], label: &str) -> [u8; 32] {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, master);
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::hmac::sign(&k, label.as_bytes()).as_ref());
    out
}

/// Seals a short value under `key` alone (AES-256-GCM with a random
/// nonce; `context` is bound): nonce ‖ ciphertext ‖ tag. For values that
/// travel (a link's token) rather than rest.
pub fn seal_small(key: &[u8; 32], context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    seal_with(key, context.as_bytes(), plaintext)
}

/// Opens what [`seal_small`] made; any change to it fails.
pub fn open_small(key: &[u8; 32], context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    open_with(key, context.as_bytes(), sealed)
}

/// HMAC-SHA256 of `data` under `key`, as lower-case hex.
pub fn keyed_digest(key: &[u8; 32], data: &[u8]) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&k, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_seals_open_only_unchanged_and_in_their_context() {
        let key = derive_key(&[7u8; 32], "test/v1");
        assert_ne!(key, derive_key(&[7u8; 32], "test/v2"));
        let sealed = seal_small(&key, "ctx", b"hello").unwrap_or_default();
        assert_eq!(open_small(&key, "ctx", &sealed).ok(), Some(b"hello".to_vec()));
        assert!(open_small(&key, "other", &sealed).is_err());
        let mut changed = sealed.clone();
        if let Some(b) = changed.last_mut() {
            *b ^= 1;
        }
        assert!(open_small(&key, "ctx", &changed).is_err());
        assert!(open_small(&key, "ctx", &sealed[..10]).is_err());
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let master = [7u8; 32];
        let s = seal(&master, "applyment:1", b"110105194912310021").unwrap();
        assert!(!s.data.contains("1101"));
        assert_eq!(open(&master, "applyment:1", &s).ok().as_deref(), Some(&b"110105194912310021"[..]));
        assert!(open(&[8u8; 32], "applyment:1", &s).is_err());
        assert!(open(&master, "applyment:2", &s).is_err());
        let again = seal(&master, "applyment:1", b"110105194912310021").unwrap();
        assert_ne!(again, s, "a fresh data key and nonce each time");
    }

    #[test]
    fn keyed_digests_differ_by_key() {
        assert_eq!(keyed_digest(&[1; 32], b"6222"), keyed_digest(&[1; 32], b"6222"));
        assert_ne!(keyed_digest(&[1; 32], b"6222"), keyed_digest(&[2; 32], b"6222"));
    }
}
