//! The parties in the sandbox: a provider's privileges granted or revoked,
//! deposits paid from outside, and an application's audit, signing and
//! signing code.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use koudai_app::parties::onboarding;
use koudai_app::parties::providers::{self, GrantCommand};
use koudai_app::parties::{self, PartyError};
use koudai_app::App;
use koudai_domain::applyment::FieldRejection;
use koudai_domain::provider::GrantAction;
use koudai_protocol::ErrorCode;

use super::access::{authorize, ok_json, param, Scope};
use crate::state::HttpState;
use crate::v3::body::{json_body, required_text};
use crate::v3::V3Error;

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
pub(super) async fn privileges(
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
pub(super) async fn deposits(
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
pub(super) async fn applyment_audit(
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
pub(super) async fn applyment_sign(
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
pub(super) async fn applyment_sign_code(
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
