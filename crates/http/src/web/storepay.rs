//! Store pay codes: the printable code of an approved store (a permanent QR
//! code of its pay page), the pay page where a signed-in consumer enters
//! an amount or picks a fixed price, may follow the account and pays from
//! the wallet, and the receipt.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_app::o2o::storepay::{self, PayCode, StorePayError};
use koudai_store::Session;

use super::page::{render, yuan, PageError};
use super::session::{self, csrf_matches};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/store/{poi_id}", get(page))
        .route("/store/{poi_id}/pay", post(pay))
        .route("/store/{poi_id}/print", get(print))
        .route("/store/{poi_id}/code.png", get(code_png))
        .route("/store/{poi_id}/paid/{out_trade_no}", get(paid))
}

async fn code(state: &HttpState, poi_id: &str) -> Result<PayCode, PageError> {
    match storepay::pay_code(&state.app, poi_id).await {
        Ok(c) => Ok(c),
        Err(StorePayError::Internal(e)) => Err(PageError::Internal(e)),
        Err(_) => Err(PageError::NotFound("门店不存在或未通过审核 No such store takes payments".into())),
    }
}

fn pay_url(state: &HttpState, poi_id: &str) -> String {
    format!("{}/store/{poi_id}", state.app.config.base_url)
}

#[derive(Template)]
#[template(path = "storepay/pay.html")]
struct PayPage {
    poi_id: String,
    name: String,
    address: String,
    telephone: String,
    appid: String,
    account_name: String,
    prices: Vec<(i64, String)>,
    csrf: Option<String>,
    login: Option<String>,
    following: bool,
    amount: String,
    error: Option<String>,
    /// Names this rendering's payment: a resubmitted form pays once.
    attempt: String,
}

async fn pay_view(
    state: &HttpState,
    c: &PayCode,
    s: Option<&Session>,
    amount: String,
    error: Option<String>,
) -> Result<PayPage, PageError> {
    let app = &state.app;
    let following = match s {
        Some(s) => match app.store.openids_of(&s.login).await?.into_iter().find(|(a, _)| *a == c.account.appid) {
            Some((_, openid)) => app.store.is_following(&c.account.appid, &openid).await?,
            None => false,
        },
        None => false,
    };
    Ok(PayPage {
        poi_id: c.store.poi_id.clone(),
        name: c.name.clone(),
        address: c.address.clone(),
        telephone: c.telephone.clone(),
        appid: c.account.appid.clone(),
        account_name: c.account.name.clone(),
        prices: c.prices.iter().map(|p| (*p, yuan(*p))).collect(),
        csrf: s.map(|s| s.csrf.expose().clone()),
        login: s.map(|s| s.login.clone()),
        following,
        amount,
        error,
        attempt: app.rng.token(24),
    })
}

async fn page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(poi_id): Path<String>,
) -> Result<Response, PageError> {
    let c = code(&state, &poi_id).await?;
    let s = session::current(&state.app, &jar).await?;
    Ok(render(StatusCode::OK, &pay_view(&state, &c, s.as_ref(), String::new(), None).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PayForm {
    csrf: String,
    amount: String,
    price: String,
    follow: String,
    attempt: String,
}

async fn pay(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(poi_id): Path<String>,
    Form(f): Form<PayForm>,
) -> Result<Response, PageError> {
    let c = code(&state, &poi_id).await?;
    let Some(s) = session::current(&state.app, &jar).await? else {
        return Err(PageError::BadRequest("请先登录钱包 Sign in with your wallet first".into()));
    };
    if !csrf_matches(&s, &f.csrf) {
        return Err(PageError::BadRequest("表单已过期，请刷新页面后重试".into()));
    }
    let failed = |m: String| async {
        Ok::<Response, PageError>(render(
            StatusCode::CONFLICT,
            &pay_view(&state, &c, Some(&s), f.amount.clone(), Some(m)).await?,
        ))
    };
    let amount = if c.prices.is_empty() { storepay::parse_yuan(&f.amount) } else { f.price.trim().parse::<i64>().ok() };
    let Some(amount) = amount.filter(|a| *a > 0) else {
        return failed("请输入金额，例如 12.34 Enter an amount like 12.34".into()).await;
    };
    let attempt = f.attempt.trim();
    let attempt = (!attempt.is_empty() && attempt.len() <= 64 && attempt.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(attempt);
    match storepay::pay(&state.app, &c, &s.login, amount, f.follow == "1", attempt).await {
        Ok(o) => Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/store/{}/paid/{}", c.store.poi_id, o.out_trade_no))],
        )
            .into_response()),
        Err(StorePayError::Internal(e)) => Err(PageError::Internal(e)),
        Err(StorePayError::NotEnough) => failed("钱包余额不足 Your wallet balance does not cover this".into()).await,
        Err(StorePayError::NoStore(_)) => Err(PageError::NotFound("门店不存在或未通过审核".into())),
        Err(StorePayError::Refused(m)) => failed(m).await,
    }
}

#[derive(Template)]
#[template(path = "storepay/paid.html")]
struct PaidPage {
    poi_id: String,
    name: String,
    appid: String,
    account_name: String,
    amount: String,
    transaction_id: String,
    out_trade_no: String,
}

async fn paid(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((poi_id, out_trade_no)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let c = code(&state, &poi_id).await?;
    let s = session::current(&state.app, &jar).await?;
    let plain = out_trade_no.len() <= 32 && out_trade_no.bytes().all(|b| b.is_ascii_alphanumeric());
    let o =
        if plain { state.app.store.order_by_out_trade_no(&c.account.owner_mchid, &out_trade_no).await? } else { None };
    // Only the payer sees the receipt.
    let o = o.filter(|o| {
        o.store_id.as_deref() == Some(&c.store.poi_id)
            && s.as_ref().is_some_and(|s| o.payer_login.as_deref() == Some(s.login.as_str()))
    });
    let o = o.ok_or_else(|| PageError::NotFound("没有这笔付款 No such payment".into()))?;
    Ok(render(
        StatusCode::OK,
        &PaidPage {
            poi_id: c.store.poi_id.clone(),
            name: c.name,
            appid: c.account.appid,
            account_name: c.account.name,
            amount: yuan(o.total_fen),
            transaction_id: o.transaction_id.unwrap_or_default(),
            out_trade_no: o.out_trade_no,
        },
    ))
}

#[derive(Template)]
#[template(path = "storepay/print.html")]
struct PrintPage {
    poi_id: String,
    name: String,
    address: String,
    account_name: String,
    url: String,
    prices: Vec<String>,
}

/// The printable pay code.
async fn print(State(state): State<HttpState>, Path(poi_id): Path<String>) -> Result<Response, PageError> {
    let c = code(&state, &poi_id).await?;
    Ok(render(
        StatusCode::OK,
        &PrintPage {
            url: pay_url(&state, &c.store.poi_id),
            poi_id: c.store.poi_id,
            name: c.name,
            address: c.address,
            account_name: c.account.name,
            prices: c.prices.iter().map(|p| yuan(*p)).collect(),
        },
    ))
}

/// The QR code of the pay page, as PNG.
async fn code_png(State(state): State<HttpState>, Path(poi_id): Path<String>) -> Result<Response, PageError> {
    let c = code(&state, &poi_id).await?;
    let png = crate::mp::qr::png(pay_url(&state, &c.store.poi_id).as_bytes())
        .map_err(|e| PageError::Internal(koudai_app::Internal::bug(format!("drawing a pay code: {e}"))))?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "public, max-age=3600")], png).into_response())
}
