//! Answers while the database does not answer (`koudai_app::runtime::health`):
//! every request but `/healthz` gets "unavailable" at once, and a request
//! already waiting on the database when it is found unreachable gets it
//! then, instead of waiting for a connection that will not answer. Each
//! surface says it in its own shape: a 503 `SERVICE_UNAVAILABLE` on `/v3`,
//! the sandbox and everything else in JSON, the official-account family's
//! `{"errcode": -1, "errmsg": "system error"}` (HTTP 200, as WeChat answers
//! when busy), and the busy page to a browser.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use koudai_app::Internal;
use koudai_protocol::ErrorCode;
use koudai_store::StoreError;

use crate::layers::internal_error;
use crate::mp::error::Failure;
use crate::state::HttpState;
use crate::web::page::PageError;

/// The middleware (see the module).
pub async fn guard(State(state): State<HttpState>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let shape = Shape::of(&req);
    match state.app.database.while_reachable(next.run(req)).await {
        Some(resp) => resp,
        None => shape.unavailable(),
    }
}

/// How the request's surface says "unavailable".
#[derive(Debug, Clone, Copy)]
enum Shape {
    Json,
    Mp,
    Page,
}

impl Shape {
    fn of(req: &Request) -> Shape {
        let path = req.uri().path();
        let wants_html = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if wants_html {
            Shape::Page
        } else if ["/cgi-bin/", "/sns/", "/merchant/"].iter().any(|p| path.starts_with(p)) {
            Shape::Mp
        } else {
            Shape::Json
        }
    }

    fn unavailable(self) -> Response {
        const WHY: &str = "the database does not answer";
        let gone = || Internal::Store(StoreError::Unavailable(WHY.to_owned()));
        match self {
            Shape::Json => internal_error(ErrorCode::ServiceUnavailable, WHY.to_owned()),
            Shape::Mp => Failure::Internal(gone()).into_response(),
            Shape::Page => PageError::Internal(gone()).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn request(path: &str, accept: &str) -> Request {
        Request::builder().uri(path).header(header::ACCEPT, accept).body(axum::body::Body::empty()).unwrap_or_default()
    }

    #[test]
    fn each_surface_says_unavailable_in_its_own_shape() {
        let v3 = Shape::of(&request("/v3/pay/transactions/native", "application/json")).unavailable();
        assert_eq!(v3.status(), StatusCode::SERVICE_UNAVAILABLE);
        let mp = Shape::of(&request("/cgi-bin/menu/get", "*/*")).unavailable();
        assert_eq!(mp.status(), StatusCode::OK, "WeChat's -1 system error");
        let page = Shape::of(&request("/console", "text/html,application/xhtml+xml")).unavailable();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(page
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .starts_with("text/html"));
    }
}
