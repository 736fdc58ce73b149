//! A merchant user's page (`/console/merchant`): the merchant's official
//! accounts, each with its server settings and IP allow-list (the forms
//! post to `platform`'s routes), links to its eligibility, shop and
//! stores, and the third-party platforms it authorised, live or revoked
//! (a live one with its revoke form).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;

use koudai_protocol::times::format_bill_time;

use super::gate::{merchant_user, Gate, NoticeQuery, Visitor};
use super::operator::Chrome;
use crate::state::HttpState;
use crate::web::page::render;

/// An official account as the console lists it, with its server settings.
pub(super) struct AccountLine {
    pub(super) appid: String,
    pub(super) name: String,
    pub(super) original_id: String,
    pub(super) owner: String,
    pub(super) server_url: String,
    pub(super) mode: String,
    pub(super) ip_allowlist: String,
}

pub fn routes() -> Router<HttpState> {
    Router::new().route("/console/merchant", get(merchant_page))
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

pub(super) async fn merchant_view(state: &HttpState, v: &Visitor, chrome: Chrome) -> Result<Response, Gate> {
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
    let page = MerchantPage { chrome, name, mchid, accounts, modes: koudai_app::mp::server::MODES };
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
