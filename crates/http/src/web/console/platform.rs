//! Official accounts and the third-party platform in the consoles. A
//! provider's page (`/console/my/platform`) shows its platform (component
//! appid, authorisation event URL), the permission sets its privileges let
//! account owners grant it, the accounts that authorised it, and the
//! official accounts it and its sub-merchants own, with their server
//! settings and IP allow-lists. The operator's page
//! (`/console/permission-sets`) shows the rule itself: each permission set,
//! the privilege behind it, who holds that privilege, and how many accounts
//! granted the set.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_domain::component as rules;
use koudai_protocol::times::format_bill_time;

use super::operator::Chrome;
use super::{
    account_for, check_csrf, merchant_user, operator, provider_user, see_other, visitor, Gate, NoticeQuery, Reach,
    Visitor,
};
use crate::state::HttpState;
use crate::web::page::render;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/my/platform", get(platform_page))
        .route("/console/my/platform/event-url", post(set_event_url))
        .route("/console/accounts/{appid}/server", post(set_server))
        .route("/console/accounts/{appid}/ip-allowlist", post(set_allowlist))
        .route("/console/merchant", get(merchant_page))
        .route("/console/accounts/{appid}/authorizations/{component_appid}/revoke", post(revoke))
        .route("/console/permission-sets", get(permission_sets))
        .route("/console/accounts/{appid}/shop", get(shop_page))
        .route("/console/accounts/{appid}/orders/{order_id}/ship", post(ship))
        .route("/console/accounts/{appid}/orders/{order_id}/close", post(close_order))
        .route("/console/accounts/{appid}/products/{product_id}/stock", post(add_stock))
}

struct SetLine {
    id: i64,
    name: String,
    exclusive: bool,
    privilege: String,
    grantable: bool,
}

struct AuthLine {
    appid: String,
    name: String,
    sets: String,
    since: String,
}

struct AccountLine {
    appid: String,
    name: String,
    original_id: String,
    owner: String,
    server_url: String,
    mode: String,
    ip_allowlist: String,
}

#[derive(Template)]
#[template(path = "console/platform.html")]
struct PlatformPage {
    chrome: Chrome,
    component_appid: Option<String>,
    event_url: String,
    sets: Vec<SetLine>,
    authorizations: Vec<AuthLine>,
    accounts: Vec<AccountLine>,
    modes: &'static [&'static str],
}

async fn platform_view(state: &HttpState, v: &Visitor, chrome: Chrome) -> Result<Response, Gate> {
    let app = &state.app;
    let sp = v.sp_mchid().unwrap_or_default().to_owned();
    let held = koudai_app::authz::held_privileges(app, &sp).await?;
    let component = app.store.component_of_provider(&sp).await?;
    let sets = rules::rules()
        .sets
        .iter()
        .map(|s| SetLine {
            id: s.id,
            name: s.name.clone(),
            exclusive: s.exclusive,
            privilege: s.privilege.clone().unwrap_or_else(|| "—".into()),
            grantable: s.privilege.as_ref().is_none_or(|p| held.contains_key(p)),
        })
        .collect();
    let mut authorizations = Vec::new();
    if let Some(c) = &component {
        let (rows, _) = app.store.authorizations_of_component(&c.component_appid, 0, 500).await?;
        for a in rows {
            let name = app.store.mp_account(&a.authorizer_appid).await?.map(|m| m.name).unwrap_or_default();
            authorizations.push(AuthLine {
                appid: a.authorizer_appid,
                name,
                sets: a.func_ids.replace(',', ", "),
                since: format_bill_time(a.authorized_at),
            });
        }
    }
    let mut owners = vec![(sp.clone(), "服务商 provider".to_owned())];
    for m in app.store.sub_merchants(&sp).await? {
        owners.push((m.mchid, m.name));
    }
    let mut accounts = Vec::new();
    for (mchid, owner) in owners {
        for a in app.store.mp_accounts_of(&mchid).await? {
            accounts.push(AccountLine {
                appid: a.appid,
                name: a.name,
                original_id: a.original_id,
                owner: owner.clone(),
                server_url: a.server_url.unwrap_or_default(),
                mode: a.message_mode,
                ip_allowlist: a.ip_allowlist,
            });
        }
    }
    let page = PlatformPage {
        chrome,
        component_appid: component.as_ref().map(|c| c.component_appid.clone()),
        event_url: component.and_then(|c| c.event_url).unwrap_or_default(),
        sets,
        authorizations,
        accounts,
        modes: koudai_app::mp_push::MODES,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn platform_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = provider_user(&state.app, &jar).await?;
    let chrome = Chrome::of(&v, q.notice.as_deref());
    platform_view(&state, &v, chrome).await
}

/// The page again with a form's error.
async fn failed(state: &HttpState, v: &Visitor, message: String) -> Result<Response, Gate> {
    let mut chrome = Chrome::of(v, None);
    chrome.error = Some(message);
    platform_view(state, v, chrome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UrlForm {
    csrf: String,
    url: String,
    message_mode: String,
    ips: String,
}

async fn set_event_url(
    State(state): State<HttpState>,
    jar: CookieJar,
    Form(f): Form<UrlForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = provider_user(app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let sp = v.sp_mchid().unwrap_or_default().to_owned();
    let Some(c) = app.store.component_of_provider(&sp).await? else {
        return failed(
            &state,
            &v,
            "还没有第三方平台，请联系运营方开通。No third-party platform yet: ask the operator.".into(),
        )
        .await;
    };
    match koudai_app::component::set_event_url(app, &c, f.url.trim()).await {
        Ok(()) => Ok(see_other("/console/my/platform?notice=event-url-set")),
        Err(koudai_app::mp_push::ServerError::Internal(e)) => Err(e.into()),
        Err(e) => failed(&state, &v, e.to_string()).await,
    }
}

/// A provider or merchant user (the two who manage accounts).
async fn manager(state: &HttpState, jar: &CookieJar) -> Result<Visitor, Gate> {
    match visitor(&state.app, jar).await? {
        None => Err(Gate::Login),
        Some(v) if v.sp_mchid().is_some() || v.mchid().is_some() => Ok(v),
        Some(_) => Err(Gate::Forbidden),
    }
}

/// The page a manager's forms return to.
fn back(v: &Visitor, notice: &str) -> String {
    if v.mchid().is_some() {
        format!("/console/merchant?notice={notice}")
    } else {
        format!("/console/my/platform?notice={notice}")
    }
}

/// The manager's page again with a form's error.
async fn manager_failed(state: &HttpState, v: &Visitor, message: String) -> Result<Response, Gate> {
    let mut chrome = Chrome::of(v, None);
    chrome.error = Some(message);
    if v.mchid().is_some() {
        merchant_view(state, v, chrome).await
    } else {
        platform_view(state, v, chrome).await
    }
}

async fn set_server(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<UrlForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    match koudai_app::mp_push::set_server(app, &a.appid, f.url.trim(), &f.message_mode).await {
        Ok(()) => Ok(see_other(&back(&v, "server-set"))),
        Err(koudai_app::mp_push::ServerError::Internal(e)) => Err(e.into()),
        Err(e) => manager_failed(&state, &v, format!("{}: {e}", a.appid)).await,
    }
}

async fn set_allowlist(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<UrlForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let ips: Vec<&str> = f.ips.split([',', ' ', '\n']).map(str::trim).filter(|i| !i.is_empty()).collect();
    if let Some(bad) = ips.iter().find(|i| i.parse::<std::net::IpAddr>().is_err()) {
        return manager_failed(&state, &v, format!("{bad} 不是 IP 地址 is not an IP address")).await;
    }
    app.store.set_mp_ip_allowlist(&a.appid, &ips.join(",")).await?;
    Ok(see_other(&back(&v, "allowlist-set")))
}

struct GrantLine {
    component_appid: String,
    provider: String,
    sets: String,
    since: String,
    live: bool,
}

struct OwnAccount {
    line: AccountLine,
    grants: Vec<GrantLine>,
}

#[derive(Template)]
#[template(path = "console/merchant.html")]
struct MerchantPage {
    chrome: Chrome,
    name: String,
    mchid: String,
    accounts: Vec<OwnAccount>,
    modes: &'static [&'static str],
}

async fn merchant_view(state: &HttpState, v: &Visitor, chrome: Chrome) -> Result<Response, Gate> {
    let app = &state.app;
    let mchid = v.mchid().unwrap_or_default().to_owned();
    let name = app.store.merchant(&mchid).await?.map(|m| m.name).unwrap_or_default();
    let mut accounts = Vec::new();
    for a in app.store.mp_accounts_of(&mchid).await? {
        let mut grants = Vec::new();
        for g in app.store.authorizations_of_account(&a.appid).await? {
            let provider = match app.store.component(&g.component_appid).await? {
                Some(c) => app.store.merchant(&c.provider_mchid).await?.map(|m| m.name).unwrap_or_default(),
                None => String::new(),
            };
            grants.push(GrantLine {
                component_appid: g.component_appid,
                provider,
                sets: g.func_ids.replace(',', ", "),
                since: format_bill_time(g.authorized_at),
                live: g.revoked_at.is_none(),
            });
        }
        accounts.push(OwnAccount {
            line: AccountLine {
                appid: a.appid,
                name: a.name,
                original_id: a.original_id,
                owner: name.clone(),
                server_url: a.server_url.unwrap_or_default(),
                mode: a.message_mode,
                ip_allowlist: a.ip_allowlist,
            },
            grants,
        });
    }
    let page = MerchantPage { chrome, name, mchid, accounts, modes: koudai_app::mp_push::MODES };
    Ok(render(StatusCode::OK, &page))
}

async fn merchant_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = merchant_user(&state.app, &jar).await?;
    let chrome = Chrome::of(&v, q.notice.as_deref());
    merchant_view(&state, &v, chrome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfOnly {
    csrf: String,
}

/// The account's owner ends a platform's authorisation (the platform gets
/// `unauthorized`; its tokens and refresh token die).
async fn revoke(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, component_appid)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = merchant_user(app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    if koudai_app::component::revoke(app, &component_appid, &a.appid).await? {
        Ok(see_other(&back(&v, "authorization-revoked")))
    } else {
        manager_failed(&state, &v, format!("{component_appid} 没有该公众号的有效授权 holds no live authorisation"))
            .await
    }
}

struct RuleLine {
    id: i64,
    name: String,
    exclusive: bool,
    privilege: String,
    privilege_title: String,
    holders: String,
    granted: usize,
}

#[derive(Template)]
#[template(path = "console/permission_sets.html")]
struct RulesPage {
    chrome: Chrome,
    lines: Vec<RuleLine>,
    apis: Vec<(String, String)>,
}

async fn permission_sets(State(state): State<HttpState>, jar: CookieJar) -> Result<Response, Gate> {
    let app = &state.app;
    let v = operator(app, &jar).await?;
    let providers = app.store.league().await?;
    let mut held_by: Vec<(String, std::collections::BTreeMap<String, koudai_domain::provider::Held>)> = Vec::new();
    for p in &providers {
        held_by.push((p.name.clone(), koudai_app::authz::held_privileges(app, &p.sp_mchid).await?));
    }
    let live = app.store.live_authorizations().await?;
    let lines = rules::rules()
        .sets
        .iter()
        .map(|s| {
            let (privilege, title, holders) = match &s.privilege {
                None => ("—".to_owned(), "任何服务商 any provider".to_owned(), "—".to_owned()),
                Some(p) => {
                    let names: Vec<&str> =
                        held_by.iter().filter(|(_, h)| h.contains_key(p)).map(|(n, _)| n.as_str()).collect();
                    let title = koudai_domain::provider::privilege(p).map(|i| i.title.clone()).unwrap_or_default();
                    (p.clone(), title, if names.is_empty() { "无 none".into() } else { names.join(", ") })
                }
            };
            RuleLine {
                id: s.id,
                name: s.name.clone(),
                exclusive: s.exclusive,
                privilege,
                privilege_title: title,
                holders,
                granted: live.iter().filter(|a| rules::parse_sets(&a.func_ids).contains(&s.id)).count(),
            }
        })
        .collect();
    let apis = rules::rules()
        .apis
        .iter()
        .map(|(api, ids)| (api.clone(), ids.iter().map(i64::to_string).collect::<Vec<_>>().join(" / ")))
        .collect();
    Ok(render(StatusCode::OK, &RulesPage { chrome: Chrome::of(&v, None), lines, apis }))
}

struct ConsoleSku {
    sku_id: String,
    price: String,
    quantity: i64,
}

struct ConsoleProduct {
    product_id: String,
    name: String,
    on_shelf: bool,
    skus: Vec<ConsoleSku>,
}

struct ConsoleOrder {
    order_id: String,
    created: String,
    buyer: String,
    product: String,
    count: i64,
    total: String,
    status: i64,
    status_text: &'static str,
    receiver: String,
    delivery: String,
    rights_reason: String,
}

#[derive(Template)]
#[template(path = "console/shop.html")]
struct ShopPage {
    chrome: Chrome,
    appid: String,
    name: String,
    products: Vec<ConsoleProduct>,
    orders: Vec<ConsoleOrder>,
    companies: &'static [&'static str],
}

async fn shop_view(
    state: &HttpState,
    v: &Visitor,
    a: &koudai_store::MpAccount,
    chrome: Chrome,
) -> Result<Response, Gate> {
    let app = &state.app;
    let mut products = Vec::new();
    for p in app.store.products(&a.appid, None).await? {
        let body: serde_json::Value = serde_json::from_str(&p.body).unwrap_or_default();
        let skus = app
            .store
            .skus(&p.product_id)
            .await?
            .into_iter()
            .map(|k| ConsoleSku { sku_id: k.sku_id, price: crate::web::page::yuan(k.price), quantity: k.quantity })
            .collect();
        products.push(ConsoleProduct {
            product_id: p.product_id,
            name: body["product_base"]["name"].as_str().unwrap_or_default().to_owned(),
            on_shelf: p.on_shelf.0,
            skus,
        });
    }
    let orders = app
        .store
        .shop_orders(&a.appid, None, None, None)
        .await?
        .into_iter()
        .map(|o| ConsoleOrder {
            created: format_bill_time(o.created_at),
            buyer: o.consumer.clone(),
            product: o.product_name.clone(),
            count: o.product_count,
            total: crate::web::page::yuan(o.total_price),
            status: o.status,
            status_text: crate::web::shop_status_text(o.status),
            receiver: format!(
                "{} {} · {} {} {} {}",
                o.receiver_name,
                o.receiver_mobile,
                o.receiver_province,
                o.receiver_city,
                o.receiver_zone,
                o.receiver_address
            ),
            delivery: format!("{} {}", o.delivery_company, o.delivery_id).trim().to_owned(),
            rights_reason: o.rights_reason.clone(),
            order_id: o.order_id,
        })
        .collect();
    let _ = v;
    let page = ShopPage {
        chrome,
        appid: a.appid.clone(),
        name: a.name.clone(),
        products,
        orders,
        companies: &koudai_domain::shop::DELIVERY_COMPANIES,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn shop_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let chrome = Chrome::of(&v, q.notice.as_deref());
    shop_view(&state, &v, &a, chrome).await
}

async fn shop_failed(
    state: &HttpState,
    v: &Visitor,
    a: &koudai_store::MpAccount,
    message: String,
) -> Result<Response, Gate> {
    let mut chrome = Chrome::of(v, None);
    chrome.error = Some(message);
    shop_view(state, v, a, chrome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ShipForm {
    csrf: String,
    company: String,
    track: String,
    quantity: String,
    sku_info: String,
}

/// Runs a shop API call for the account as its developer would, so the
/// console and the API apply the same rules.
async fn as_api(
    state: &HttpState,
    v: &Visitor,
    a: &koudai_store::MpAccount,
    result: Result<serde_json::Value, koudai_app::mp::MpFailure>,
    notice: &str,
) -> Result<Response, Gate> {
    match result {
        Ok(_) => Ok(see_other(&format!("/console/accounts/{}/shop?notice={notice}", a.appid))),
        Err(koudai_app::mp::MpFailure::Internal(e)) => Err(e.into()),
        Err(koudai_app::mp::MpFailure::Refused(e)) => shop_failed(state, v, a, e.errmsg).await,
    }
}

async fn ship(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, order_id)): Path<(String, String)>,
    Form(f): Form<ShipForm>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let body = serde_json::json!({"order_id": order_id, "delivery_company": f.company.trim(), "delivery_track_no": f.track.trim(), "need_delivery": 1});
    let result = koudai_app::shop_orders::set_delivery(&state.app, &a, &body).await;
    as_api(&state, &v, &a, result, "order-shipped").await
}

async fn close_order(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, order_id)): Path<(String, String)>,
    Form(f): Form<ShipForm>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let result = koudai_app::shop_orders::close(&state.app, &a, &serde_json::json!({"order_id": order_id})).await;
    as_api(&state, &v, &a, result, "order-closed").await
}

async fn add_stock(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, product_id)): Path<(String, String)>,
    Form(f): Form<ShipForm>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let body = serde_json::json!({"product_id": product_id, "sku_info": f.sku_info, "quantity": f.quantity.trim().parse::<i64>().unwrap_or(0)});
    let result = koudai_app::shop::change_stock(&state.app, &a, &body, 1).await;
    as_api(&state, &v, &a, result, "stock-added").await
}
