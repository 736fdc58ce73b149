//! Koudai's HTTP surfaces. [`router`] is the only place that knows every
//! surface; each surface owns its routes, its error type and the shape of
//! its answers:
//!
//! - [`v3`]: the WeChat Pay APIv3 wire protocol, signed requests and
//!   responses ([`v3::V3Error`]);
//! - [`mp`]: the Official Account APIs (`/cgi-bin/…` and `/sns/…`: tokens,
//!   menus, OAuth, the third-party platform, stores (POI) and parametric
//!   QR codes) and the WeChat Shop API (`/merchant/…`), errcode replies;
//! - [`sandbox`]: the sandbox API (`/sandbox/v1/…`: paying as a consumer,
//!   the business clock, callbacks, refund outcomes, parties, applications,
//!   official accounts, the shop, stores and discovery), bearer-token
//!   protected, off in live mode;
//! - [`web`]: the pages ([`web::PageError`]): the cashier and the JS
//!   bridge, the operator's, providers' and merchants' consoles, an
//!   official account's page and its shop, store pay codes, the discovery
//!   centre, the signing page, and the OAuth and third-party authorisation
//!   pages;
//! - `/healthz` and `/metrics`.
//!
//! [`layers`] wraps all of them: request id, one access-log line and the
//! metrics per request, internal causes of 5xx logged once, panics caught,
//! body size and time limited.

pub mod cache;
pub mod hygiene;
pub mod layers;
pub mod metrics;
pub mod mp;
pub mod ops;
pub mod outage;
pub mod sandbox;
pub mod serve;
pub mod state;
pub mod v3;
pub mod web;

use axum::routing::get;
use axum::Router;

pub use state::HttpState;

/// Every route of the server, with the layers over all of them.
pub fn router(state: HttpState) -> Router {
    let routes = Router::new()
        .merge(v3::routes(state.clone()))
        .merge(web::routes(state.clone()))
        .merge(sandbox::routes())
        .merge(mp::routes())
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .fallback(v3::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), outage::guard))
        .with_state(state.clone());
    layers::apply(routes, state)
}
