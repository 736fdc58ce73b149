//! Web pages, server-rendered on compiled askama templates (one base layout,
//! one stylesheet, auto-escaping), usable without JavaScript. Today: the
//! cashier ([`cashier`]); its sessions and CSRF rules are in [`session`].

pub mod cashier;
pub mod session;

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use koudai_app::Internal;
use koudai_protocol::ErrorCode;

use crate::layers::internal_error;
use crate::HttpState;

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

/// Renders `page` with `status`; a template that fails to render is a bug,
/// answered with a 500 whose cause is logged.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            internal_error(ErrorCode::SystemError, format!("rendering {}: {e}", std::any::type_name_of_val(page)))
        }
    }
}

#[derive(Template)]
#[template(path = "cashier/error.html")]
struct ErrorPage<'a> {
    message: &'a str,
}

/// A page that cannot be shown, told to a person.
#[derive(Debug)]
pub enum PageError {
    /// Something the visitor asked for does not exist (404).
    NotFound(String),
    /// The request itself is wrong (400).
    BadRequest(String),
    /// Ours: the visitor sees "busy, try again", the log gets the cause.
    Internal(Internal),
}

impl From<Internal> for PageError {
    fn from(e: Internal) -> Self {
        PageError::Internal(e)
    }
}

impl From<koudai_store::StoreError> for PageError {
    fn from(e: koudai_store::StoreError) -> Self {
        PageError::Internal(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message, cause) = match self {
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m, None),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m, None),
            PageError::Internal(e) => {
                let status = if e.is_unavailable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                (status, "系统繁忙，请稍后重试".to_owned(), Some(e.to_string()))
            }
        };
        let mut resp = render(status, &ErrorPage { message: &message });
        if let Some(cause) = cause {
            resp.extensions_mut().insert(crate::layers::InternalCause(cause));
        }
        resp
    }
}

/// `12.34` for 1234 fen.
pub fn yuan(fen: i64) -> String {
    koudai_protocol::bill::yuan(fen)
}
