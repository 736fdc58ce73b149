//! Stores in the consoles: the operator's review queue (stores under audit
//! and pending updates, approved or rejected with a reason; the account's
//! server gets `poi_check_notify`) and each account's stores with their
//! state and the last decision's reason, for its merchant or provider.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use koudai_app::o2o::poi::{self, AdmitError, NewPoi};
use koudai_protocol::times::format_bill_time;
use koudai_store::PoiRow;

use super::gate::{account_for, check_csrf, operator, see_other, visitor, Gate, NoticeQuery, Reach};
use super::operator::Chrome;
use crate::mp::Failure;
use crate::state::HttpState;
use crate::web::page::{render, yuan, PageError};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/stores", get(queue))
        .route("/console/stores/{poi_id}/decide", post(decide))
        .route("/console/accounts/{appid}/stores", get(account_stores))
        .route("/console/accounts/{appid}/stores/add", post(add_store))
        .route("/console/accounts/{appid}/stores/{poi_id}/prices", post(set_prices))
        .route("/console/accounts/{appid}/storepay-notify", post(set_notify))
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
    approved: bool,
    prices: String,
    payments: i64,
    total: String,
    refunded: String,
}

fn state_text(s: i64) -> &'static str {
    match s {
        2 => "审核中 Under audit",
        3 => "已通过 Approved",
        4 => "已驳回 Rejected",
        _ => "系统错误 System error",
    }
}

fn line(s: &PoiRow) -> StoreLine {
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
        approved: s.available_state == koudai_domain::poi::state::APPROVED,
        prices: s.prices.split(',').filter_map(|p| p.parse().ok()).map(yuan).collect::<Vec<_>>().join(", "),
        payments: 0,
        total: yuan(0),
        refunded: yuan(0),
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
    use koudai_app::o2o::poi::AuditError;
    let v = operator(&state.app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let approve = f.decision == "approve";
    match poi::audit(&state.app, &poi_id, approve, &f.reason).await {
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
    owner: String,
    notify_url: String,
    totals: (i64, String, String),
    categories: &'static [String],
    form: BTreeMap<String, String>,
}

impl AccountStoresPage {
    /// A field of the add-store form as last submitted.
    fn field(&self, name: &str) -> &str {
        self.form.get(name).map_or("", String::as_str)
    }
}

async fn stores_page(
    state: &HttpState,
    v: &super::gate::Visitor,
    account: koudai_store::MpAccount,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, Gate> {
    stores_page_with(state, v, account, status, notice, error, Default::default()).await
}

async fn stores_page_with(
    state: &HttpState,
    v: &super::gate::Visitor,
    account: koudai_store::MpAccount,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
    form: BTreeMap<String, String>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let (rows, _) = app.store.pois(&account.appid, 0, 500).await?;
    let sales = app.store.store_sales(&account.owner_mchid).await?;
    let mut stores: Vec<StoreLine> = rows.iter().map(line).collect();
    let mut totals = (0, 0, 0);
    for l in &mut stores {
        if let Some(s) = sales.iter().find(|s| s.store_id == l.poi_id) {
            l.payments = s.payments;
            l.total = yuan(s.total_fen);
            l.refunded = yuan(s.refunded_fen);
            totals = (totals.0 + s.payments, totals.1 + s.total_fen, totals.2 + s.refunded_fen);
        }
    }
    let mut chrome = Chrome::of(v, notice);
    chrome.error = error;
    let page = AccountStoresPage {
        chrome,
        notify_url: app.store.store_pay_notify_url(&account.owner_mchid).await?,
        owner: account.owner_mchid,
        appid: account.appid,
        name: account.name,
        stores,
        totals: (totals.0, yuan(totals.1), yuan(totals.2)),
        categories: koudai_domain::poi::categories(),
        form,
    };
    Ok(render(status, &page))
}

async fn account_stores(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let Some(v) = visitor(&state.app, &jar).await? else { return Err(Gate::Login) };
    let account = account_for(&state.app, &v, &appid, Reach::Read, "view_stores").await?;
    stores_page(&state, &v, account, StatusCode::OK, q.notice.as_deref(), None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PricesForm {
    csrf: String,
    prices: String,
}

async fn set_prices(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, poi_id)): Path<(String, String)>,
    Form(f): Form<PricesForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let Some(v) = visitor(app, &jar).await? else { return Err(Gate::Login) };
    check_csrf(&v, &f.csrf)?;
    let account = account_for(app, &v, &appid, Reach::Manage, "set_store_prices").await?;
    let store = app.store.poi(&poi_id).await?.filter(|s| s.appid == account.appid);
    let Some(store) = store else { return Err(Gate::Error(PageError::NotFound("门店不存在".into()))) };
    match koudai_app::o2o::storepay::set_prices(app, &store.poi_id, &f.prices).await {
        Ok(_) => Ok(see_other(&format!("/console/accounts/{}/stores?notice=prices-set", account.appid))),
        Err(koudai_app::o2o::storepay::PricesError::Internal(e)) => Err(e.into()),
        Err(koudai_app::o2o::storepay::PricesError::Invalid(e)) => {
            stores_page(&state, &v, account, StatusCode::UNPROCESSABLE_ENTITY, None, Some(format!("价格无效 {e}")))
                .await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NotifyForm {
    csrf: String,
    notify_url: String,
}

async fn set_notify(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<NotifyForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let Some(v) = visitor(app, &jar).await? else { return Err(Gate::Login) };
    check_csrf(&v, &f.csrf)?;
    let account = account_for(app, &v, &appid, Reach::Manage, "set_storepay_notify").await?;
    let url = f.notify_url.trim();
    if !url.is_empty() {
        if let Err(e) = koudai_domain::order::check_notify_url(url, app.require_https()) {
            let error = format!("回调地址无效 {}", e.message);
            return stores_page(&state, &v, account, StatusCode::UNPROCESSABLE_ENTITY, None, Some(error)).await;
        }
    }
    app.store
        .set_store_pay_notify_url(&account.owner_mchid, url, &v.principal(), app.clock.business_now().unix())
        .await?;
    Ok(see_other(&format!("/console/accounts/{}/stores?notice=storepay-notify-set", account.appid)))
}

/// The text fields of the add-store form, in the order of `base_info`.
const STORE_FIELDS: &[&str] = &[
    "sid",
    "business_name",
    "branch_name",
    "province",
    "city",
    "district",
    "address",
    "telephone",
    "category",
    "longitude",
    "latitude",
    "special",
    "open_time",
    "avg_price",
    "introduction",
    "recommend",
];

/// The form's fields as the API names them (`base_info`): numbers where
/// the API takes numbers (what does not read as one goes as written and is
/// refused by the same checks), the category as a list, GCJ-02, the photo.
fn base_info_of(form: &BTreeMap<String, String>, photo_url: &str) -> Map<String, Value> {
    let mut info = Map::new();
    for f in STORE_FIELDS {
        let value = &form[*f];
        if value.is_empty() {
            continue;
        }
        let v = match *f {
            "category" => {
                info.insert("categories".into(), json!([value]));
                continue;
            }
            "longitude" | "latitude" => value.parse::<f64>().map_or_else(|_| Value::from(value.clone()), Value::from),
            "avg_price" => value.parse::<i64>().map_or_else(|_| Value::from(value.clone()), Value::from),
            _ => Value::from(value.clone()),
        };
        info.insert((*f).to_owned(), v);
    }
    info.insert("offset_type".into(), Value::from(1));
    info.insert("photo_list".into(), json!([{"photo_url": photo_url}]));
    info
}

/// A refusal as the page shows it: the errmsg and errcode the API answers
/// (`poi/addpoi`, `media/uploadimg`) for it.
fn as_the_api_words_it(f: impl Into<Failure>) -> Result<String, Gate> {
    match f.into() {
        Failure::Refused(e) => Ok(format!("{} ({})", e.errmsg, e.errcode)),
        Failure::Internal(e) => Err(e.into()),
    }
}

/// A store added in the console (a merchant's or provider's form, with one
/// photo): the same checks and errcodes as `poi/addpoi`, under audit.
async fn add_store(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Gate> {
    let app = &state.app;
    let Some(v) = visitor(app, &jar).await? else { return Err(Gate::Login) };
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|h| h.to_str().ok());
    let parts = koudai_protocol::multipart::parse(content_type, &body)
        .map_err(|_| Gate::Error(PageError::BadRequest("表单无法读取 The form does not read".into())))?;
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_owned())
            .unwrap_or_default()
    };
    check_csrf(&v, &text("csrf"))?;
    let account = account_for(app, &v, &appid, Reach::Manage, "add_store").await?;
    let form: BTreeMap<String, String> = STORE_FIELDS.iter().map(|f| ((*f).to_owned(), text(f))).collect();
    let refuse = |status: StatusCode, error: String, form| {
        let account = account.clone();
        let (state, v) = (&state, &v);
        async move { stores_page_with(state, v, account, status, None, Some(error), form).await }
    };
    match poi::admit(app, &account).await {
        Ok(()) => {}
        Err(AdmitError::NotAllowed(why)) => {
            let error = format!("不能添加门店 Stores are not open to this account: {why}");
            return refuse(StatusCode::FORBIDDEN, error, form).await;
        }
        Err(AdmitError::Internal(e)) => return Err(e.into()),
    }
    let photo = parts.iter().find(|p| p.name == "photo" && !p.data.is_empty()).map(|p| p.data.clone());
    let Some(photo) = photo else {
        let error = "请上传一张门店照片 Add a photo of the store (65114)".into();
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, error, form).await;
    };
    let photo_url = match poi::store_photo(app, &account, photo).await {
        Ok(url) => url,
        Err(e) => {
            let error = format!("照片 Photo: {}", as_the_api_words_it(e)?);
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, error, form).await;
        }
    };
    let new = NewPoi { base_info: base_info_of(&form, &photo_url) };
    match poi::add(app, &account, &new).await {
        Ok(_) => Ok(see_other(&format!("/console/accounts/{}/stores?notice=store-added", account.appid))),
        Err(e) => {
            let error = format!("门店未添加 Not added: {}", as_the_api_words_it(e)?);
            refuse(StatusCode::UNPROCESSABLE_ENTITY, error, form).await
        }
    }
}
