//! The sandbox API (`/sandbox/v1/…`): pay as a consumer, move the business
//! clock, inspect callback deliveries. Bearer-token protected, and absent in
//! live mode. Errors use the same catalogue and shape as `/v3`.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use koudai_domain::refund::RefundStatus;
use koudai_protocol::{times, ApiError, ErrorCode};
use koudai_store::{OrderLocator, PayOutcome};

use crate::api::ApiFailure;
use crate::app::{Mode, SharedState};
use crate::payments;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/sandbox/v1/pay", post(pay))
        .route("/sandbox/v1/clock", get(clock))
        .route("/sandbox/v1/clock/advance", post(advance))
        .route("/sandbox/v1/notifications", get(notifications))
        .route("/sandbox/v1/refunds/{out_refund_no}/outcome", post(refund_outcome))
}

/// `POST /sandbox/v1/refunds/{out_refund_no}/outcome` `{"mchid", "status"}`:
/// ends a `PROCESSING` refund now as `SUCCESS`, `ABNORMAL` or `CLOSED`, or
/// closes an `ABNORMAL` one (its money goes back to the merchant).
async fn refund_outcome(
    State(state): State<SharedState>,
    headers: HeaderMap,
    axum::extract::Path(out_refund_no): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    authorize(&state, &headers)?;
    let v = body_json(&body)?;
    let mchid = v
        .get("mchid")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| param("mchid", "参数“mchid”是必填项"))?;
    let to = match v.get("status").and_then(Value::as_str) {
        Some("SUCCESS") => RefundStatus::Success,
        Some("ABNORMAL") => RefundStatus::Abnormal,
        Some("CLOSED") => RefundStatus::Closed,
        _ => return Err(param("status", "status 只能是 SUCCESS、ABNORMAL 或 CLOSED")),
    };
    let (refund, _) = state
        .store
        .refund_by_out_refund_no(mchid, &out_refund_no)
        .await?
        .ok_or_else(|| ApiFailure::from(ApiError::with_message(ErrorCode::ResourceNotExists, "退款单不存在")))?;
    match crate::refunds::finish(&state, refund.id, mchid, to).await? {
        Some((r, o)) => {
            Ok(Json(serde_json::to_value(crate::refunds::refund_view(&r, &o)).unwrap_or_default()).into_response())
        }
        None => Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            format!("退款单状态为{}，不能变为{}", refund.status, to),
        )
        .into()),
    }
}

fn authorize(state: &SharedState, headers: &HeaderMap) -> Result<(), ApiFailure> {
    if state.mode == Mode::Live {
        return Err(ApiError::new(ErrorCode::NotFound).into());
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if token.map(str::trim) != Some(state.sandbox_token.as_str()) {
        return Err(ApiError::new(ErrorCode::Unauthorized).into());
    }
    Ok(())
}

fn body_json(body: &[u8]) -> Result<Value, ApiFailure> {
    serde_json::from_slice(body).map_err(|_| {
        ApiFailure::from(
            ApiError::with_message(ErrorCode::ParamError, "请求体不是合法的JSON").detail(json!({"location": "body"})),
        )
    })
}

fn param_in(location: &str, field: &str, message: &str) -> ApiFailure {
    ApiError::with_message(ErrorCode::ParamError, message).detail(json!({"field": field, "location": location})).into()
}

fn param(field: &str, message: &str) -> ApiFailure {
    param_in("body", field, message)
}

/// `POST /sandbox/v1/pay` `{"prepay_id"|"code_url", "consumer", "outcome"?}`.
async fn pay(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    authorize(&state, &headers)?;
    let v = body_json(&body)?;
    let consumer = v
        .get("consumer")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| param("consumer", "参数“consumer”是必填项"))?;
    let locator = match (v.get("prepay_id").and_then(Value::as_str), v.get("code_url").and_then(Value::as_str)) {
        (Some(p), None) => OrderLocator::PrepayId(p.to_owned()),
        (None, Some(url)) => {
            let token = url
                .strip_prefix("weixin://wxpay/bizpayurl?pr=")
                .ok_or_else(|| param("code_url", "code_url 格式错误"))?;
            OrderLocator::PayToken(token.to_owned())
        }
        _ => return Err(param("prepay_id", "prepay_id 与 code_url 必须且只能提供一个")),
    };
    let outcome = match v.get("outcome").and_then(Value::as_str) {
        None | Some("SUCCESS") => PayOutcome::Success,
        Some("PAYERROR") => PayOutcome::PayError,
        Some(_) => return Err(param("outcome", "outcome 只能是 SUCCESS 或 PAYERROR")),
    };
    let order = payments::pay(&state, locator, consumer, outcome).await?;
    let view = payments::transaction_view(&order, state.clock.business_now());
    let mut out = json!({"trade_state": view.trade_state, "out_trade_no": order.out_trade_no});
    if let Some(t) = &order.transaction_id {
        out["transaction_id"] = json!(t);
    }
    Ok(Json(out).into_response())
}

fn clock_json(state: &SharedState) -> Value {
    let now = state.clock.business_now();
    json!({"business_time": times::format_rfc3339(now), "business_unix": now, "offset_seconds": state.clock.offset_s()})
}

async fn clock(State(state): State<SharedState>, headers: HeaderMap) -> Result<Response, ApiFailure> {
    authorize(&state, &headers)?;
    Ok(Json(clock_json(&state)).into_response())
}

/// `POST /sandbox/v1/clock/advance` `{"seconds": N}`: forward only; answers
/// after settling the business days passed and finishing due refunds.
async fn advance(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    authorize(&state, &headers)?;
    let v = body_json(&body)?;
    let seconds =
        v.get("seconds").and_then(Value::as_i64).ok_or_else(|| param("seconds", "参数“seconds”是必填的整数"))?;
    if !(0..=10 * 365 * 24 * 3600).contains(&seconds) {
        return Err(param("seconds", "seconds 必须在0到十年之间：业务时钟只能前进"));
    }
    state.clock.advance(&state.store, seconds).await?;
    // What the new time makes due happens before the answer: the days
    // passed are settled and paid out, due refunds are finished (their
    // callbacks queued), so a test can look at the result at once.
    crate::money::settle_due_days(&state.store, state.clock.business_now()).await?;
    crate::refunds::finish_due(&state).await?;
    state.wake_worker.notify_one();
    Ok(Json(clock_json(&state)).into_response())
}

#[derive(Deserialize)]
struct NotificationQuery {
    out_trade_no: Option<String>,
    out_refund_no: Option<String>,
    mchid: Option<String>,
}

/// `GET /sandbox/v1/notifications?out_trade_no=…|out_refund_no=…[&mchid=…]`.
async fn notifications(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<NotificationQuery>,
) -> Result<Response, ApiFailure> {
    authorize(&state, &headers)?;
    let reference = q
        .out_trade_no
        .filter(|s| !s.is_empty())
        .or(q.out_refund_no.filter(|s| !s.is_empty()))
        .ok_or_else(|| param_in("query", "out_trade_no", "参数“out_trade_no”或“out_refund_no”是必填项"))?;
    let list = state.store.notifications_for(q.mchid.as_deref(), &reference).await?;
    let data: Vec<Value> = list
        .into_iter()
        .map(|(n, attempts)| {
            json!({
                "id": n.event_id,
                "mchid": n.mchid,
                "event_type": n.event_type,
                "notify_url": n.notify_url,
                "status": n.status.as_str(),
                "next_attempt_at": times::format_rfc3339(n.next_attempt_at),
                "created_at": times::format_rfc3339(n.created_at),
                "attempts": attempts.iter().map(|a| json!({
                    "attempt": a.attempt_no,
                    "attempted_at": times::format_rfc3339(a.attempted_at),
                    "http_status": a.http_status,
                    "error": a.error,
                    "duration_ms": a.duration_ms,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"data": data})).into_response())
}
