//! Official accounts and the third-party platform in the consoles. A
//! provider's page (`/console/my/platform`) shows its platform (component
//! appid, authorisation event URL, set here), the permission sets its
//! privileges let account owners grant it, the accounts that authorised
//! it, and the official accounts it and its sub-merchants own, with their
//! server settings and IP allow-lists. Those two forms
//! (`/console/accounts/{appid}/server` and `…/ip-allowlist`) serve a
//! merchant user's page (`merchant`) too, and so does ending a platform's
//! authorisation (`…/authorizations/{component_appid}/revoke`, the
//! account's merchant only). The operator's page
//! (`/console/permission-sets`) shows the rule itself: each permission set,
//! the privilege behind it, who holds that privilege, and how many accounts
//! granted the set. An account's shop is managed in `shop`.

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

use super::gate::{
    account_for, check_csrf, manager, merchant_user, operator, provider_user, see_other, Gate, NoticeQuery, Reach,
    Visitor,
};
use super::merchant::{merchant_view, AccountLine};
use super::operator::Chrome;
use crate::state::HttpState;
use crate::web::page::render;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/my/platform", get(platform_page))
        .route("/console/my/platform/event-url", post(set_event_url))
        .route("/console/accounts/{appid}/server", post(set_server))
        .route("/console/accounts/{appid}/ip-allowlist", post(set_allowlist))
        .route("/console/accounts/{appid}/authorizations/{component_appid}/revoke", post(revoke))
        .route("/console/permission-sets", get(permission_sets))
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
    let held = koudai_app::access::authz::held_privileges(app, &sp).await?;
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
        modes: koudai_app::mp::server::MODES,
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
    match koudai_app::mp::component::set_event_url(app, &c, f.url.trim()).await {
        Ok(()) => Ok(see_other("/console/my/platform?notice=event-url-set")),
        Err(koudai_app::mp::server::ServerError::Internal(e)) => Err(e.into()),
        Err(e) => failed(&state, &v, e.to_string()).await,
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
    match koudai_app::mp::server::set_server(app, &a.appid, f.url.trim(), &f.message_mode).await {
        Ok(()) => Ok(see_other(&back(&v, "server-set"))),
        Err(koudai_app::mp::server::ServerError::Internal(e)) => Err(e.into()),
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
    match koudai_app::mp::server::set_ip_allowlist(app, &a.appid, &f.ips).await {
        Ok(_) => Ok(see_other(&back(&v, "allowlist-set"))),
        Err(koudai_app::mp::server::AllowlistError::NotAnIp(bad)) => {
            manager_failed(&state, &v, format!("{bad} 不是 IP 地址 is not an IP address")).await
        }
        Err(koudai_app::mp::server::AllowlistError::Internal(e)) => Err(e.into()),
    }
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
    if koudai_app::mp::component::revoke(app, &component_appid, &a.appid).await? {
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
        held_by.push((p.name.clone(), koudai_app::access::authz::held_privileges(app, &p.sp_mchid).await?));
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
