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
//! Bearer-token protected (compared in constant time, `access`): the
//! platform's token reaches everything, a merchant's only what is its own
//! (`Scope`). Absent in live mode. Errors use the `/v3` catalogue and shape,
//! unsigned. This module only names the routes; what the handlers share is
//! in `access`.

mod access;
mod commerce;
mod mp;
mod parties;
mod payments;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::state::HttpState;

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
