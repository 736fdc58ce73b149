//! Who may use the sandbox API and on what: the bearer token (the
//! operator's, or a merchant's for its own objects, compared in constant
//! time), and the small helpers every sandbox handler shares (the
//! `/v3`-shaped parameter error, a JSON answer, an official account the
//! token covers).

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use subtle::ConstantTimeEq as _;

use koudai_app::{App, Mode};
use koudai_domain::FieldError;
use koudai_protocol::ErrorCode;

use crate::v3::V3Error;

/// What a sandbox token may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scope {
    /// The operator's token: the whole sandbox.
    Platform,
    /// A merchant's token: its own orders, refunds and callbacks (and the
    /// shared business clock).
    Merchant(String),
}

impl Scope {
    /// Whether this token may act for `mchid`.
    pub(super) fn covers(&self, mchid: &str) -> bool {
        match self {
            Scope::Platform => true,
            Scope::Merchant(own) => own == mchid,
        }
    }
}

pub(super) async fn authorize(app: &App, headers: &HeaderMap) -> Result<Scope, V3Error> {
    if app.mode() == Mode::Live {
        return Err(V3Error::new(ErrorCode::NotFound));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Err(V3Error::new(ErrorCode::Unauthorized));
    }
    if bool::from(app.sandbox_token.expose().as_bytes().ct_eq(token.as_bytes())) {
        return Ok(Scope::Platform);
    }
    match app.store.merchant_of_sandbox_token(token).await.map_err(|e| V3Error::internal(e.into()))? {
        Some(mchid) => Ok(Scope::Merchant(mchid)),
        None => Err(V3Error::new(ErrorCode::Unauthorized)),
    }
}

pub(super) fn param(field: &str, message: &str) -> V3Error {
    V3Error::body_field(FieldError::new(field, message))
}

pub(super) fn ok_json<T: serde::Serialize>(value: &T) -> Result<Response, V3Error> {
    let value = serde_json::to_value(value).map_err(|e| V3Error::bug(format!("serialising: {e}")))?;
    Ok(Json(value).into_response())
}

/// The official account a sandbox call names, if the token covers its owner.
pub(super) async fn mp_account_for(app: &App, scope: &Scope, appid: &str) -> Result<koudai_store::MpAccount, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("公众号{appid}不存在"));
    let a = app.store.mp_account(appid).await.map_err(|e| V3Error::internal(e.into()))?.ok_or_else(missing)?;
    if !scope.covers(&a.owner_mchid) {
        return Err(missing());
    }
    Ok(a)
}
