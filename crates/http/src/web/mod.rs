//! Web pages, server-rendered on compiled askama templates (one base layout,
//! one stylesheet, auto-escaping), usable without JavaScript:
//!
//! - the cashier ([`cashier`], `/pay/…`): Native, H5 and JSAPI payments;
//! - the consoles (`console`, `/console/…`) of the operator, providers and
//!   merchants;
//! - an official account's page as a consumer sees it (`account`,
//!   `/mp/{appid}`) and its shop (`shop`, `/mp/{appid}/shop`, `…/orders`);
//! - store pay codes (`storepay`, `/store/{poi_id}`);
//! - the discovery centre (`discover`, `/discover`);
//! - the signing page of an approved application (`signing`,
//!   `/sign/applyment`);
//! - the OAuth authorize page (`oauth`, `/connect/oauth2/authorize`) and
//!   the third-party platform's authorisation page (`component`,
//!   `/cgi-bin/componentloginpage`, `/safe/bindcomponent`);
//! - the stylesheet, the JSAPI overlay's script, and the JS bridge a
//!   merchant's page includes to open the overlay (`/static/…`).
//!
//! Consumer sessions and CSRF tokens are in [`session`], rendering and
//! [`PageError`] in `page`. Every page gets the security headers (content
//! policy, framing), a per-address rate limit, and the refusal of a URI or
//! form field no database column could hold.

pub(crate) mod account;
pub mod cashier;
mod component;
mod console;
mod discover;
mod oauth;
pub(crate) mod page;
pub mod session;
mod shop;
mod signing;
mod storepay;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::HttpState;

pub use page::PageError;

pub fn routes(state: HttpState) -> Router<HttpState> {
    Router::new()
        .merge(
            cashier::routes()
                .merge(console::routes())
                .merge(signing::routes())
                .merge(oauth::routes())
                .merge(account::routes())
                .merge(component::routes())
                .merge(shop::routes())
                .merge(storepay::routes())
                .merge(discover::routes())
                .route_layer(axum::middleware::from_fn(clean_uri))
                .route_layer(axum::middleware::from_fn(console::clean_forms))
                .route_layer(axum::middleware::from_fn_with_state(state, per_address))
                .layer(axum::middleware::from_fn(page_headers)),
        )
        .route("/static/app.css", get(|| asset("text/css; charset=utf-8", include_str!("../../static/app.css"))))
        .route(
            "/static/jsbridge.js",
            get(|| asset("application/javascript; charset=utf-8", include_str!("../../static/jsbridge.js"))),
        )
        .route(
            "/static/cashier.js",
            get(|| asset("application/javascript; charset=utf-8", include_str!("../../static/cashier.js"))),
        )
}

/// The pages' content policy: our own styles, scripts and forms only, no
/// plugins, no inline script. Pages under `/pay/jsapi` are the JSAPI
/// overlay and must be framed by merchants' pages (any origin); every other
/// page refuses to be framed at all.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'";

/// The OAuth page's form (and the third-party authorisation page's)
/// redirects to the developer's `redirect_uri`, and an
/// account page's view buttons to the menu's URL, on other origins, which
/// `form-action 'self'` would block.
const CSP_OAUTH: &str =
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; base-uri 'none'";

async fn page_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let overlay = req.uri().path().starts_with("/pay/jsapi");
    let path = req.uri().path();
    let redirects_away = path.starts_with("/connect/")
        || path.starts_with("/mp/")
        || path == "/cgi-bin/componentloginpage"
        || path == "/safe/bindcomponent";
    let csp = if redirects_away { CSP_OAUTH } else { CSP };
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let frame = if overlay { "frame-ancestors *" } else { "frame-ancestors 'none'" };
    if let Ok(v) = header::HeaderValue::from_str(&format!("{csp}; {frame}")) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if !overlay {
        h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    resp
}

/// At most [`crate::cache::PAGE_REQUESTS_PER_MINUTE`] page requests per
/// client address and minute; beyond that a 429 page. (Behind a reverse
/// proxy every client shares the proxy's address.)
async fn per_address(
    axum::extract::State(state): axum::extract::State<HttpState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    if let Some(ip) = peer {
        match state.page_rate.admit(ip, state.app.clock.wall_now().unix()) {
            Ok(true) => {}
            Ok(false) => {
                let mut resp = PageError::BadRequest("请求过于频繁，请稍后再试".into()).into_response();
                *resp.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
                return resp;
            }
            Err(e) => return PageError::Internal(e).into_response(),
        }
    }
    next.run(req).await
}

/// A link whose path or query holds a character no database column may
/// hold cannot lead to an order.
async fn clean_uri(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match crate::hygiene::check_uri(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(_) => PageError::NotFound("订单不存在或支付链接已失效".into()).into_response(),
    }
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}
