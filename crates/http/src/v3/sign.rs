//! Signs every response of the APIv3 surface (2xx, 204 and errors alike)
//! and adds the headers WeChat sends. The key mode to sign in is the
//! merchant's, which the [`super::auth::Signed`] extractor writes into a
//! [`KeyModeSlot`] this middleware put in the request; when no merchant was
//! identified, the mode the request's `Wechatpay-Serial` suggests.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use koudai_protocol::sign::SignedHeaders;
use koudai_protocol::ErrorCode;
use koudai_store::KeyMode;

use crate::layers::{internal_error, MAX_BODY_BYTES};

use super::error::V3Error;
use crate::state::HttpState;

/// Where the extractor leaves the merchant's key mode for the signer.
#[derive(Clone, Default)]
pub struct KeyModeSlot(Arc<OnceLock<KeyMode>>);

impl KeyModeSlot {
    pub fn set(&self, mode: KeyMode) {
        let _ = self.0.set(mode);
    }

    fn get(&self) -> Option<KeyMode> {
        self.0.get().copied()
    }
}

/// The key mode to sign with when the merchant is unknown: the one the
/// request's `Wechatpay-Serial` names, else the certificate.
fn mode_hint(headers: &HeaderMap) -> KeyMode {
    match headers.get("wechatpay-serial").and_then(|v| v.to_str().ok()) {
        Some(s) if s.starts_with("PUB_KEY_ID_") => KeyMode::PublicKey,
        _ => KeyMode::Certificate,
    }
}

const FIXED_HEADERS: [(&str, &str); 4] = [
    ("content-language", "zh-CN"),
    ("cache-control", "no-cache, must-revalidate"),
    ("x-content-type-options", "nosniff"),
    ("content-type", "application/json; charset=utf-8"),
];

pub async fn sign_responses(State(state): State<HttpState>, mut req: Request, next: Next) -> Response {
    let hint = mode_hint(req.headers());
    let slot = KeyModeSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        // The surface's body limit answered before the handler: say it as
        // the catalogue does, and sign it like every other answer.
        resp = V3Error::message(ErrorCode::ParamError, "请求体过大或不完整")
            .detail(serde_json::json!({"location": "body"}))
            .into_response();
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return internal_error(ErrorCode::SystemError, format!("reading the response to sign it: {e}")),
    };
    let app = &state.app;
    let mode = slot.get().unwrap_or(hint);
    let signed = match SignedHeaders::new(
        &app.platform.key,
        app.platform.serial_for(mode),
        app.clock.wall_now().unix(),
        app.rng.token(32),
        &bytes,
    ) {
        Ok(s) => s,
        Err(e) => return internal_error(ErrorCode::SystemError, format!("signing the response: {e}")),
    };
    let h = &mut parts.headers;
    for (name, value) in FIXED_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in signed.pairs() {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                h.insert(name, v);
            }
            Err(_) => return internal_error(ErrorCode::SystemError, format!("header {name} is not a header value")),
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
