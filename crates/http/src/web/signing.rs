//! The signing page at an approved application's `sign_url`: the contact
//! signs in with the application's phone number and a one-time code (five
//! wrong tries lock it for 15 minutes), confirms the amount sent to the
//! settlement account, reads the agreement and signs.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use koudai_app::parties::onboarding;
use koudai_app::Mode;
use koudai_domain::applyment::ApplymentState;
use koudai_store::ApplymentRecord;

use super::page::{render, PageError};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new().route("/sign/applyment", get(page).post(submit))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Link {
    #[serde(rename = "applymentId")]
    applyment_id: String,
    sign: String,
    phone: String,
    code: String,
    step: String,
    confirm: String,
    agree: String,
}

#[derive(Template)]
#[template(path = "signing/sign.html")]
struct SignPage {
    applyment_id: i64,
    sign: String,
    merchant_name: String,
    sp_mchid: String,
    settlement_id: String,
    state_msg: &'static str,
    account: String,
    phone: String,
    code: String,
    verified: bool,
    done: bool,
    error: Option<String>,
    sandbox: bool,
}

async fn find(state: &HttpState, link: &Link) -> Result<ApplymentRecord, PageError> {
    let gone = || PageError::NotFound("签约链接无效或已过期".into());
    let id: i64 = link.applyment_id.parse().map_err(|_| gone())?;
    if link.sign.is_empty() || link.sign.len() > 64 {
        return Err(gone());
    }
    let a = state.app.store.applyment_by_sign_token(&link.sign).await?.ok_or_else(gone)?;
    if a.applyment_id != id {
        return Err(gone());
    }
    Ok(a)
}

fn view(state: &HttpState, a: &ApplymentRecord, link: &Link, verified: bool, error: Option<String>) -> SignPage {
    // The masked account number kept with the application.
    let public: serde_json::Value = serde_json::from_str(&a.public_json).unwrap_or_default();
    let bank = &public["bank_account_info"];
    let account =
        format!("{} {}", bank["account_bank"].as_str().unwrap_or(""), bank["account_number"].as_str().unwrap_or("—"));
    SignPage {
        applyment_id: a.applyment_id,
        sign: link.sign.clone(),
        merchant_name: a.merchant_name.clone(),
        sp_mchid: a.sp_mchid.clone(),
        settlement_id: a.settlement_id.clone(),
        state_msg: a.state.message(),
        account,
        phone: link.phone.clone(),
        code: if verified { link.code.clone() } else { String::new() },
        verified,
        done: matches!(a.state, ApplymentState::Signing | ApplymentState::Finished),
        error,
        sandbox: state.app.mode() == Mode::Sandbox,
    }
}

async fn page(State(state): State<HttpState>, Query(link): Query<Link>) -> Result<Response, PageError> {
    let a = find(&state, &link).await?;
    Ok(render(StatusCode::OK, &view(&state, &a, &link, false, None)))
}

async fn submit(State(state): State<HttpState>, Form(link): Form<Link>) -> Result<Response, PageError> {
    let app = &state.app;
    let a = find(&state, &link).await?;
    if !matches!(a.state, ApplymentState::ToBeConfirmed | ApplymentState::ToBeSigned) {
        return Ok(render(StatusCode::OK, &view(&state, &a, &link, false, None)));
    }
    let now = app.clock.wall_now().unix();
    let key = format!("sign:{}", a.applyment_id);
    if !state.logins.attempt(&key, now)? {
        let e = Some("验证码错误次数过多，请15分钟后再试".to_owned());
        return Ok(render(StatusCode::TOO_MANY_REQUESTS, &view(&state, &a, &link, false, e)));
    }
    if !onboarding::contact_matches(app, &a, &link.phone, &link.code)? {
        let e = Some("手机号或验证码错误".to_owned());
        return Ok(render(StatusCode::UNAUTHORIZED, &view(&state, &a, &link, false, e)));
    }
    state.logins.succeeded(&key)?;
    if link.step != "sign" {
        return Ok(render(StatusCode::OK, &view(&state, &a, &link, true, None)));
    }
    if link.confirm != "1" || link.agree != "1" {
        let e = Some("请确认账户验证款并同意协议".to_owned());
        return Ok(render(StatusCode::BAD_REQUEST, &view(&state, &a, &link, true, e)));
    }
    let signed = onboarding::sign(app, a.applyment_id, "contact").await.map_err(|e| match e {
        onboarding::ApplyError::Internal(e) => PageError::Internal(e),
        other => PageError::BadRequest(other.to_string()),
    })?;
    Ok(render(StatusCode::OK, &view(&state, &signed, &link, true, None)))
}
