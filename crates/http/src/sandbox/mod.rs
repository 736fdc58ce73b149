//! The sandbox API (`/sandbox/v1/…`), for testing against Koudai without
//! a real consumer, operator or account owner:
//!
//! - `payments`: paying as a consumer (`pay`), the business clock (read
//!   and advance), callback deliveries (`notifications`), forced refund
//!   outcomes, and paying at a store's pay code (`storepay`);
//! - `parties`: a provider's privileges, deposits paid from outside, an
//!   application's audit, signing and signing code;
//! - `mp`: an official account's server and a consumer's push to it,
//!   OAuth consent, and the third-party platform's authorisation, verify
//!   ticket and event URL;
//! - `commerce`: an account's eligibility, the consumer's side of the
//!   shop (buy, confirm, rights), parametric QR code scans, the store
//!   (POI) audit, and the discovery centre (directory and traffic report).
//!
//! Bearer-token protected (compared in constant time): the platform's token
//! reaches everything, a merchant's only what is its own (`Scope`).
//! Absent in live mode. Errors use the `/v3` catalogue and shape, unsigned.

mod commerce;
mod mp;
mod parties;
mod payments;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use subtle::ConstantTimeEq as _;

use koudai_app::{App, Mode};
use koudai_domain::FieldError;
use koudai_protocol::ErrorCode;

use crate::state::HttpState;
use crate::v3::V3Error;

pub fn routes() -> Router<HttpState> {
    Router::new()
        // Payments, the clock, callbacks and refunds.
        .route("/sandbox/v1/pay", post(payments::pay))
        .route("/sandbox/v1/clock", get(payments::clock))
        .route("/sandbox/v1/clock/advance", post(payments::advance))
        .route("/sandbox/v1/notifications", get(payments::notifications))
        .route("/sandbox/v1/refunds/{out_refund_no}/outcome", post(payments::refund_outcome))
        .route("/sandbox/v1/storepay", post(payments::storepay))
        // Providers, merchants and their applications.
        .route("/sandbox/v1/privileges", post(parties::privileges))
        .route("/sandbox/v1/deposits", post(parties::deposits))
        .route("/sandbox/v1/applyments/{applyment_id}/audit", post(parties::applyment_audit))
        .route("/sandbox/v1/applyments/{applyment_id}/sign", post(parties::applyment_sign))
        .route("/sandbox/v1/applyments/{applyment_id}/sign-code", get(parties::applyment_sign_code))
        // Official accounts, OAuth and the third-party platform.
        .route("/sandbox/v1/mp/{appid}/server", post(mp::mp_server))
        .route("/sandbox/v1/mp/{appid}/push", post(mp::mp_push))
        .route("/sandbox/v1/oauth/authorize", post(mp::oauth_authorize))
        .route("/sandbox/v1/component/authorize", post(mp::component_authorize))
        .route("/sandbox/v1/component/{component_appid}/ticket", post(mp::component_ticket))
        .route("/sandbox/v1/component/{component_appid}/event-url", post(mp::component_event_url))
        // Eligibility, the shop, QR codes, stores and discovery.
        .route("/sandbox/v1/eligibility/{appid}", get(commerce::eligibility))
        .route("/sandbox/v1/shop/buy", post(commerce::shop_buy))
        .route("/sandbox/v1/shop/orders/{order_id}/confirm", post(commerce::shop_confirm))
        .route("/sandbox/v1/shop/orders/{order_id}/rights", post(commerce::shop_rights))
        .route("/sandbox/v1/qrcode/scan", post(commerce::qrcode_scan))
        .route("/sandbox/v1/poi/{poi_id}/audit", post(commerce::poi_audit))
        .route("/sandbox/v1/discovery", get(commerce::discovery))
        .route("/sandbox/v1/discovery/report", get(commerce::discovery_report))
        .route_layer(axum::middleware::from_fn(clean_uri))
}

/// Paths and queries the databases could not store are refused first.
async fn clean_uri(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match crate::v3::body::clean_uri(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// What a sandbox token may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// The operator's token: the whole sandbox.
    Platform,
    /// A merchant's token: its own orders, refunds and callbacks (and the
    /// shared business clock).
    Merchant(String),
}

impl Scope {
    /// Whether this token may act for `mchid`.
    fn covers(&self, mchid: &str) -> bool {
        match self {
            Scope::Platform => true,
            Scope::Merchant(own) => own == mchid,
        }
    }
}

async fn authorize(app: &App, headers: &HeaderMap) -> Result<Scope, V3Error> {
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

fn param(field: &str, message: &str) -> V3Error {
    V3Error::body_field(FieldError::new(field, message))
}

fn ok_json<T: serde::Serialize>(value: &T) -> Result<Response, V3Error> {
    let value = serde_json::to_value(value).map_err(|e| V3Error::bug(format!("serialising: {e}")))?;
    Ok(Json(value).into_response())
}

/// The official account a sandbox call names, if the token covers its owner.
async fn mp_account_for(app: &App, scope: &Scope, appid: &str) -> Result<koudai_store::MpAccount, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("公众号{appid}不存在"));
    let a = app.store.mp_account(appid).await.map_err(|e| V3Error::internal(e.into()))?.ok_or_else(missing)?;
    if !scope.covers(&a.owner_mchid) {
        return Err(missing());
    }
    Ok(a)
}
