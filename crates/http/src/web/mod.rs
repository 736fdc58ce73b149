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
        .merge(cashier::routes().route_layer(axum::middleware::from_fn(clean_uri)))
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
