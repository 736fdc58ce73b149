//! The WeChat Pay APIv3 wire protocol, as a compatible server speaks it:
//! request authentication and response signing (RSA-SHA256), AEAD_AES_256_GCM,
//! platform and merchant certificates, RFC 3339 times, the JSON shapes of
//! requests and responses, and the error catalogue.
//!
//! This crate owns formats only. It decides nothing about orders or money,
//! and it performs no I/O beyond what its callers hand it.

pub mod aead;
pub mod auth;
pub mod bill;
pub mod cert;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod mp;
pub mod mp_crypto;
pub mod mp_xml;
pub mod multipart;
pub mod sign;
pub mod times;
pub mod wire;

pub use error::{ApiError, ErrorCode};
pub use keys::{PrivateKey, PublicKey};

/// The only signature scheme Koudai speaks, as named in headers.
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";

/// The AEAD algorithm of callback resources and certificate lists.
pub const AEAD_ALGORITHM: &str = "AEAD_AES_256_GCM";
