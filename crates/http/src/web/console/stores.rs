//! Stores in the consoles: the operator's review queue (stores under audit
//! and pending updates, approved or rejected with a reason; the account's
//! server gets `poi_check_notify`) and each account's stores with their
//! state and the last decision's reason, for its merchant or provider.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::{Map, Value};

use koudai_protocol::times::format_bill_time;
use koudai_store::StoreRow;

use super::operator::Chrome;
use super::{check_csrf, operator, see_other, visitor, Gate, NoticeQuery};
use crate::state::HttpState;
use crate::web::page::{render, PageError};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/stores", get(queue))
        .route("/console/stores/{poi_id}/decide", post(decide))
        .route("/console/accounts/{appid}/stores", get(account_stores))
}

struct StoreLine {
    poi_id: String,
    appid: String,
    name: String,
    address: String,
    categories: String,
    state: &'static str,
    pending: String,
    reason: String,
    updated: String,
}

fn state_text(s: i64) -> &'static str {
    match s {
        2 => "审核中 Under audit",
        3 => "已通过 Approved",
        4 => "已驳回 Rejected",
        _ => "系统错误 System error",
    }
}

fn line(s: &StoreRow) -> StoreLine {
    let info: Map<String, Value> = serde_json::from_str(&s.base_info).unwrap_or_default();
    let t = |k: &str| info.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    StoreLine {
        poi_id: s.poi_id.clone(),
        appid: s.appid.clone(),
        name: format!("{} {}", t("business_name"), t("branch_name")).trim().to_owned(),
        address: format!("{} {} {} {}", t("province"), t("city"), t("district"), t("address")),
        categories: info
            .get("categories")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_default(),
        state: state_text(s.available_state),
        pending: s.pending.clone().unwrap_or_default(),
        reason: s.reason.clone(),
        updated: format_bill_time(s.updated_at),
    }
}

#[derive(Template)]
#[template(path = "console/stores.html")]
struct QueuePage {
    chrome: Chrome,
    stores: Vec<StoreLine>,
}

async fn queue(State(state): State<HttpState>, jar: CookieJar, Query(q): Query<NoticeQuery>) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let stores = state.app.store.pois_to_review().await?.iter().map(line).collect();
    Ok(render(StatusCode::OK, &QueuePage { chrome: Chrome::of(&v, q.notice.as_deref()), stores }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DecideForm {
    csrf: String,
    decision: String,
    reason: String,
}

async fn decide(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(poi_id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Result<Response, Gate> {
    use koudai_app::poi::AuditError;
    let v = operator(&state.app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let approve = f.decision == "approve";
    match koudai_app::poi::audit(&state.app, &poi_id, approve, &f.reason).await {
        Ok(_) => Ok(see_other(&format!(
            "/console/stores?notice={}",
            if approve { "store-approved" } else { "store-rejected" }
        ))),
        Err(AuditError::Internal(e)) => Err(e.into()),
        Err(e) => {
            let mut chrome = Chrome::of(&v, None);
            chrome.error = Some(e.to_string());
            let stores = state.app.store.pois_to_review().await?.iter().map(line).collect();
            Ok(render(StatusCode::CONFLICT, &QueuePage { chrome, stores }))
        }
    }
}

#[derive(Template)]
#[template(path = "console/account_stores.html")]
struct AccountStoresPage {
    chrome: Chrome,
    appid: String,
    name: String,
    stores: Vec<StoreLine>,
}

async fn account_stores(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let Some(v) = visitor(app, &jar).await? else { return Err(Gate::Login) };
    let account = app.store.mp_account(&appid).await?;
    let allowed = match &account {
        Some(a) => match (v.sp_mchid(), v.mchid()) {
            (Some(sp), _) => {
                a.owner_mchid == sp
                    || app.store.merchant(&a.owner_mchid).await?.is_some_and(|m| m.sp_mchid.as_deref() == Some(sp))
            }
            (None, Some(m)) => a.owner_mchid == m,
            (None, None) => v.user.role == koudai_store::ConsoleRole::Operator,
        },
        None => false,
    };
    let Some(account) = account.filter(|_| allowed) else {
        super::refuse(app, &v, "view_stores", &format!("appid:{appid}")).await?;
        return Err(Gate::Error(PageError::NotFound("公众号不存在".into())));
    };
    let (rows, _) = app.store.pois(&account.appid, 0, 500).await?;
    let page = AccountStoresPage {
        chrome: Chrome::of(&v, None),
        appid: account.appid,
        name: account.name,
        stores: rows.iter().map(line).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}
