//! The five `Wechatpay-*` headers that sign what the platform sends: every
//! `/v3` response and every callback, built in this one place.

use crate::auth::response_message;
use crate::{PrivateKey, SIGNATURE_TYPE};

/// Signature headers over one body.
#[derive(Debug, Clone)]
pub struct SignedHeaders {
    timestamp: String,
    nonce: String,
    signature: String,
    serial: String,
}

impl SignedHeaders {
    /// Signs `timestamp\nnonce\nbody\n` with `key`; `serial` names the key
    /// (a certificate serial or a `PUB_KEY_ID_…`).
    pub fn new(
        key: &PrivateKey,
        serial: &str,
        timestamp_s: i64,
        nonce: String,
        body: &[u8],
    ) -> Result<SignedHeaders, crate::keys::KeyError> {
        let timestamp = timestamp_s.to_string();
        let signature = key.sign(&response_message(&timestamp, &nonce, body))?;
        Ok(SignedHeaders { timestamp, nonce, signature, serial: serial.to_owned() })
    }

    /// `(header name, value)`, names in lower case.
    pub fn pairs(&self) -> [(&'static str, &str); 5] {
        [
            ("wechatpay-timestamp", &self.timestamp),
            ("wechatpay-nonce", &self.nonce),
            ("wechatpay-signature", &self.signature),
            ("wechatpay-serial", &self.serial),
            ("wechatpay-signature-type", SIGNATURE_TYPE),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_key;

    #[test]
    fn the_signature_verifies_over_the_response_message() {
        let key = test_key();
        let h = SignedHeaders::new(key, "PUB_KEY_ID_0114", 1_700_000_000, "n0nce".into(), b"{\"a\":1}").unwrap();
        let pairs = h.pairs();
        let get = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).unwrap_or_default();
        assert_eq!(get("wechatpay-timestamp"), "1700000000");
        assert_eq!(get("wechatpay-serial"), "PUB_KEY_ID_0114");
        assert_eq!(get("wechatpay-signature-type"), "WECHATPAY2-SHA256-RSA2048");
        let message = response_message("1700000000", "n0nce", b"{\"a\":1}");
        assert!(key.public_key().verify(&message, get("wechatpay-signature")));
    }
}
