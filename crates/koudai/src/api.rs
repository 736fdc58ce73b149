//! The WeChat Pay APIv3 surface (`/v3/…`): request authentication, response
//! signing, and the handlers, each a thin shell around [`crate::payments`].

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use koudai_domain::TradeType;
use koudai_protocol::auth::{parse_authorization, request_message, response_message};
use koudai_protocol::wire::{CertificateEntry, CertificateList, EncryptCertificate};
use koudai_protocol::{aead, times, ApiError, ErrorCode, SIGNATURE_TYPE};
use koudai_store::{KeyMode, Merchant, StoreError};

use crate::app::{CachedMerchantKey, SharedState};
use crate::demo::random_token;
use crate::payments;

/// How far a request's timestamp may be from the wall clock.
const TIMESTAMP_WINDOW_S: i64 = 300;
/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Nonce memory is swept when it grows past this many entries.
const NONCE_SWEEP_AT: usize = 100_000;

pub fn routes(state: SharedState) -> Router<SharedState> {
    Router::new()
        .route("/v3/certificates", get(certificates))
        .route("/v3/pay/transactions/jsapi", post(prepay_jsapi))
        .route("/v3/pay/transactions/native", post(prepay_native))
        .route("/v3/pay/transactions/h5", post(prepay_h5))
        .route("/v3/pay/transactions/app", post(prepay_app))
        .route("/v3/pay/transactions/id/{transaction_id}", get(query_by_id))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}", get(query_by_out_trade_no))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", post(close))
        .route("/v3/refund/domestic/refunds", post(create_refund))
        .route("/v3/refund/domestic/refunds/{out_refund_no}", get(query_refund))
        .route("/v3/bill/tradebill", get(trade_bill))
        .route("/v3/bill/fundflowbill", get(fund_flow_bill))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state, sign_responses))
        // The bill file itself is not signed (§6.2); the request is.
        .route("/v3/billdownload/file", get(download_bill))
}

/// An error on the way to a response, with what is known about how to sign
/// it and, for 5xx, the internal cause to log (never to send).
#[derive(Debug)]
pub struct ApiFailure {
    pub error: ApiError,
    pub mode: Option<KeyMode>,
    pub internal: Option<String>,
}

impl From<ApiError> for ApiFailure {
    fn from(error: ApiError) -> Self {
        ApiFailure { error, mode: None, internal: None }
    }
}

impl From<StoreError> for ApiFailure {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            StoreError::NotFound | StoreError::Conflict(_) | StoreError::Other(_) => ErrorCode::SystemError,
        };
        ApiFailure { error: ApiError::new(code), mode: None, internal: Some(e.to_string()) }
    }
}

impl ApiFailure {
    pub fn mode(mut self, mode: KeyMode) -> Self {
        self.mode = Some(mode);
        self
    }
}

/// The internal cause of a 5xx, carried to the logging layer.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp =
            (status, [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], self.error.body())
                .into_response();
        if let Some(mode) = self.mode {
            resp.extensions_mut().insert(mode);
        }
        if let Some(cause) = self.internal {
            resp.extensions_mut().insert(InternalCause(cause));
        }
        resp
    }
}

/// A JSON 200 signed in `mode`.
fn ok_json(mode: KeyMode, body: Vec<u8>) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.extensions_mut().insert(mode);
    resp
}

fn no_content(mode: KeyMode) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.extensions_mut().insert(mode);
    resp
}

/// The key mode to sign with when the merchant is unknown: the one the
/// request's `Wechatpay-Serial` names, else the certificate.
fn mode_hint(headers: &HeaderMap) -> KeyMode {
    match headers.get("wechatpay-serial").and_then(|v| v.to_str().ok()) {
        Some(s) if s.starts_with("PUB_KEY_ID_") => KeyMode::PublicKey,
        _ => KeyMode::Certificate,
    }
}

/// Signs every response of the APIv3 surface (2xx, 204 and errors alike)
/// and adds the headers WeChat sends.
async fn sign_responses(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let hint = mode_hint(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let mode = parts.extensions.get::<KeyMode>().copied().unwrap_or(hint);
    let request_id = format!("KD{}", random_token(30)).to_ascii_uppercase();
    if let Some(InternalCause(cause)) = parts.extensions.get::<InternalCause>() {
        tracing::error!(request.id = %request_id, http.method = %method, http.path = %path, error = %cause, "request failed");
    }
    let timestamp = state.clock.wall_now().to_string();
    let nonce = random_token(32).to_ascii_lowercase();
    let signature = state.platform.key.sign(&response_message(&timestamp, &nonce, &bytes));
    let h = &mut parts.headers;
    let pairs = [
        ("content-type", "application/json; charset=utf-8".to_owned()),
        ("content-language", "zh-CN".to_owned()),
        ("cache-control", "no-cache, must-revalidate".to_owned()),
        ("x-content-type-options", "nosniff".to_owned()),
        ("request-id", request_id),
        ("wechatpay-timestamp", timestamp),
        ("wechatpay-nonce", nonce),
        ("wechatpay-signature", signature),
        ("wechatpay-serial", state.platform.serial_for(mode).to_owned()),
        ("wechatpay-signature-type", SIGNATURE_TYPE.to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A request whose `Authorization` verified against one of the merchant's
/// certificates.
pub struct Signed {
    pub merchant: Merchant,
    pub body: Bytes,
    pub query: Option<String>,
}

impl Signed {
    pub fn mode(&self) -> KeyMode {
        self.merchant.key_mode
    }

    /// A query parameter (raw, as sent).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }
}

fn sign_error(message: &str, issue: &str, sign_information: Option<serde_json::Value>) -> ApiError {
    let mut detail = json!({"field": "signature", "location": "authorization", "detail": {"issue": issue}});
    if let (Some(info), Some(obj)) = (sign_information, detail.as_object_mut()) {
        obj.insert("sign_information".into(), info);
    }
    ApiError::with_message(ErrorCode::SignError, message).detail(detail)
}

impl FromRequest<SharedState> for Signed {
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let target =
            parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| parts.uri.path().to_owned());
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::with_message(ErrorCode::ParamError, "请求体过大或不完整"))?;
        let merchant = authenticate(state, parts.method.as_str(), &target, &parts.headers, &body).await?;
        Ok(Signed { merchant, body, query: parts.uri.query().map(str::to_owned) })
    }
}

/// Checks the `Authorization` header exactly as §1 of the protocol notes
/// describes: scheme and parameters, the 5-minute window on the wall clock,
/// the merchant's certificate by serial (any case), the RSA signature over
/// the raw request line and body, and nonce reuse.
pub async fn authenticate(
    state: &SharedState,
    method: &str,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Merchant, ApiFailure> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| sign_error("Http头缺少Authorization或格式错误", "authorization header missing", None))?;
    let params = parse_authorization(header).map_err(|e| sign_error("Authorization不合法", &e.to_string(), None))?;
    let ts: i64 = params.timestamp.parse().map_err(|_| {
        sign_error("Http头Authorization中的timestamp不合法", "timestamp is not a number of seconds", None)
    })?;
    let now = state.clock.wall_now();
    if (now - ts).abs() > TIMESTAMP_WINDOW_S {
        return Err(sign_error(
            "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟",
            "timestamp outside the 5-minute window",
            None,
        )
        .into());
    }
    let cached = merchant_key(state, &params.mchid, &params.serial_no).await?.ok_or_else(|| {
        ApiFailure::from(sign_error(
            "Http头Authorization中的serial_no对应的商户证书不存在",
            "unknown mchid or serial_no",
            None,
        ))
    })?;
    let mode = cached.merchant.key_mode;
    let message = request_message(method, target, &params.timestamp, &params.nonce_str, body);
    if !cached.public_key.verify(&message, &params.signature) {
        let truncated: String = String::from_utf8_lossy(&message).chars().take(64).collect();
        let info = json!({
            "method": method,
            "url": target,
            "sign_message_length": message.len(),
            "truncated_sign_message": truncated,
        });
        return Err(ApiFailure::from(sign_error("签名错误，请检查后再试", "sign not match", Some(info))).mode(mode));
    }
    if !remember_nonce(state, &params.mchid, &params.nonce_str, now) {
        return Err(
            ApiFailure::from(sign_error("Http头Authorization中的nonce_str已被使用", "nonce replayed", None)).mode(mode)
        );
    }
    Ok(cached.merchant)
}

/// Records a nonce; false if it was seen within the window already.
fn remember_nonce(state: &SharedState, mchid: &str, nonce: &str, now: i64) -> bool {
    let Ok(mut seen) = state.nonces.lock() else {
        return false;
    };
    if seen.len() >= NONCE_SWEEP_AT {
        seen.retain(|_, forget_at| *forget_at > now);
    }
    let key = (mchid.to_owned(), nonce.to_owned());
    match seen.get(&key) {
        Some(forget_at) if *forget_at > now => false,
        _ => {
            seen.insert(key, now + 2 * TIMESTAMP_WINDOW_S);
            true
        }
    }
}

/// The merchant and public key for `(mchid, serial)`, cached after the
/// first lookup.
pub async fn merchant_key(
    state: &SharedState,
    mchid: &str,
    serial: &str,
) -> Result<Option<CachedMerchantKey>, ApiFailure> {
    let key = (mchid.to_owned(), serial.to_ascii_uppercase());
    if let Some(hit) = state.merchant_keys.read().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(Some(hit));
    }
    let Some(merchant) = state.store.merchant(mchid).await? else {
        return Ok(None);
    };
    let Some(cert) = state.store.merchant_certificate(mchid, serial).await? else {
        return Ok(None);
    };
    let public_key = koudai_protocol::PublicKey::from_pem(&cert.public_key_pem).map_err(|e| ApiFailure {
        error: ApiError::new(ErrorCode::SystemError),
        mode: None,
        internal: Some(format!("stored public key of {mchid}/{serial}: {e}")),
    })?;
    let entry = CachedMerchantKey { merchant, public_key };
    if let Ok(mut m) = state.merchant_keys.write() {
        m.insert(key, entry.clone());
    }
    Ok(Some(entry))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012551764 (下载平台证书)
async fn certificates(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    let mode = req.mode();
    if mode == KeyMode::PublicKey {
        return Err(ApiFailure::from(ApiError::with_message(
            ErrorCode::ResourceNotExists,
            "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。",
        ))
        .mode(mode));
    }
    let cert = &state.platform.certificate;
    let nonce = random_token(12);
    let ciphertext =
        aead::encrypt(&req.merchant.apiv3_key, &nonce, "certificate", cert.pem.as_bytes()).map_err(|e| ApiFailure {
            error: ApiError::new(ErrorCode::SystemError),
            mode: Some(mode),
            internal: Some(format!("encrypting certificate: {e}")),
        })?;
    let list = CertificateList {
        data: vec![CertificateEntry {
            serial_no: cert.serial_hex.clone(),
            effective_time: times::format_rfc3339(cert.not_before_s),
            expire_time: times::format_rfc3339(cert.not_after_s),
            encrypt_certificate: EncryptCertificate {
                algorithm: "AEAD_AES_256_GCM",
                nonce,
                associated_data: "certificate",
                ciphertext,
            },
        }],
    };
    Ok(ok_json(mode, serde_json::to_vec(&list).unwrap_or_default()))
}

async fn prepay(state: SharedState, req: Signed, trade_type: TradeType) -> Result<Response, ApiFailure> {
    let mode = req.mode();
    let body = payments::prepay(&state, &req.merchant, trade_type, &req.body).await.map_err(|f| f.mode(mode))?;
    Ok(ok_json(mode, body))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791897 (JSAPI下单)
async fn prepay_jsapi(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    prepay(state, req, TradeType::Jsapi).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791877 (Native下单)
async fn prepay_native(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    prepay(state, req, TradeType::Native).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791834 (H5下单)
async fn prepay_h5(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    prepay(state, req, TradeType::H5).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791856 (APP下单)
async fn prepay_app(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    prepay(state, req, TradeType::App).await
}

/// The `mchid` query parameter of the query endpoints: required, and it must
/// be the signer's own.
fn query_mchid(req: &Signed) -> Result<(), ApiFailure> {
    match req.query_param("mchid") {
        None | Some("") => {
            Err(ApiFailure::from(ApiError::field(koudai_domain::FieldError::missing("mchid"), "query"))
                .mode(req.mode()))
        }
        Some(m) if m != req.merchant.mchid => {
            Err(ApiFailure::from(ApiError::with_message(ErrorCode::NoAuth, "请求中的mchid与签名的商户号不一致"))
                .mode(req.mode()))
        }
        Some(_) => Ok(()),
    }
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791899 (微信支付订单号查询订单)
async fn query_by_id(
    State(state): State<SharedState>,
    Path(transaction_id): Path<String>,
    req: Signed,
) -> Result<Response, ApiFailure> {
    query_mchid(&req)?;
    let order = state
        .store
        .order_by_transaction_id(&req.merchant.mchid, &transaction_id)
        .await
        .map_err(|e| ApiFailure::from(e).mode(req.mode()))?;
    respond_order(&state, &req, order)
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791900 (商户订单号查询订单)
async fn query_by_out_trade_no(
    State(state): State<SharedState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, ApiFailure> {
    query_mchid(&req)?;
    let order = state
        .store
        .order_by_out_trade_no(&req.merchant.mchid, &out_trade_no)
        .await
        .map_err(|e| ApiFailure::from(e).mode(req.mode()))?;
    respond_order(&state, &req, order)
}

fn respond_order(
    state: &SharedState,
    req: &Signed,
    order: Option<koudai_store::Order>,
) -> Result<Response, ApiFailure> {
    let order = order.ok_or_else(|| ApiFailure::from(ApiError::new(ErrorCode::OrderNotExist)).mode(req.mode()))?;
    let view = payments::transaction_view(&order, state.clock.business_now());
    Ok(ok_json(req.mode(), serde_json::to_vec(&view).unwrap_or_default()))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791901 (关闭订单)
async fn close(
    State(state): State<SharedState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, ApiFailure> {
    let mode = req.mode();
    payments::close(&state, &req.merchant, &out_trade_no, &req.body).await.map_err(|f| f.mode(mode))?;
    Ok(no_content(mode))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791862 (退款申请)
async fn create_refund(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    let mode = req.mode();
    let refund = crate::refunds::create(&state, &req.merchant, &req.body).await.map_err(|f| f.mode(mode))?;
    Ok(ok_json(mode, serde_json::to_vec(&refund).unwrap_or_default()))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791863 (查询单笔退款)
async fn query_refund(
    State(state): State<SharedState>,
    Path(out_refund_no): Path<String>,
    req: Signed,
) -> Result<Response, ApiFailure> {
    let mode = req.mode();
    let refund = crate::refunds::query(&state, &req.merchant, &out_refund_no).await.map_err(|f| f.mode(mode))?;
    Ok(ok_json(mode, serde_json::to_vec(&refund).unwrap_or_default()))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791868 (申请交易账单)
async fn trade_bill(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    let mode = req.mode();
    let link = crate::bills::trade_bill(
        &state,
        &req.merchant.mchid,
        req.query_param("bill_date"),
        req.query_param("bill_type"),
        req.query_param("tar_type"),
    )
    .await
    .map_err(|f| f.mode(mode))?;
    Ok(ok_json(mode, serde_json::to_vec(&link).unwrap_or_default()))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791869 (申请资金账单)
async fn fund_flow_bill(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    let mode = req.mode();
    let link = crate::bills::fund_flow_bill(
        &state,
        &req.merchant.mchid,
        req.query_param("bill_date"),
        req.query_param("account_type"),
        req.query_param("tar_type"),
    )
    .await
    .map_err(|f| f.mode(mode))?;
    Ok(ok_json(mode, serde_json::to_vec(&link).unwrap_or_default()))
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791870 (下载账单)
async fn download_bill(State(state): State<SharedState>, req: Signed) -> Result<Response, ApiFailure> {
    let (bytes, gzip) = crate::bills::download(&state, &req.merchant.mchid, req.query_param("token")).await?;
    let content_type = if gzip { "application/x-gzip" } else { "text/plain; charset=utf-8" };
    Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// 404 in the catalogue's shape for every unknown path.
pub async fn not_found() -> ApiFailure {
    ApiError::new(ErrorCode::NotFound).into()
}

async fn method_not_allowed() -> ApiFailure {
    ApiError::new(ErrorCode::MethodNotAllowed).into()
}
