//! A provider's console: its privileges (held and lacking), its
//! sub-merchants with their balances, and each one's latest orders. Only
//! its own: another provider's sub-merchant named in a URL is "not found",
//! and the attempt is logged as a refusal.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;

use koudai_protocol::times::format_bill_time;

use super::gate::{provider_user, refuse, Gate};
use super::operator::{privilege_lines, sub_lines, Chrome};
use crate::state::HttpState;
use crate::web::page::{render, yuan, PageError};

/// Orders a sub-merchant page lists.
const ORDER_ROWS: i64 = 100;

pub fn routes() -> Router<HttpState> {
    Router::new().route("/console/my", get(home)).route("/console/my/sub-merchants/{mchid}", get(sub_merchant))
}

#[derive(Template)]
#[template(path = "console/my.html")]
struct HomePage {
    chrome: Chrome,
    sp_mchid: String,
    name: String,
    kind: &'static str,
    sp_appid: String,
    privileges: Vec<super::operator::PrivilegeLine>,
    subs: Vec<super::operator::SubLine>,
}

async fn home(State(state): State<HttpState>, jar: CookieJar) -> Result<Response, Gate> {
    let v = provider_user(&state.app, &jar).await?;
    let sp = v.sp_mchid().unwrap_or_default().to_owned();
    let p = state.app.store.provider(&sp).await?.ok_or_else(|| PageError::NotFound("服务商不存在".into()))?;
    let page = HomePage {
        chrome: Chrome::of(&v, None),
        sp_mchid: sp.clone(),
        name: p.name,
        kind: p.kind.label(),
        sp_appid: p.sp_appid,
        privileges: privilege_lines(&state, &sp).await?,
        subs: sub_lines(&state, &sp).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

struct OrderLine {
    time: String,
    out_trade_no: String,
    transaction_id: String,
    trade_type: &'static str,
    state: &'static str,
    amount: String,
    fee: String,
    refunded: String,
    frozen: bool,
}

#[derive(Template)]
#[template(path = "console/my_sub.html")]
struct SubPage {
    chrome: Chrome,
    mchid: String,
    name: String,
    fee_rule: String,
    pending: String,
    available: String,
    deposit: String,
    paid_out: String,
    orders: Vec<OrderLine>,
}

async fn sub_merchant(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(mchid): Path<String>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = provider_user(app, &jar).await?;
    let sp = v.sp_mchid().unwrap_or_default().to_owned();
    let sub = app.store.merchant(&mchid).await?.filter(|m| m.sp_mchid.as_deref() == Some(sp.as_str()));
    let Some(sub) = sub else {
        // Someone else's and missing look the same; the attempt is logged.
        refuse(app, &v, "view_sub_merchant", &format!("sub_mchid:{mchid}")).await?;
        return Err(Gate::Error(PageError::NotFound("特约商户不存在".into())));
    };
    let b = app.store.balances(&mchid).await?;
    let now = app.clock.business_now().unix();
    let orders = app
        .store
        .partner_orders(&sp, Some(&mchid), ORDER_ROWS)
        .await?
        .into_iter()
        .map(|o| OrderLine {
            time: format_bill_time(o.success_time.unwrap_or(o.created_at)),
            state: o.state_at(now).as_str(),
            out_trade_no: o.out_trade_no.clone(),
            transaction_id: o.transaction_id.clone().unwrap_or_else(|| "—".into()),
            trade_type: o.trade_type.as_str(),
            amount: yuan(o.total_fen),
            fee: yuan(o.fee_fen),
            refunded: yuan(o.refunded_fen),
            frozen: o.is_frozen(),
        })
        .collect();
    let page = SubPage {
        chrome: Chrome::of(&v, None),
        mchid,
        name: sub.name,
        fee_rule: sub.fee_rule,
        pending: yuan(b.pending_fen),
        available: yuan(b.available_fen),
        deposit: yuan(b.deposit_fen),
        paid_out: yuan(b.paid_out_fen),
        orders,
    };
    Ok(render(StatusCode::OK, &page))
}
