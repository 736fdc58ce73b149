//! Rendering a page, and [`PageError`]: a page that cannot be shown, told
//! to a person (the log gets the cause of an internal failure, once).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use koudai_app::Internal;
use koudai_protocol::ErrorCode;

use crate::layers::internal_error;

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
