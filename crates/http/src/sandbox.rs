//! The sandbox API (`/sandbox/v1/…`): pay as a consumer, move the business
//! clock, inspect callback deliveries, force refund outcomes. Bearer-token
//! protected (compared in constant time), and absent in live mode. Errors
//! use the `/v3` catalogue and shape, unsigned.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;

use koudai_app::clock::AdvanceError;
use koudai_app::parties::{self, PartyError};
use koudai_app::providers::{self, GrantCommand};
use koudai_app::{onboarding, payments, refunds, App, Mode};
use koudai_domain::applyment::FieldRejection;
use koudai_domain::provider::GrantAction;
use koudai_domain::refund::RefundStatus;
use koudai_domain::FieldError;
use koudai_protocol::{times, ErrorCode};
use koudai_store::{OrderLocator, PayOutcome};

use crate::state::HttpState;
use crate::v3::auth::{json_body, required_text};
use crate::v3::V3Error;

/// The longest single clock advance: ten years.
const MAX_ADVANCE_S: i64 = 10 * 365 * 86_400;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/sandbox/v1/pay", post(pay))
        .route("/sandbox/v1/clock", get(clock))
        .route("/sandbox/v1/clock/advance", post(advance))
        .route("/sandbox/v1/notifications", get(notifications))
        .route("/sandbox/v1/refunds/{out_refund_no}/outcome", post(refund_outcome))
        .route("/sandbox/v1/privileges", post(privileges))
        .route("/sandbox/v1/deposits", post(deposits))
        .route("/sandbox/v1/applyments/{applyment_id}/audit", post(applyment_audit))
        .route("/sandbox/v1/applyments/{applyment_id}/sign", post(applyment_sign))
        .route("/sandbox/v1/applyments/{applyment_id}/sign-code", get(applyment_sign_code))
        .route("/sandbox/v1/mp/{appid}/server", post(mp_server))
        .route("/sandbox/v1/mp/{appid}/push", post(mp_push))
        .route("/sandbox/v1/oauth/authorize", post(oauth_authorize))
        .route("/sandbox/v1/component/authorize", post(component_authorize))
        .route("/sandbox/v1/eligibility/{appid}", get(eligibility))
        .route("/sandbox/v1/shop/buy", post(shop_buy))
        .route("/sandbox/v1/qrcode/scan", post(qrcode_scan))
        .route("/sandbox/v1/poi/{poi_id}/audit", post(poi_audit))
        .route("/sandbox/v1/storepay", post(storepay))
        .route("/sandbox/v1/discovery", get(discovery))
        .route("/sandbox/v1/discovery/report", get(discovery_report))
        .route("/sandbox/v1/shop/orders/{order_id}/confirm", post(shop_confirm))
        .route("/sandbox/v1/shop/orders/{order_id}/rights", post(shop_rights))
        .route("/sandbox/v1/component/{component_appid}/ticket", post(component_ticket))
        .route("/sandbox/v1/component/{component_appid}/event-url", post(component_event_url))
        .route_layer(axum::middleware::from_fn(clean_uri))
}

/// Paths and queries the databases could not store are refused first.
async fn clean_uri(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match crate::v3::auth::clean_uri(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// What a sandbox token may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// The operator's token: the whole sandbox.
    Platform,
    /// A merchant's token: its own orders, refunds and callbacks (and the
    /// shared business clock).
    Merchant(String),
}

impl Scope {
    /// Whether this token may act for `mchid`.
    fn covers(&self, mchid: &str) -> bool {
        match self {
            Scope::Platform => true,
            Scope::Merchant(own) => own == mchid,
        }
    }
}

async fn authorize(app: &App, headers: &HeaderMap) -> Result<Scope, V3Error> {
    if app.mode() == Mode::Live {
        return Err(V3Error::new(ErrorCode::NotFound));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Err(V3Error::new(ErrorCode::Unauthorized));
    }
    if bool::from(app.sandbox_token.expose().as_bytes().ct_eq(token.as_bytes())) {
        return Ok(Scope::Platform);
    }
    match app.store.merchant_of_sandbox_token(token).await.map_err(|e| V3Error::internal(e.into()))? {
        Some(mchid) => Ok(Scope::Merchant(mchid)),
        None => Err(V3Error::new(ErrorCode::Unauthorized)),
    }
}

fn param(field: &str, message: &str) -> V3Error {
    V3Error::body_field(FieldError::new(field, message))
}

fn ok_json<T: serde::Serialize>(value: &T) -> Result<Response, V3Error> {
    let value = serde_json::to_value(value).map_err(|e| V3Error::bug(format!("serialising: {e}")))?;
    Ok(Json(value).into_response())
}

#[derive(Deserialize)]
struct PayBody {
    consumer: Option<String>,
    prepay_id: Option<String>,
    code_url: Option<String>,
    outcome: Option<String>,
}

/// `POST /sandbox/v1/pay` `{"prepay_id"|"code_url", "consumer", "outcome"?}`.
async fn pay(State(state): State<HttpState>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Response, V3Error> {
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

async fn clock(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, V3Error> {
    authorize(&state.app, &headers).await?;
    ok_json(&clock_json(&state.app))
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: Option<i64>,
}

/// `POST /sandbox/v1/clock/advance` `{"seconds": N}`: forward only; answers
/// after settling the business days passed and finishing due refunds.
async fn advance(
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
    koudai_app::sharing::finish_due(app).await?;
    koudai_app::sharing::unfreeze_due(app).await?;
    koudai_app::onboarding::advance_due(app).await?;
    koudai_app::money::settle_due_days(&app.store, &app.rng, app.clock.business_now())
        .await
        .map_err(|e| V3Error::internal(e.into()))?;
    refunds::finish_due(app).await?;
    app.wake.notify_one();
    ok_json(&clock_json(app))
}

#[derive(Deserialize)]
struct NotificationQuery {
    out_trade_no: Option<String>,
    out_refund_no: Option<String>,
    mchid: Option<String>,
}

/// `GET /sandbox/v1/notifications?out_trade_no=…|out_refund_no=…[&mchid=…]`.
async fn notifications(
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
async fn refund_outcome(
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

fn party_error(e: PartyError) -> V3Error {
    match e {
        PartyError::Invalid(m) => V3Error::message(ErrorCode::InvalidRequest, m),
        PartyError::NotFound(m) => V3Error::message(ErrorCode::ResourceNotExists, format!("{m} 不存在")),
        PartyError::Internal(e) => V3Error::internal(e),
    }
}

#[derive(Deserialize)]
struct PrivilegeBody {
    sp_mchid: Option<String>,
    privilege: Option<String>,
    action: Option<String>,
    reason: Option<String>,
}

/// `POST /sandbox/v1/privileges` `{"sp_mchid", "privilege", "action":
/// "grant"|"revoke", "reason"}`: logged like a console grant, by the
/// sandbox operator. The platform token only: a merchant's token cannot
/// grant its owner privileges.
async fn privileges(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    if authorize(app, &headers).await? != Scope::Platform {
        return Err(V3Error::message(ErrorCode::NoAuth, "只有平台的沙箱令牌可以授予或收回权限"));
    }
    let b: PrivilegeBody = json_body(&body)?;
    let sp_mchid = required_text(b.sp_mchid, "sp_mchid")?;
    let privilege = required_text(b.privilege, "privilege")?;
    let action = match required_text(b.action, "action")?.as_str() {
        "grant" => GrantAction::Grant,
        "revoke" => GrantAction::Revoke,
        _ => return Err(param("action", "action 只能是 grant 或 revoke")),
    };
    let reason = required_text(b.reason, "reason")?;
    let cmd = GrantCommand {
        sp_mchid: &sp_mchid,
        privilege: &privilege,
        action,
        actor: "sandbox",
        reason: &reason,
        expires_at: None,
    };
    let held = providers::change_privilege(&app.store, cmd, app.clock.business_now()).await.map_err(party_error)?;
    ok_json(&json!({"sp_mchid": sp_mchid, "privilege": privilege, "held": held}))
}

#[derive(Deserialize)]
struct DepositBody {
    mchid: Option<String>,
}

/// `POST /sandbox/v1/deposits` `{"mchid"}`: pays a merchant's or
/// sub-merchant's deposit in full from outside, as `koudai admin
/// deposit-pay` does. A merchant's token covers itself, a provider's its
/// sub-merchants too.
async fn deposits(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: DepositBody = json_body(&body)?;
    let mchid = required_text(b.mchid, "mchid")?;
    let merchant = app.store.merchant(&mchid).await.map_err(|e| V3Error::internal(e.into()))?;
    let allowed = merchant
        .as_ref()
        .is_some_and(|m| scope.covers(&m.mchid) || m.sp_mchid.as_deref().is_some_and(|sp| scope.covers(sp)));
    if !allowed {
        return Err(V3Error::message(ErrorCode::MchNotExists, format!("商户号{mchid}不存在")));
    }
    let now = app.clock.business_now();
    let held = parties::pay_deposit(&app.store, &app.rng, &mchid, None, now).await.map_err(party_error)?;
    let standing = app.store.standing(&mchid, now.unix()).await.map_err(|e| V3Error::internal(e.into()))?;
    let due = standing.and_then(|s| s.rule.map(|r| r.deposit_fen)).unwrap_or(0);
    ok_json(&json!({"mchid": mchid, "deposit_fen": due, "held_fen": held}))
}

/// The application a sandbox call names, if the token covers its provider.
async fn applyment_for(app: &App, scope: &Scope, raw_id: &str) -> Result<koudai_store::ApplymentRecord, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, "申请单不存在");
    let id: i64 = raw_id.parse().map_err(|_| missing())?;
    let a = app.store.applyment_by_id(id).await.map_err(|e| V3Error::internal(e.into()))?.ok_or_else(missing)?;
    if !scope.covers(&a.sp_mchid) {
        return Err(missing());
    }
    Ok(a)
}

#[derive(Deserialize)]
struct AuditBody {
    decision: Option<String>,
    fields: Option<Vec<AuditField>>,
}

#[derive(Deserialize)]
struct AuditField {
    field: Option<String>,
    reason: Option<String>,
}

/// `POST /sandbox/v1/applyments/{applyment_id}/audit` `{"decision":
/// "approve"}` or `{"decision": "reject", "fields": [{"field", "reason"}]}`:
/// the operator's decision (the platform token only).
async fn applyment_audit(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    if scope != Scope::Platform {
        return Err(V3Error::message(ErrorCode::NoAuth, "只有平台的沙箱令牌可以审核申请单"));
    }
    let a = applyment_for(app, &scope, &raw_id).await?;
    let b: AuditBody = json_body(&body)?;
    let decision = match required_text(b.decision, "decision")?.as_str() {
        "approve" => onboarding::Decision::Approve,
        "reject" => {
            let mut fields = Vec::new();
            for (i, f) in b.fields.unwrap_or_default().into_iter().enumerate() {
                let field = required_text(f.field, &format!("fields[{i}].field"))?;
                let reason = required_text(f.reason, &format!("fields[{i}].reason"))?;
                fields.push(FieldRejection::new(&field, &reason));
            }
            if fields.is_empty() {
                return Err(param("fields", "驳回须至少指明一个字段和原因"));
            }
            onboarding::Decision::Reject(fields)
        }
        _ => return Err(param("decision", "decision 只能是 approve 或 reject")),
    };
    let done = onboarding::decide(app, a.applyment_id, decision, "sandbox").await?;
    ok_json(&json!({"applyment_id": done.applyment_id, "applyment_state": done.state.as_str()}))
}

/// `POST /sandbox/v1/applyments/{applyment_id}/sign`: the contact confirms
/// the account and signs.
async fn applyment_sign(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = applyment_for(app, &scope, &raw_id).await?;
    let done = onboarding::sign(app, a.applyment_id, "sandbox:contact").await?;
    ok_json(&json!({"applyment_id": done.applyment_id, "applyment_state": done.state.as_str()}))
}

/// `GET /sandbox/v1/applyments/{applyment_id}/sign-code`: the one-time code
/// the contact signs with on `sign_url` (after approval).
async fn applyment_sign_code(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = applyment_for(app, &scope, &raw_id).await?;
    let code = onboarding::sign_code(app, &a)?
        .ok_or_else(|| V3Error::message(ErrorCode::InvalidState, "申请单尚未通过审核，没有签约验证码"))?;
    ok_json(&json!({"applyment_id": a.applyment_id, "code": code, "sign_url": onboarding::sign_url(app, &a)}))
}

/// The official account a sandbox call names, if the token covers its owner.
async fn mp_account_for(app: &App, scope: &Scope, appid: &str) -> Result<koudai_store::MpAccount, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("公众号{appid}不存在"));
    let a = app.store.mp_account(appid).await.map_err(|e| V3Error::internal(e.into()))?.ok_or_else(missing)?;
    if !scope.covers(&a.owner_mchid) {
        return Err(missing());
    }
    Ok(a)
}

#[derive(Deserialize)]
struct ServerBody {
    url: Option<String>,
    message_mode: Option<String>,
}

/// `POST /sandbox/v1/mp/{appid}/server` `{"url", "message_mode"}`: sets the
/// account's server after the URL verification handshake; at once.
async fn mp_server(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let b: ServerBody = json_body(&body)?;
    let url = required_text(b.url, "url")?;
    let mode = b.message_mode.unwrap_or_else(|| "plain".into());
    koudai_app::mp_push::set_server(app, &a.appid, &url, &mode).await.map_err(|e| match e {
        koudai_app::mp_push::ServerError::Internal(e) => V3Error::internal(e),
        koudai_app::mp_push::ServerError::BadMode => {
            param("message_mode", "message_mode 只能是 plain、compatible 或 safe")
        }
        koudai_app::mp_push::ServerError::BadUrl => param("url", "url 必须是 http(s) 地址"),
        other => V3Error::message(ErrorCode::InvalidRequest, other.to_string()),
    })?;
    ok_json(&json!({"appid": a.appid, "server_url": url, "message_mode": mode}))
}

#[derive(Deserialize)]
struct PushBody {
    openid: Option<String>,
    msg_type: Option<String>,
    content: Option<String>,
    event: Option<String>,
    event_key: Option<String>,
}

/// `POST /sandbox/v1/mp/{appid}/push`: a consumer's text or event, sent to
/// the account's server now; answers whether it took it and its reply.
async fn mp_push(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let b: PushBody = json_body(&body)?;
    let openid = required_text(b.openid, "openid")?;
    let push = match required_text(b.msg_type, "msg_type")?.as_str() {
        "text" => koudai_app::mp_push::Push::Text { content: required_text(b.content, "content")? },
        "event" => {
            let event = required_text(b.event, "event")?;
            if !["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN"].contains(&event.as_str()) {
                return Err(param("event", "event 只能是 subscribe、unsubscribe、CLICK、VIEW 或 SCAN"));
            }
            koudai_app::mp_push::Push::Event { event, event_key: b.event_key.filter(|k| !k.is_empty()) }
        }
        _ => return Err(param("msg_type", "msg_type 只能是 text 或 event")),
    };
    let (delivered, reply) =
        koudai_app::mp_push::push_now(&state.app, &a, &openid, &push).await.map_err(|e| match e {
            koudai_app::mp::MpFailure::Refused(m) => V3Error::message(ErrorCode::InvalidRequest, m.errmsg),
            koudai_app::mp::MpFailure::Internal(e) => V3Error::internal(e),
        })?;
    ok_json(&json!({"delivered": delivered, "reply": reply}))
}

#[derive(Deserialize)]
struct OauthBody {
    appid: Option<String>,
    consumer: Option<String>,
    scope: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    component_appid: Option<String>,
}

/// `POST /sandbox/v1/oauth/authorize` `{"appid", "consumer", "scope",
/// "redirect_uri", "state"}`: the consumer's consent without the browser;
/// answers `{"redirect": "<redirect_uri>?code=…&state=…"}`.
async fn oauth_authorize(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    authorize(app, &headers).await?;
    let b: OauthBody = json_body(&body)?;
    let appid = required_text(b.appid, "appid")?;
    let consumer = required_text(b.consumer, "consumer")?;
    let scope = b.scope.unwrap_or_else(|| "snsapi_base".into());
    let redirect_uri = required_text(b.redirect_uri, "redirect_uri")?;
    let component = b.component_appid.as_deref().filter(|c| !c.is_empty());
    let account = koudai_app::oauth::check_authorize(app, &appid, &scope, &redirect_uri, component)
        .await?
        .map_err(|e| V3Error::message(ErrorCode::ParamError, e.to_string()))?;
    if app.store.consumer(&consumer).await.map_err(|e| V3Error::internal(e.into()))?.is_none() {
        return Err(param("consumer", "付款用户不存在"));
    }
    let redirect = koudai_app::oauth::grant(
        app,
        &account,
        &consumer,
        &scope,
        &redirect_uri,
        b.state.as_deref().unwrap_or(""),
        component,
    )
    .await?;
    ok_json(&json!({"redirect": redirect}))
}

/// The component a sandbox call names, if the token covers its provider.
async fn component_for(app: &App, scope: &Scope, appid: &str) -> Result<koudai_store::Component, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("第三方平台{appid}不存在"));
    let c = app.store.component(appid).await.map_err(|e| V3Error::internal(e.into()))?.ok_or_else(missing)?;
    if !scope.covers(&c.provider_mchid) {
        return Err(missing());
    }
    Ok(c)
}

/// `POST /sandbox/v1/component/{component_appid}/ticket`: a verify ticket
/// pushed now; answers the ticket and whether the event URL took it
/// (`delivered` is null without an event URL).
async fn component_ticket(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let c = component_for(app, &scope, &appid).await?;
    let (ticket, delivered) = koudai_app::component::push_ticket_now(&state.app, &c).await?;
    ok_json(&json!({"component_appid": c.component_appid, "ticket": ticket, "delivered": delivered}))
}

#[derive(Deserialize)]
struct EventUrlBody {
    url: Option<String>,
}

/// `POST /sandbox/v1/component/{component_appid}/event-url` `{"url"}`: sets
/// the authorisation event URL after the `echostr` handshake; at once.
async fn component_event_url(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let c = component_for(app, &scope, &appid).await?;
    let b: EventUrlBody = json_body(&body)?;
    let url = required_text(b.url, "url")?;
    koudai_app::component::set_event_url(app, &c, &url).await.map_err(|e| match e {
        koudai_app::mp_push::ServerError::Internal(e) => V3Error::internal(e),
        koudai_app::mp_push::ServerError::BadUrl => param("url", "url 必须是 http(s) 地址"),
        other => V3Error::message(ErrorCode::InvalidRequest, other.to_string()),
    })?;
    ok_json(&json!({"component_appid": c.component_appid, "event_url": url}))
}

#[derive(Deserialize)]
struct ComponentAuthorizeBody {
    pre_auth_code: Option<String>,
    authorizer_appid: Option<String>,
    func_ids: Option<Vec<i64>>,
    take_exclusive: Option<bool>,
    redirect_uri: Option<String>,
}

/// `POST /sandbox/v1/component/authorize` `{"pre_auth_code",
/// "authorizer_appid", "func_ids", "take_exclusive"?, "redirect_uri"?}`: the
/// account owner's consent without the browser; answers `{"redirect"}`, or
/// 403 `NO_AUTH` with `detail.refused: [{"id", "reason"}]`.
async fn component_authorize(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::component::{consent, Consent, ConsentError};
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: ComponentAuthorizeBody = json_body(&body)?;
    let pre_auth_code = required_text(b.pre_auth_code, "pre_auth_code")?;
    let authorizer_appid = required_text(b.authorizer_appid, "authorizer_appid")?;
    let owner = match &scope {
        Scope::Platform => None,
        Scope::Merchant(m) => Some(m.clone()),
    };
    let c = Consent {
        pre_auth_code,
        authorizer_appid,
        func_ids: b.func_ids.unwrap_or_default(),
        take_exclusive: b.take_exclusive.unwrap_or(false),
        redirect_uri: b.redirect_uri.filter(|u| !u.is_empty()),
        owner,
    };
    match consent(app, c).await {
        Ok(redirect) => ok_json(&json!({"redirect": redirect})),
        Err(ConsentError::Internal(e)) => Err(V3Error::internal(e)),
        Err(ConsentError::Refused(list)) => {
            let refused: Vec<_> = list.iter().map(|r| json!({"id": r.id, "reason": r.reason})).collect();
            let text: Vec<String> = list.iter().map(|r| r.reason.clone()).collect();
            Err(V3Error::message(ErrorCode::NoAuth, format!("以下权限集不能授权: {}", text.join("; ")))
                .detail(json!({"refused": refused})))
        }
        Err(e @ (ConsentError::NoAccount(_) | ConsentError::NotOwner)) => {
            Err(V3Error::message(ErrorCode::ResourceNotExists, e.to_string()))
        }
        Err(e @ (ConsentError::NoSets | ConsentError::NoRedirect | ConsentError::BadRedirect)) => {
            Err(V3Error::message(ErrorCode::ParamError, e.to_string()))
        }
        Err(e) => Err(V3Error::message(ErrorCode::InvalidRequest, e.to_string())),
    }
}

/// `GET /sandbox/v1/eligibility/{appid}`: the account's capabilities under
/// the e-commerce rules in force, each with its unmet requirements (the
/// explanation the console shows).
async fn eligibility(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let now = app.clock.business_now().unix();
    let verdicts = koudai_app::eligibility::explanation(&app.store, &a.appid, now)
        .await
        .map_err(|e| V3Error::internal(e.into()))?
        .unwrap_or_default();
    let rules = koudai_app::eligibility::current_rules(&app.store).await.map_err(|e| V3Error::internal(e.into()))?;
    ok_json(&json!({
        "appid": a.appid,
        "rule_version": rules.version,
        "capabilities": verdicts.iter().map(|v| json!({
            "name": v.name,
            "title": v.title,
            "granted": v.granted,
            "unmet": v.unmet.iter().map(|u| json!({
                "requirement": u.requirement, "title": u.title, "fact": u.fact, "actual": u.actual, "needed": u.needed,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AddressBody {
    name: String,
    phone: String,
    province: String,
    city: String,
    zone: String,
    address: String,
}

#[derive(Deserialize)]
struct BuyBody {
    appid: Option<String>,
    consumer: Option<String>,
    product_id: Option<String>,
    sku_info: Option<String>,
    count: Option<i64>,
    address: Option<AddressBody>,
}

/// `POST /sandbox/v1/shop/buy`: a consumer buys from an account's shop
/// with the wallet; answers `{"order_id", "transaction_id", "order_status":
/// 2}` or the refusal (stock, wallet, capability).
async fn shop_buy(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::shop_orders::{buy, Address, BuyError};
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: BuyBody = json_body(&body)?;
    let appid = required_text(b.appid, "appid")?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let consumer = required_text(b.consumer, "consumer")?;
    let product_id = required_text(b.product_id, "product_id")?;
    let addr = b.address.ok_or_else(|| param("address", "address 必填"))?;
    let to = Address {
        name: addr.name,
        phone: addr.phone,
        province: addr.province,
        city: addr.city,
        zone: addr.zone,
        address: addr.address,
    };
    let count = b.count.unwrap_or(1);
    match buy(&state.app, &a.appid, &consumer, &product_id, b.sku_info.as_deref().unwrap_or(""), count, &to).await {
        Ok(o) => {
            ok_json(&json!({"order_id": o.order_id, "transaction_id": o.transaction_id, "order_status": o.status}))
        }
        Err(BuyError::Internal(e)) => Err(V3Error::internal(e)),
        Err(BuyError::NotEnough) => Err(V3Error::message(ErrorCode::NotEnough, "用户余额不足")),
        Err(e @ BuyError::OutOfStock { .. }) => {
            Err(V3Error::message(ErrorCode::InvalidRequest, format!("库存不足 out of stock: {e}")))
        }
        Err(BuyError::Refused(m)) => Err(V3Error::message(ErrorCode::InvalidRequest, m)),
    }
}

/// The shop order a sandbox call names, if the token covers its merchant.
async fn shop_order_for(app: &App, scope: &Scope, order_id: &str) -> Result<koudai_store::ShopOrder, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("订单{order_id}不存在"));
    let plain = !order_id.is_empty() && order_id.len() <= 24 && order_id.bytes().all(|b| b.is_ascii_digit());
    let o = if plain { app.store.shop_order(order_id).await.map_err(|e| V3Error::internal(e.into()))? } else { None };
    o.filter(|o| o.status != 1 && scope.covers(&o.mchid)).ok_or_else(missing)
}

fn shop_order_json(o: &koudai_store::ShopOrder) -> Value {
    json!({"order_id": o.order_id, "order_status": o.status, "transaction_id": o.transaction_id})
}

/// `POST /sandbox/v1/shop/orders/{order_id}/confirm`: the consumer confirms
/// receipt (3 → 5).
async fn shop_confirm(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let o = shop_order_for(app, &scope, &order_id).await?;
    let moved =
        koudai_app::shop_orders::consumer_move(app, None, &o.order_id, koudai_app::shop_orders::ConsumerMove::Confirm)
            .await
            .map_err(|m| V3Error::message(ErrorCode::InvalidState, m))?;
    ok_json(&shop_order_json(&moved))
}

#[derive(Deserialize)]
struct RightsBody {
    action: Option<String>,
    reason: Option<String>,
}

/// `POST /sandbox/v1/shop/orders/{order_id}/rights` `{"action": "open" |
/// "close", "reason"}`: the consumer opens (→ 8) or closes a rights case.
async fn shop_rights(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::shop_orders::ConsumerMove;
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let o = shop_order_for(app, &scope, &order_id).await?;
    let b: RightsBody = json_body(&body)?;
    let m = match required_text(b.action, "action")?.as_str() {
        "open" => ConsumerMove::OpenRights(b.reason.unwrap_or_default()),
        "close" => ConsumerMove::CloseRights,
        _ => return Err(param("action", "action 只能是 open 或 close")),
    };
    let moved = koudai_app::shop_orders::consumer_move(app, None, &o.order_id, m)
        .await
        .map_err(|m| V3Error::message(ErrorCode::InvalidState, m))?;
    ok_json(&shop_order_json(&moved))
}

#[derive(Deserialize)]
struct ScanBody {
    ticket: Option<String>,
    consumer: Option<String>,
}

/// `POST /sandbox/v1/qrcode/scan` `{"ticket", "consumer"}`: the consumer
/// scans a parametric QR code; answers `{"event": "subscribe"|"SCAN",
/// "delivered": bool}`.
async fn qrcode_scan(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::qrcode::ScanError;
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: ScanBody = json_body(&body)?;
    let ticket = required_text(b.ticket, "ticket")?;
    let consumer = required_text(b.consumer, "consumer")?;
    let missing =
        || V3Error::message(ErrorCode::ResourceNotExists, "二维码不存在或已过期 no live QR code with that ticket");
    let code = koudai_app::qrcode::live(app, &ticket).await?.ok_or_else(missing)?;
    mp_account_for(app, &scope, &code.appid).await?;
    match koudai_app::qrcode::scan(&state.app, &ticket, &consumer).await {
        Ok((event, delivered)) => ok_json(&json!({"event": event, "delivered": delivered})),
        Err(ScanError::Internal(e)) => Err(V3Error::internal(e)),
        Err(ScanError::NoTicket) => Err(missing()),
        Err(ScanError::NoConsumer(_)) => Err(param("consumer", "付款用户不存在")),
        Err(ScanError::Push(m)) => Err(V3Error::message(ErrorCode::InvalidRequest, m)),
    }
}

#[derive(Deserialize)]
struct PoiAuditBody {
    result: Option<String>,
    msg: Option<String>,
}

/// `POST /sandbox/v1/poi/{poi_id}/audit` `{"result": "succ"|"fail", "msg"}`:
/// the operator's decision on a store (or its pending update); pushes
/// `poi_check_notify`.
async fn poi_audit(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(poi_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::poi::AuditError;
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("门店{poi_id}不存在"));
    let plain = !poi_id.is_empty() && poi_id.len() <= 20 && poi_id.bytes().all(|b| b.is_ascii_digit());
    let found = if plain { app.store.poi(&poi_id).await.map_err(|e| V3Error::internal(e.into()))? } else { None };
    let found = found.ok_or_else(missing)?;
    mp_account_for(app, &scope, &found.appid).await?;
    let b: PoiAuditBody = json_body(&body)?;
    let approve = match required_text(b.result, "result")?.as_str() {
        "succ" => true,
        "fail" => false,
        _ => return Err(param("result", "result 只能是 succ 或 fail")),
    };
    match koudai_app::poi::audit(&state.app, &poi_id, approve, b.msg.as_deref().unwrap_or("")).await {
        Ok((s, delivered)) => ok_json(&json!({"poi_id": s.poi_id, "available_state": s.available_state,
                                              "update_status": i64::from(s.pending.is_some()), "delivered": delivered})),
        Err(AuditError::Internal(e)) => Err(V3Error::internal(e)),
        Err(AuditError::NoStore(_)) => Err(missing()),
        Err(AuditError::NoReason) => Err(param("msg", "驳回必须填写原因")),
        Err(e @ AuditError::NothingToReview(_)) => Err(V3Error::message(ErrorCode::InvalidState, e.to_string())),
    }
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
async fn storepay(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::storepay::{self, StorePayError};
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct DiscoveryQuery {
    consumer: String,
    category: String,
    q: String,
    lat: String,
    lng: String,
}

/// `GET /sandbox/v1/discovery?consumer=<login>` (with `category`, `q`,
/// `lat`/`lng` as the page takes them): the directory as that consumer sees
/// it, counted as an impression, each entry with its `featured` flag, score
/// and the click link the page would show.
async fn discovery(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<DiscoveryQuery>,
) -> Result<Response, V3Error> {
    use koudai_app::discovery;
    let app = &state.app;
    authorize(app, &headers).await?;
    if q.consumer.is_empty() {
        return Err(V3Error::field(FieldError::missing("consumer"), "query"));
    }
    if app.store.consumer(&q.consumer).await.map_err(|e| V3Error::internal(e.into()))?.is_none() {
        return Err(param("consumer", "付款用户不存在"));
    }
    let near = match (q.lat.is_empty(), q.lng.is_empty()) {
        (true, true) => None,
        _ => Some(
            koudai_domain::discovery::parse_point(&q.lat, &q.lng)
                .ok_or_else(|| param("lat", "lat/lng 应为合法的纬度和经度"))?,
        ),
    };
    let query = discovery::Query {
        category: Some(q.category).filter(|c| !c.is_empty()),
        search: Some(q.q).filter(|s| !s.is_empty()),
        near,
    };
    let d = discovery::directory(app, Some(&q.consumer), &query, true).await?;
    let base = &app.config.base_url;
    ok_json(&json!({
        "version": d.version,
        "categories": d.categories,
        "entries": d.entries.iter().map(|e| json!({
            "appid": e.appid,
            "name": e.name,
            "categories": e.categories,
            "featured": e.featured,
            "slot": e.slot,
            "position": e.position,
            "score": e.score.total,
            "score_parts": {"sales": e.score.sales, "rating": e.score.rating, "freshness": e.score.freshness,
                            "stars": e.score.stars},
            "distance_km": e.distance_km,
            "provider": e.provider,
            "provider_kind": e.provider_kind,
            "has_shop": e.has_shop,
            "click_url": format!("{base}/discover/go/{}", e.click),
        })).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReportQuery {
    from: String,
    to: String,
}

fn traffic_json(l: &koudai_store::TrafficLine) -> Value {
    json!({
        "day": l.day, "appid": l.appid, "provider": l.provider, "provider_kind": l.provider_kind,
        "impressions": l.impressions, "featured_impressions": l.featured_impressions, "clicks": l.clicks,
        "follows": l.follows, "orders": l.orders, "gmv": l.gmv_fen,
    })
}

/// `GET /sandbox/v1/discovery/report?from=YYYY-MM-DD&to=YYYY-MM-DD` (the
/// platform's token): the traffic report as the operator console shows
/// it, with the orders it attributes.
async fn discovery_report(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    if authorize(app, &headers).await? != Scope::Platform {
        return Err(V3Error::message(ErrorCode::NoAuth, "只有平台的沙箱令牌可以查看流量报告"));
    }
    let day = |name: &str, v: &str| {
        koudai_domain::fees::parse_date(v).ok_or_else(|| param(name, &format!("{name} 应为 YYYY-MM-DD")))
    };
    let r = match koudai_app::discovery::report(app, day("from", &q.from)?, day("to", &q.to)?).await {
        Ok(r) => r,
        Err(koudai_app::discovery::ReportError::Internal(e)) => return Err(V3Error::internal(e)),
        Err(e) => return Err(param("to", &format!("日期范围无效 {e}"))),
    };
    let (from, to) = (&r.from, &r.to);
    let orders = app.store.attributed_orders(from, to).await.map_err(|e| V3Error::internal(e.into()))?;
    ok_json(&json!({
        "from": from,
        "to": to,
        "totals": traffic_json(&r.totals),
        "lines": r.lines.iter().map(traffic_json).collect::<Vec<_>>(),
        "by_kind": r.by_kind.iter().map(traffic_json).collect::<Vec<_>>(),
        "by_provider": r.by_provider.iter().map(traffic_json).collect::<Vec<_>>(),
        "orders": orders.iter().map(|o| json!({
            "reference": o.reference, "click_id": o.click_id, "appid": o.appid, "amount": o.amount_fen, "day": o.day,
        })).collect::<Vec<_>>(),
    }))
}
