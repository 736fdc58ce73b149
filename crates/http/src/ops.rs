//! Operations endpoints: `/healthz` (no database) and `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use koudai_protocol::ErrorCode;

use crate::layers::internal_error;
use crate::state::HttpState;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: the outbox's depth is read from the database at scrape
/// time, so every node reports the shared outbox.
pub async fn metrics(State(state): State<HttpState>) -> Response {
    let app = &state.app;
    let outbox = match app.store.outbox_depth().await {
        Ok(v) => v,
        Err(e) => return internal_error(ErrorCode::ServiceUnavailable, format!("reading the outbox depth: {e}")),
    };
    let now = app.clock.business_now().unix();
    let sending = app.destinations.snapshot();
    match state.metrics.encode(outbox, now, &app.deliveries.snapshot(), sending) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(e) => internal_error(ErrorCode::SystemError, format!("encoding metrics: {e}")),
    }
}
