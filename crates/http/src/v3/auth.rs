//! Request authentication exactly as §1 of the protocol notes describes:
//! scheme and parameters, the 5-minute window on the wall clock, the
//! merchant's certificate by serial (any case), the RSA signature over the
//! raw request line and body, and nonce reuse.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::json;

use koudai_domain::FieldError;
use koudai_protocol::auth::{parse_authorization, request_message};
use koudai_protocol::{ApiError, ErrorCode, PublicKey};
use koudai_store::{KeyMode, Merchant};

use super::body::{clean_uri, json_body, MAX_BODY_BYTES};
use super::error::V3Error;
use super::sign::KeyModeSlot;
use crate::state::HttpState;

/// The body reader stays reachable here too (`tests/fuzz.rs` calls it as
/// `v3::auth::json_value`).
pub use super::body::json_value;

/// How far a request's timestamp may be from the wall clock.
const TIMESTAMP_WINDOW_S: i64 = 300;

/// How long a merchant row is reused (wall milliseconds): long enough to
/// spare the database a query on every request, short enough that a changed
/// APIv3 key or key mode is seen within seconds on every node.
const MERCHANT_TTL_MS: i64 = 5_000;

/// A request whose `Authorization` verified against one of the merchant's
/// certificates.
pub struct Signed {
    pub merchant: Merchant,
    pub body: Bytes,
    query: Option<String>,
    /// `Wechatpay-Serial` of the request: which platform key encrypted its
    /// sensitive fields (§2.5).
    pub serial: Option<String>,
}

impl Signed {
    pub fn mode(&self) -> KeyMode {
        self.merchant.key_mode
    }

    /// The query string, decoded into `T`; a `PARAM_ERROR` naming the
    /// parameter at fault otherwise.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, V3Error> {
        let raw = self.query.as_deref().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            V3Error::field(FieldError::new(&field, format!("参数“{field}”不合法：{}", e.inner())), "query")
        })
    }

    /// The body as JSON `T`; `PARAM_ERROR` with the JSON path at fault.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, V3Error> {
        json_body(&self.body)
    }
}

fn sign_error(message: &str, issue: &str, sign_information: Option<serde_json::Value>) -> V3Error {
    let mut detail = json!({"field": "signature", "location": "authorization", "detail": {"issue": issue}});
    if let (Some(info), Some(obj)) = (sign_information, detail.as_object_mut()) {
        obj.insert("sign_information".into(), info);
    }
    V3Error { error: ApiError::with_message(ErrorCode::SignError, message).detail(detail), cause: None }
}

impl FromRequest<HttpState> for Signed {
    type Rejection = V3Error;

    async fn from_request(req: Request, state: &HttpState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        clean_uri(&parts.uri)?;
        let target =
            parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| parts.uri.path().to_owned());
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| V3Error::message(ErrorCode::ParamError, "请求体过大或不完整"))?;
        let slot = parts.extensions.get::<KeyModeSlot>();
        let merchant = authenticate(state, slot, parts.method.as_str(), &target, &parts.headers, &body).await?;
        let serial = parts
            .headers
            .get("wechatpay-serial")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Ok(Signed { merchant, body, query: parts.uri.query().map(str::to_owned), serial })
    }
}

pub(crate) async fn authenticate(
    state: &HttpState,
    slot: Option<&KeyModeSlot>,
    method: &str,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Merchant, V3Error> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| sign_error("Http头缺少Authorization或格式错误", "authorization header missing", None))?;
    let params = parse_authorization(header).map_err(|e| sign_error("Authorization不合法", &e.to_string(), None))?;
    let ts: i64 = params.timestamp.parse().map_err(|_| {
        sign_error("Http头Authorization中的timestamp不合法", "timestamp is not a number of seconds", None)
    })?;
    let now = state.app.clock.wall_now().unix();
    if now.abs_diff(ts) > TIMESTAMP_WINDOW_S.unsigned_abs() {
        return Err(sign_error(
            "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟",
            "timestamp outside the 5-minute window",
            None,
        ));
    }
    let unknown =
        || sign_error("Http头Authorization中的serial_no对应的商户证书不存在", "unknown mchid or serial_no", None);
    let merchant = merchant_row(state, &params.mchid).await?.ok_or_else(unknown)?;
    if let Some(slot) = slot {
        slot.set(merchant.key_mode);
    }
    let public_key = merchant_key(state, &params.mchid, &params.serial_no).await?.ok_or_else(unknown)?;
    let message = request_message(method, target, &params.timestamp, &params.nonce_str, body);
    if !public_key.verify(&message, &params.signature) {
        let truncated: String = String::from_utf8_lossy(&message).chars().take(64).collect();
        let info = json!({
            "method": method,
            "url": target,
            "sign_message_length": message.len(),
            "truncated_sign_message": truncated,
        });
        return Err(sign_error("签名错误，请检查后再试", "sign not match", Some(info)));
    }
    if !remember_nonce(state, &params.mchid, &params.nonce_str, ts, now).await? {
        return Err(sign_error("Http头Authorization中的nonce_str已被使用", "nonce replayed", None));
    }
    Ok(merchant)
}

/// Records a nonce; false if it was seen within the window already. A nonce
/// is kept until its request's timestamp (`ts`) has left the window for
/// good — ten minutes after `ts` — so the same request can never come back
/// inside the window, not even one stamped at the window's far edge.
///
/// The nonces live in the database on both engines, written before the
/// request is served: every node, and a node restarted a second later (or
/// killed), refuses a replay, and a request stamped before a restart but
/// inside the window is accepted like any other.
async fn remember_nonce(state: &HttpState, mchid: &str, nonce: &str, ts: i64, now: i64) -> Result<bool, V3Error> {
    let forget_at = ts.saturating_add(2 * TIMESTAMP_WINDOW_S).max(now);
    state.app.store.remember_nonce(mchid, nonce, forget_at, now).await.map_err(|e| V3Error::internal(e.into()))
}

fn poisoned() -> V3Error {
    V3Error::bug("the merchant cache's lock is poisoned")
}

/// The merchant row of `mchid`, at most [`MERCHANT_TTL_MS`] old.
async fn merchant_row(state: &HttpState, mchid: &str) -> Result<Option<Merchant>, V3Error> {
    let now_ms = state.app.clock.wall_now_ms();
    let rows = &state.merchant_keys.rows;
    if let Some((m, at)) = rows.read().map_err(|_| poisoned())?.get(mchid) {
        if now_ms - at < MERCHANT_TTL_MS {
            return Ok(Some(m.clone()));
        }
    }
    let fresh = state.app.store.merchant(mchid).await.map_err(|e| V3Error::internal(e.into()))?;
    let mut rows = rows.write().map_err(|_| poisoned())?;
    match &fresh {
        Some(m) => {
            rows.insert(mchid.to_owned(), (m.clone(), now_ms));
        }
        None => {
            rows.remove(mchid);
        }
    }
    Ok(fresh)
}

/// The public key of `(mchid, serial)`, cached after the first lookup.
pub async fn merchant_key(state: &HttpState, mchid: &str, serial: &str) -> Result<Option<PublicKey>, V3Error> {
    let key = (mchid.to_owned(), serial.to_ascii_uppercase());
    let cache = &state.merchant_keys.keys;
    if let Some(hit) = cache.read().map_err(|_| poisoned())?.get(&key) {
        return Ok(Some(hit.clone()));
    }
    let Some(cert) =
        state.app.store.merchant_certificate(mchid, serial).await.map_err(|e| V3Error::internal(e.into()))?
    else {
        return Ok(None);
    };
    let public_key = PublicKey::from_pem(&cert.public_key_pem)
        .map_err(|e| V3Error::bug(format!("stored public key of {mchid}/{serial}: {e}")))?;
    cache.write().map_err(|_| poisoned())?.insert(key, public_key.clone());
    Ok(Some(public_key))
}
