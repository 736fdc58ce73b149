//! Web pages, server-rendered on compiled askama templates (one base layout,
//! one stylesheet, auto-escaping), usable without JavaScript. Today: the
//! cashier ([`cashier`]); its sessions and CSRF rules are in [`session`].

pub mod cashier;
mod page;
pub mod session;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::HttpState;

pub use page::PageError;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .merge(cashier::routes())
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

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}
