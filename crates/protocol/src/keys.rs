//! RSA-2048 keys: PEM in and out, PKCS#1 v1.5 SHA-256 signatures in base64,
//! RSA-OAEP-SHA1 for sensitive fields. The cryptography is in [`crate::crypto`].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::crypto::{self, RsaPrivateKey, RsaPublicKey};

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
    #[error("RSA-OAEP decryption failed: wrong key or damaged ciphertext")]
    Decrypt,
    #[error("RSA-OAEP encryption failed: the plaintext is too long for the key")]
    Encrypt,
    #[error("RSA signing failed")]
    Sign,
}

/// A private key that signs and decrypts.
#[derive(Clone)]
pub struct PrivateKey {
    key: RsaPrivateKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

impl PrivateKey {
    /// A fresh RSA-2048 key.
    pub fn generate() -> Result<PrivateKey, KeyError> {
        Ok(PrivateKey { key: RsaPrivateKey::generate().map_err(|_| KeyError::Generation)? })
    }

    /// Reads PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<PrivateKey, KeyError> {
        let key = match crypto::pem_decode(pem) {
            Some((label, der)) if label == "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&der),
            Some((label, der)) if label == "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der),
            _ => return Err(KeyError::BadPrivateKey),
        };
        Ok(PrivateKey { key: key.map_err(|_| KeyError::BadPrivateKey)? })
    }

    /// PKCS#8 PEM, the form every SDK loads.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let der = self.key.to_pkcs8_der().map_err(|_| KeyError::Encoding)?;
        Ok(crypto::pem_encode("PRIVATE KEY", &der))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey { key: self.key.public_key().clone() }
    }

    /// RSA-PKCS1v15-SHA256 over `message`, base64. Fails only if the
    /// library does (out of memory); callers must not send anything then.
    pub fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        Ok(B64.encode(self.key.sign_pkcs1_sha256(message).map_err(|_| KeyError::Sign)?))
    }

    /// Decrypts RSA-OAEP (SHA-1, MGF1-SHA-1) `ciphertext`, as APIv3 sensitive
    /// fields are encrypted to the platform key.
    pub fn oaep_decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.key.oaep_sha1_decrypt(ciphertext).map_err(|_| KeyError::Decrypt)
    }

    /// Decrypts a sensitive field as it travels (§2.5): base64 of RSA-OAEP
    /// ciphertext of UTF-8 text.
    pub fn decrypt_field(&self, ciphertext_b64: &str) -> Result<String, KeyError> {
        use base64::Engine as _;
        let raw =
            base64::engine::general_purpose::STANDARD.decode(ciphertext_b64.trim()).map_err(|_| KeyError::Decrypt)?;
        String::from_utf8(self.oaep_decrypt(&raw)?).map_err(|_| KeyError::Decrypt)
    }

    pub(crate) fn rsa(&self) -> &RsaPrivateKey {
        &self.key
    }
}

/// A public key that verifies and encrypts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: RsaPublicKey,
}

impl PublicKey {
    /// Reads SPKI PEM (`BEGIN PUBLIC KEY`); PKCS#1 (`BEGIN RSA PUBLIC KEY`) is accepted too.
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        match crypto::pem_decode(pem) {
            Some((label, der)) if label == "PUBLIC KEY" || label == "RSA PUBLIC KEY" => PublicKey::from_der(&der),
            _ => Err(KeyError::BadPublicKey),
        }
    }

    /// SubjectPublicKeyInfo (or PKCS#1 `RSAPublicKey`) DER.
    pub(crate) fn from_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        Ok(PublicKey { key: RsaPublicKey::from_der(der).map_err(|_| KeyError::BadPublicKey)? })
    }

    pub(crate) fn rsa(&self) -> &RsaPublicKey {
        &self.key
    }

    /// SPKI PEM (`BEGIN PUBLIC KEY`), the form wechatpayv3 loads.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        Ok(crypto::pem_encode("PUBLIC KEY", self.key.spki_der()))
    }

    /// Whether `signature_b64` is a valid signature of `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(bytes) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        self.key.verify_pkcs1_sha256(message, &bytes)
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1) encryption of `plaintext` to this key, as
    /// clients encrypt sensitive fields.
    pub fn oaep_encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.key.oaep_sha1_encrypt(plaintext).map_err(|_| KeyError::Encrypt)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One key per test binary: generation takes a while.
    pub(crate) fn test_key() -> &'static PrivateKey {
        static KEY: OnceLock<PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| PrivateKey::generate().unwrap())
    }

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let key = test_key();
        let sig = key.sign(b"hello\n").unwrap();
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
        let again = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let pub_pem = key.public_key().to_pem().unwrap_or_default();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(PublicKey::from_pem(&pub_pem).ok(), Some(key.public_key()));
        assert!(PrivateKey::from_pem("garbage").is_err());
    }

    /// A fixed RSA-2048 test key made once by `openssl genrsa -traditional
    /// 2048` (PKCS#1), with its SPKI from `openssl rsa -pubout`.
    pub(crate) const PKCS1_KEY: &str = r"-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAkUxOGvfhZ2maMcnRBjAGEUOrHQTFCwA7zS9mi/K7vD+cHf/6
0SOamq/BAeJqJTbWgxeQk+nP+92Ym7jXneAJSvlhIKYr/aPnka4Dz/J5WIioNoMP
vPvDxQ6gpM/iqmwHqoKm+a73CKPRf9XN8qzsjMhcyvVdckCMqQRjFXOEY4Jvc7eR
jsIzYpwxaald4RrEM4Y772objwlQKTcNtkmOuF2OT1GzK2O2V3gP/8+pjIjfFIct
WgHr7a5iuBUJyQgHf4mG+e7JS2otBI6unfMd85TwXJUZN00CnYJ4ey6gPEO7ltAg
Ooi/rkrpJVrv+W+f7kHDuncxzOFxEGdD1nnnGwIDAQABAoIBABfs2CmhqpiUL4NG
R6h8rOsX2OvQ1r9efPpm9TxTLm2rjcH03jCk67bP/PiZ9z+EfaMddL2ecRR4o0H1
GHATLYSOdttg8Xp1DFMVM+SAeVHGQuijASrtzAk9RN+OqbTFUCfYFrWjhWMDUqJ5
qs1sgxEVhw4WhBolnePQ6J3mJSUbXEnGm2MPPTAeuPVMFD+jNxNuPYzIk4p8cQC0
WjlR8NzRh/prDf6+m08cg3tuU1tzD72o3r/jYealruPqT/9e4kTcqKeQSevmlNAv
mIBQUyP08K+F3n9RhVOoBHIPd65yaye/6FTIWhhsGnZ7utstIkub0sgwx3iwAqL3
MTE+UPUCgYEAwOLTJ3/9WeBd+inQyPux0rN+GYm4r3VUaIGTdBerGjGD3WloWAww
qfDidhkZnIPCImKfpCDQt5MT1Sre7CfxCMGvJDnydtspK8S+470kxVKzB+9ifM6p
HHUwZI2m4xJXT3qyZllsoGbSmrU87fq6V5u15B/+1QI5rSx+ateU0pUCgYEAwNdB
WszdfccWZV1/g8+WEfLpZwmQcMKoZ0okCOKjkyt/fdM0px8K9NPOcBFwj63BaCq4
SICtK7fgy0NVyYRpi66pHS3GLRI9+abaG3cXZnzMfr6HT6ydw2x6i7lX02rZaxLs
FcmDe8QmaFpDq74cwpsD8mQk/IDX9hxxrK8Olu8CgYEAuFDHl6o9TcIR63hD05p4
LTBp4jtxaPDETOztG3V2ghwots3/8IsNgYb20AViLObW/wahKDRXXeREgmFqDd6I
/GYgV4yr/hmk+PcTtgnK9mf1PjLpOPw+KzxsltmpTLj9B6zmhtkS7R/0RfPEGmCJ
6ieYIzrTx3ZN6QZocu44fxUCgYBx8n+erLEwMiSsrsu7Uj0ly/hYtxEPYCZsKiYS
zgDD5I8IBXX2TmSF+GXiWJu/endvGtcbmFU7IQMGeHpHgiNvszwgjrysQzw1uX7l
fcBpAdNADUsdLC1onT/oMhOQTHG+UEcKNLGpv2TGgpe78rFB2KFDaCNmxKdXuMT+
uc4QJwKBgQCJPsDUC0EuNPJytIFF97U/trxrZ1IO+MNw+1VvYb2tN/GoaGmT3Nlv
V7O+EZw5yS1Pcd/U35BkTv8gg2tML0sdVHj49sMEBeugE95TOPIO97vdw5d/bi3M
NCl+E23vLJ56tCX2uHaSjq31cF6C5nTpSzxA1gq11YYg7+mwS4mwKQ==
-----END RSA PRIVATE KEY-----
";
    pub(crate) const PKCS1_KEY_SPKI: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkUxOGvfhZ2maMcnRBjAG
EUOrHQTFCwA7zS9mi/K7vD+cHf/60SOamq/BAeJqJTbWgxeQk+nP+92Ym7jXneAJ
SvlhIKYr/aPnka4Dz/J5WIioNoMPvPvDxQ6gpM/iqmwHqoKm+a73CKPRf9XN8qzs
jMhcyvVdckCMqQRjFXOEY4Jvc7eRjsIzYpwxaald4RrEM4Y772objwlQKTcNtkmO
uF2OT1GzK2O2V3gP/8+pjIjfFIctWgHr7a5iuBUJyQgHf4mG+e7JS2otBI6unfMd
85TwXJUZN00CnYJ4ey6gPEO7ltAgOoi/rkrpJVrv+W+f7kHDuncxzOFxEGdD1nnn
GwIDAQAB
-----END PUBLIC KEY-----
";
    /// The WeChat signing message `GET\n/v3/certificates\n1700000000\nKOUDAINONCE\n\n`.
    const MESSAGE: &[u8] = b"GET\n/v3/certificates\n1700000000\nKOUDAINONCE\n\n";
    /// `openssl dgst -sha256 -sign PKCS1_KEY` of MESSAGE, base64.
    const OPENSSL_SIGNATURE: &str = "dftGb9mzDUAKy8Xz/FlxVq2bqu/LZVn1zu/wrl3cqHV/ACaAnaubiLM5mNWr0Fm8y0jwK47Qn5jqo0qZZVQ7qy1EKLvx6QtWpARA0tw1RhokF2eg7aP8wZ3f4OL6dW+lXRfCxmfMhHYIPzNshIVkcH1vKKsCs7LD67/Pv47iM2N4z+G8zWYuqCDFBe0tHAnBtmdwfQJ3+B8x+YjyW0DvyE2g5pRyvZv7WH13iqgvUeTBTyfdPNsWcKBcGmyyxWsfdsQp16n7x470IgdLIfHhclQJBaFMTQJOjJX0ntocfYK28ZVTJrsZr6VGLrhi9KntzZldhBwOE9iFpt5Z35Xm+g==";
    /// `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep -pkeyopt
    /// rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1` of `13800138000` to PKCS1_KEY.
    const OPENSSL_OAEP: &str = "hQnN/yhvy/gis8WQXQz/V9QrxJp1ptNZRstTIMCl3yoN6CemEwTtd6fMQcUkk02XFFCTdaMjEIzfIPJ9r/CTXrBObIh4N3Af5LDmxZu67VB/Uby2OMDz7yBWwnHzf78Nd1+t1x9qlZbvqtWEnvxUUth7nWNhudJM8AfanzgscGWevjMA9laNuYXWs8xwrs4SWuMaIcjIoD/mdzDMP+Wz4F5XZS7CrzRoVmVjUAgb7YoiwKgZHUUjlLERq/dAAPRYC0qQ8U7dfCWpKsRa6FsdFqrz5ofCTluoH4Y88B4HaM1u9UkRe9AGrlJqAZVt0caQY8B0LvmnmJON8HTcKpFghA==";

    fn fixed_key() -> PrivateKey {
        PrivateKey::from_pem(PKCS1_KEY).unwrap()
    }

    #[test]
    fn pkcs1_keys_load_and_export_as_pkcs8() {
        let key = fixed_key();
        let spki = PublicKey::from_pem(PKCS1_KEY_SPKI).unwrap();
        assert_eq!(key.public_key(), spki);
        assert_eq!(key.public_key().to_pem().unwrap_or_default(), PKCS1_KEY_SPKI);
        let pkcs8 = key.to_pem().unwrap_or_default();
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(PrivateKey::from_pem(&pkcs8).map(|k| k.public_key()).ok(), Some(spki));
        // CRLF line endings, as Windows tools write them, load too.
        assert!(PrivateKey::from_pem(&PKCS1_KEY.replace('\n', "\r\n")).is_ok());
        // A public key is not a private key, nor the other way round.
        assert!(PrivateKey::from_pem(PKCS1_KEY_SPKI).is_err());
        assert!(PublicKey::from_pem(PKCS1_KEY).is_err());
        assert!(PrivateKey::from_pem(&PKCS1_KEY.replace("RSA PRIVATE", "PRIVATE")).is_err());
    }

    #[test]
    fn signatures_match_openssl() {
        let key = fixed_key();
        // PKCS#1 v1.5 is deterministic: the same bytes as OpenSSL.
        assert_eq!(key.sign(MESSAGE).ok().as_deref(), Some(OPENSSL_SIGNATURE));
        assert!(key.public_key().verify(MESSAGE, OPENSSL_SIGNATURE));
        assert!(!test_key().public_key().verify(MESSAGE, OPENSSL_SIGNATURE));
    }

    #[test]
    fn oaep_round_trips_and_reads_openssl() {
        let key = fixed_key();
        let ct = B64.decode(OPENSSL_OAEP).unwrap_or_default();
        assert_eq!(key.oaep_decrypt(&ct).ok(), Some(b"13800138000".to_vec()));

        let ct = key.public_key().oaep_encrypt("张三".as_bytes()).unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(key.oaep_decrypt(&ct).ok(), Some("张三".as_bytes().to_vec()));
        // Randomised: encrypting twice gives different ciphertexts.
        assert_ne!(key.public_key().oaep_encrypt("张三".as_bytes()).ok(), Some(ct.clone()));

        // The wrong key, a flipped bit, a truncation: all refused.
        assert!(matches!(test_key().oaep_decrypt(&ct), Err(KeyError::Decrypt)));
        let mut tampered = ct.clone();
        tampered[100] ^= 1;
        assert!(matches!(key.oaep_decrypt(&tampered), Err(KeyError::Decrypt)));
        assert!(matches!(key.oaep_decrypt(&ct[..255]), Err(KeyError::Decrypt)));
        // 2048-bit OAEP-SHA1 carries at most 214 bytes.
        assert!(key.public_key().oaep_encrypt(&[7; 214]).is_ok());
        assert!(matches!(key.public_key().oaep_encrypt(&[7; 215]), Err(KeyError::Encrypt)));
    }

    #[test]
    fn keys_do_not_print_secrets() {
        assert_eq!(format!("{:?}", fixed_key()), "PrivateKey(***)");
        assert!(format!("{:?}", fixed_key().public_key()).starts_with("PublicKey { key: RsaPublicKey(sha256:"));
    }
}
