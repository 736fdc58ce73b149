//! Paying as a consumer, the business clock, callback deliveries, forced
//! refund outcomes and paying at a store's pay code, in the sandbox.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use koudai_app::payments::{self, refunds};
use koudai_app::runtime::clock::AdvanceError;
use koudai_app::App;
use koudai_domain::refund::RefundStatus;
use koudai_domain::FieldError;
use koudai_protocol::{times, ErrorCode};
use koudai_store::{OrderLocator, PayOutcome};

use super::access::{authorize, mp_account_for, ok_json, param, Scope};
use crate::state::HttpState;
use crate::v3::body::{json_body, required_text};
use crate::v3::V3Error;

/// The longest single clock advance: ten years.
const MAX_ADVANCE_S: i64 = 10 * 365 * 86_400;

#[derive(Deserialize)]
struct PayBody {
    consumer: Option<String>,
    prepay_id: Option<String>,
    code_url: Option<String>,
    outcome: Option<String>,
}

/// `POST /sandbox/v1/pay` `{"prepay_id"|"code_url", "consumer", "outcome"?}`.
pub(super) async fn pay(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: PayBody = json_body(&body)?;
    let consumer = required_text(b.consumer, "consumer")?;
    let locator = match (b.prepay_id, b.code_url) {
        (Some(p), None) => OrderLocator::PrepayId(p),
        (None, Some(url)) => {
            let token = url
                .strip_prefix("weixin://wxpay/bizpayurl?pr=")
                .ok_or_else(|| param("code_url", "code_url 格式错误"))?;
            OrderLocator::PayToken(token.to_owned())
        }
        _ => return Err(param("prepay_id", "prepay_id 与 code_url 必须且只能提供一个")),
    };
    let outcome = match b.outcome.as_deref() {
        None | Some("SUCCESS") => PayOutcome::Success,
        Some("PAYERROR") => PayOutcome::PayError,
        Some(_) => return Err(param("outcome", "outcome 只能是 SUCCESS 或 PAYERROR")),
    };
    // Another merchant's order does not exist for this token.
    let owner = app.store.order_by_locator(&locator).await.map_err(|e| V3Error::internal(e.into()))?;
    if !owner.is_some_and(|o| scope.covers(&o.mchid) || o.sp_mchid.as_deref().is_some_and(|sp| scope.covers(sp))) {
        return Err(V3Error::new(ErrorCode::OrderNotExist));
    }
    let order = payments::pay(app, locator, &consumer, outcome).await?;
    let state = order.state_at(app.clock.business_now().unix());
    let mut out = json!({"trade_state": state.as_str(), "out_trade_no": order.out_trade_no});
    if let Some(t) = &order.transaction_id {
        out["transaction_id"] = json!(t);
    }
    ok_json(&out)
}

fn clock_json(app: &App) -> Value {
    let now = app.clock.business_now().unix();
    json!({"business_time": times::format_rfc3339(now), "business_unix": now, "offset_seconds": app.clock.offset_s()})
}

pub(super) async fn clock(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, V3Error> {
    authorize(&state.app, &headers).await?;
    ok_json(&clock_json(&state.app))
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: Option<i64>,
}

/// `POST /sandbox/v1/clock/advance` `{"seconds": N}`: forward only; answers
/// after settling the business days passed and finishing due refunds.
pub(super) async fn advance(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    authorize(app, &headers).await?;
    let b: AdvanceBody = json_body(&body)?;
    let seconds = b.seconds.ok_or_else(|| param("seconds", "参数“seconds”是必填的整数"))?;
    if !(0..=MAX_ADVANCE_S).contains(&seconds) {
        return Err(param("seconds", "seconds 必须在0到十年之间：业务时钟只能前进"));
    }
    app.clock.advance(&app.store, seconds).await.map_err(|e| match e {
        AdvanceError::Live => V3Error::new(ErrorCode::NotFound),
        AdvanceError::Internal(e) => V3Error::internal(e),
    })?;
    // What the new time makes due happens before the answer: profit
    // sharing due is finished (which may unfreeze funds), the days passed
    // are settled and paid out, due refunds are finished (their callbacks
    // queued), so a test can look at the result at once.
    koudai_app::payments::sharing::finish_due(app).await?;
    koudai_app::payments::sharing::unfreeze_due(app).await?;
    koudai_app::parties::onboarding::advance_due(app).await?;
    koudai_app::payments::settlement::settle_due_days(&app.store, &app.rng, app.clock.business_now())
        .await
        .map_err(|e| V3Error::internal(e.into()))?;
    refunds::finish_due(app).await?;
    app.wake.new_work();
    ok_json(&clock_json(app))
}

#[derive(Deserialize)]
pub(super) struct NotificationQuery {
    out_trade_no: Option<String>,
    out_refund_no: Option<String>,
    mchid: Option<String>,
}

/// `GET /sandbox/v1/notifications?out_trade_no=…|out_refund_no=…[&mchid=…]`.
pub(super) async fn notifications(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<NotificationQuery>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let reference =
        q.out_trade_no.filter(|s| !s.is_empty()).or(q.out_refund_no.filter(|s| !s.is_empty())).ok_or_else(|| {
            V3Error::field(FieldError::new("out_trade_no", "参数“out_trade_no”或“out_refund_no”是必填项"), "query")
        })?;
    // A merchant's token sees its own callbacks only.
    let mchid = match (&scope, q.mchid) {
        (Scope::Platform, asked) => asked,
        (Scope::Merchant(own), Some(asked)) if &asked != own => return ok_json(&json!({"data": []})),
        (Scope::Merchant(own), _) => Some(own.clone()),
    };
    let list =
        app.store.notifications_for(mchid.as_deref(), &reference).await.map_err(|e| V3Error::internal(e.into()))?;
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
    ok_json(&json!({"data": data}))
}

#[derive(Deserialize)]
struct OutcomeBody {
    mchid: Option<String>,
    status: Option<String>,
}

/// `POST /sandbox/v1/refunds/{out_refund_no}/outcome` `{"mchid", "status"}`:
/// ends a `PROCESSING` refund now as `SUCCESS`, `ABNORMAL` or `CLOSED`, or
/// closes an `ABNORMAL` one (its money goes back to the merchant).
pub(super) async fn refund_outcome(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(out_refund_no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: OutcomeBody = json_body(&body)?;
    let mchid = required_text(b.mchid, "mchid")?;
    if !scope.covers(&mchid) {
        return Err(V3Error::message(ErrorCode::ResourceNotExists, "退款单不存在"));
    }
    let to = match b.status.as_deref() {
        Some("SUCCESS") => RefundStatus::Success,
        Some("ABNORMAL") => RefundStatus::Abnormal,
        Some("CLOSED") => RefundStatus::Closed,
        _ => return Err(param("status", "status 只能是 SUCCESS、ABNORMAL 或 CLOSED")),
    };
    ok_json(&refunds::force_outcome(app, &mchid, &out_refund_no, to).await?)
}

#[derive(Deserialize)]
struct StorePayBody {
    poi_id: Option<Value>,
    consumer: Option<String>,
    amount: Option<Value>,
    #[serde(default)]
    follow: bool,
    /// The same request_id again is the same payment.
    request_id: Option<String>,
}

/// `POST /sandbox/v1/storepay` `{"poi_id", "consumer", "amount": <fen>}`:
/// the consumer pays at the store's pay code as the page would (optionally
/// `"follow": true`, and a `request_id` that makes a retry the same
/// payment); answers the transaction.
pub(super) async fn storepay(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::o2o::storepay::{self, StorePayError};
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: StorePayBody = json_body(&body)?;
    let poi_id = match b.poi_id {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(_) => return Err(param("poi_id", "poi_id 应为门店ID字符串")),
        None => return Err(V3Error::field(FieldError::missing("poi_id"), "body")),
    };
    let consumer = required_text(b.consumer, "consumer")?;
    let amount = match b.amount {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| param("amount", "amount 应为整数（分）"))?,
        Some(_) => return Err(param("amount", "amount 应为整数（分）")),
        None => return Err(V3Error::field(FieldError::missing("amount"), "body")),
    };
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("门店{poi_id}不存在或未通过审核"));
    let code = match storepay::pay_code(app, &poi_id).await {
        Ok(c) => c,
        Err(StorePayError::Internal(e)) => return Err(V3Error::internal(e)),
        Err(_) => return Err(missing()),
    };
    mp_account_for(app, &scope, &code.account.appid).await?;
    let request_id = b.request_id.filter(|r| !r.is_empty());
    if request_id.as_ref().is_some_and(|r| r.len() > 64 || !r.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(param("request_id", "request_id 应为1到64个可见ASCII字符"));
    }
    match storepay::pay(&state.app, &code, &consumer, amount, b.follow, request_id.as_deref()).await {
        Ok(o) => ok_json(&json!({
            "transaction_id": o.transaction_id,
            "trade_state": o.state_at(app.clock.business_now().unix()).as_str(),
            "out_trade_no": o.out_trade_no,
            "mchid": o.mchid,
            "amount": o.total_fen,
        })),
        Err(StorePayError::Internal(e)) => Err(V3Error::internal(e)),
        Err(StorePayError::NoStore(_)) => Err(missing()),
        Err(StorePayError::NotEnough) => Err(V3Error::message(ErrorCode::NotEnough, "用户余额不足")),
        Err(StorePayError::Refused(m)) => Err(V3Error::message(ErrorCode::InvalidRequest, m)),
    }
}
