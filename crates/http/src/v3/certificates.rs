//! `GET /v3/certificates` (§1.4): the platform certificate, encrypted with
//! the merchant's APIv3 key; certificate-mode merchants only.

use axum::extract::State;
use axum::response::Response;

use koudai_protocol::wire::{CertificateEntry, CertificateList, EncryptCertificate};
use koudai_protocol::{aead, times, ErrorCode, AEAD_ALGORITHM};
use koudai_store::KeyMode;

use super::auth::Signed;
use super::body::ok;
use super::error::V3Error;
use crate::state::HttpState;

/// Length of the AEAD nonce WeChat uses.
const NONCE_LEN: usize = 12;

// https://pay.weixin.qq.com/doc/v3/merchant/4012551764 (下载平台证书)
pub async fn list(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    if req.mode() == KeyMode::PublicKey {
        return Err(V3Error::message(
            ErrorCode::ResourceNotExists,
            "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。",
        ));
    }
    let cert = &state.app.platform.certificate;
    let nonce = state.app.rng.token(NONCE_LEN);
    let ciphertext = aead::encrypt(req.merchant.apiv3_key.expose(), &nonce, "certificate", cert.pem.as_bytes())
        .map_err(|e| V3Error::bug(format!("encrypting the certificate: {e}")))?;
    ok(&CertificateList {
        data: vec![CertificateEntry {
            serial_no: cert.serial_hex.clone(),
            effective_time: times::format_rfc3339(cert.not_before_s),
            expire_time: times::format_rfc3339(cert.not_after_s),
            encrypt_certificate: EncryptCertificate {
                algorithm: AEAD_ALGORITHM,
                nonce,
                associated_data: "certificate",
                ciphertext,
            },
        }],
    })
}
