//! What every request goes through, on every surface: a request id (on the
//! response as `Request-ID`, and on every log line of the request through
//! its span), a time limit, panics turned into a generic 500, a body size
//! limit, one access-log line, the request metrics, and the internal cause
//! of any 5xx logged once — here, and nowhere else.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument as _;

use koudai_protocol::{ApiError, ErrorCode};

use crate::state::HttpState;

/// Largest request body on any surface: a ceiling, checked before any
/// surface sees the request. Surfaces keep tighter limits of their own and
/// answer them in their own shape (the `/v3` surface signed, at 1 MiB;
/// media uploads at 6 MiB).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Longest a handler may take before the client gets a 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Length of the random part of a request id.
const REQUEST_ID_LEN: usize = 30;

/// The request's id, in its extensions for handlers that want to show it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Why a response is a 5xx, for the log; never sent to the client.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

/// Wraps `routes` in the layers every surface shares.
pub fn apply(routes: Router, state: HttpState) -> Router {
    routes
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state, observe))
}

/// The protocol's generic 500, with the panic's message as its cause.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    internal_error(ErrorCode::SystemError, format!("panic: {message}"))
}

/// A generic 5xx in the catalogue's shape carrying `cause` for the log.
pub fn internal_error(code: ErrorCode, cause: String) -> Response {
    let error = ApiError::new(code);
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp =
        (status, [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], error.body()).into_response();
    resp.extensions_mut().insert(InternalCause(cause));
    resp
}

async fn observe(State(state): State<HttpState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = format!("KD{}", state.app.rng.token(REQUEST_ID_LEN)).to_ascii_uppercase();
    let method = req.method().clone();
    // The route template, never the raw path: ids in paths would make one
    // metric series per order.
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request.id = %id, http.method = %method, http.route = %route);
    let mut resp = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req).instrument(span.clone())).await {
        Ok(resp) => resp,
        Err(_) => internal_error(ErrorCode::ServiceUnavailable, format!("no answer within {REQUEST_TIMEOUT:?}")),
    };
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // The body limit answers before any surface does; say it in the
        // catalogue's shape rather than as plain text.
        let error = ApiError::with_message(ErrorCode::ParamError, format!("请求体超过{MAX_BODY_BYTES}字节"))
            .detail(serde_json::json!({"location": "body"}));
        resp = (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")],
            error.body(),
        )
            .into_response();
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("request-id", v);
    }
    let status = resp.status();
    let elapsed = started.elapsed();
    state.metrics.observe_request(method.as_str(), &route, status.as_u16(), elapsed);
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    match resp.extensions().get::<InternalCause>() {
        Some(InternalCause(cause)) => {
            tracing::error!(parent: &span, http.status = status.as_u16(), latency_ms, error = %cause, "request failed")
        }
        None => tracing::info!(parent: &span, http.status = status.as_u16(), latency_ms, "request"),
    }
    resp
}
