//! The operator's console: providers and the league table, one provider's
//! privileges and sub-merchants, the privilege log, the refusal log, every
//! sub-merchant.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_app::parties::providers::{self, GrantCommand, ProviderSpec, SubMerchantSpec};
use koudai_app::parties::PartyError;
use koudai_domain::provider::{self, GrantAction, ProviderKind};
use koudai_protocol::times::format_bill_time;
use koudai_store::{ConsoleRole, KeyMode, LogFilter};

use super::gate::{check_csrf, notice_text, operator, see_other, Gate, NoticeQuery, Visitor};
use crate::state::HttpState;
use crate::web::page::{render, yuan, PageError};

/// Rows a log page shows.
const LOG_ROWS: i64 = 200;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/providers", get(providers_page).post(create_provider))
        .route("/console/providers/{sp_mchid}", get(provider_page))
        .route("/console/providers/{sp_mchid}/privileges", post(change_privilege))
        .route("/console/providers/{sp_mchid}/sub-merchants", post(create_sub_merchant))
        .route("/console/privileges", get(privilege_log))
        .route("/console/refusals", get(refusal_log))
        .route("/console/sub-merchants", get(sub_merchants))
}

/// What every console page's layout needs.
pub struct Chrome {
    pub login: String,
    pub csrf: String,
    pub operator: bool,
    pub merchant: bool,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

impl Chrome {
    pub fn of(v: &Visitor, notice: Option<&str>) -> Chrome {
        Chrome {
            login: v.user.login.clone(),
            csrf: v.csrf(),
            operator: v.user.role == ConsoleRole::Operator,
            merchant: v.user.role == ConsoleRole::Merchant,
            notice: notice_text(notice),
            error: None,
        }
    }
}

struct LeagueLine {
    sp_mchid: String,
    name: String,
    kind: &'static str,
    privileges: String,
    sub_merchants: i64,
    payments: i64,
    volume: String,
}

#[derive(Template)]
#[template(path = "console/providers.html")]
struct ProvidersPage {
    chrome: Chrome,
    rows: Vec<LeagueLine>,
    official: (i64, String),
    third_party: (i64, String),
    form: ProviderForm,
}

async fn league(state: &HttpState) -> Result<(Vec<LeagueLine>, (i64, String), (i64, String)), Gate> {
    let app = &state.app;
    let mut rows = Vec::new();
    let (mut official, mut third) = ((0i64, 0i64), (0i64, 0i64));
    for r in app.store.league().await? {
        let held = koudai_app::access::authz::held_privileges(app, &r.sp_mchid).await?;
        let total = match r.kind {
            ProviderKind::Official => &mut official,
            ProviderKind::ThirdParty => &mut third,
        };
        total.0 += r.payments;
        total.1 += r.volume_fen;
        rows.push(LeagueLine {
            sp_mchid: r.sp_mchid,
            name: r.name,
            kind: r.kind.label(),
            privileges: if held.is_empty() { "—".into() } else { held.into_keys().collect::<Vec<_>>().join(", ") },
            sub_merchants: r.sub_merchants,
            payments: r.payments,
            volume: yuan(r.volume_fen),
        });
    }
    Ok((rows, (official.0, yuan(official.1)), (third.0, yuan(third.1))))
}

async fn providers_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let (rows, official, third_party) = league(&state).await?;
    let page = ProvidersPage {
        chrome: Chrome::of(&v, q.notice.as_deref()),
        rows,
        official,
        third_party,
        form: ProviderForm::default(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct ProviderForm {
    csrf: String,
    name: String,
    kind: String,
    key_mode: String,
    console_login: String,
    console_password: String,
    service_notify_url: String,
}

#[derive(Template)]
#[template(path = "console/provider_created.html")]
struct CreatedPage {
    chrome: Chrome,
    sp_mchid: String,
    sp_appid: String,
    kind: &'static str,
    key_mode: &'static str,
    serial_no: String,
    apiv3_key: String,
    private_key_pem: String,
    certificate_pem: String,
    console_login: Option<String>,
}

async fn create_provider(
    State(state): State<HttpState>,
    jar: CookieJar,
    Form(f): Form<ProviderForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = operator(app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let invalid = |message: String, f: ProviderForm| async {
        let (rows, official, third_party) = league(&state).await?;
        let mut chrome = Chrome::of(&v, None);
        chrome.error = Some(message);
        let page = ProvidersPage { chrome, rows, official, third_party, form: f };
        Ok::<_, Gate>(render(StatusCode::BAD_REQUEST, &page))
    };
    let Some(kind) = ProviderKind::parse(&f.kind) else {
        return invalid("请选择服务商类型（官方或第三方）".into(), f).await;
    };
    let key_mode = KeyMode::parse(&f.key_mode).unwrap_or(KeyMode::PublicKey);
    let with_user = !f.console_login.trim().is_empty();
    let spec = ProviderSpec {
        sp_mchid: None,
        name: &f.name,
        kind,
        key_mode,
        sp_appid: None,
        service_notify_url: Some(f.service_notify_url.trim()).filter(|u| !u.is_empty()),
    };
    if let Some(url) = spec.service_notify_url {
        if let Err(e) = koudai_domain::order::check_notify_url(url, app.require_https()) {
            return invalid(format!("分账通知地址不合法：{}", e.message), f).await;
        }
    }
    if with_user && f.console_password.chars().count() < 10 {
        return invalid("控制台密码至少10个字符".into(), f).await;
    }
    let created =
        match providers::create_provider(&app.store, &app.rng, &app.platform, spec, app.clock.wall_now()).await {
            Ok(c) => c,
            Err(PartyError::Invalid(m)) => return invalid(m, f).await,
            Err(e) => return Err(party(e)),
        };
    let m = &created.merchant;
    if with_user {
        let login = f.console_login.trim();
        let made = providers::create_console_user(
            &app.store,
            &app.rng,
            login,
            &f.console_password,
            ConsoleRole::Provider,
            Some(&m.mchid),
            app.clock.wall_now(),
        )
        .await;
        if let Err(e) = made {
            let message = match e {
                PartyError::Invalid(m) | PartyError::NotFound(m) => m,
                PartyError::Internal(e) => return Err(e.into()),
            };
            return invalid(
                format!("服务商 {} 已创建，但控制台账号未创建：{message}", m.mchid),
                ProviderForm::default(),
            )
            .await;
        }
    }
    let page = CreatedPage {
        chrome: Chrome::of(&v, Some("provider-created")),
        sp_mchid: m.mchid.clone(),
        sp_appid: created.sp_appid.clone(),
        kind: kind.label(),
        key_mode: m.key_mode.as_str(),
        serial_no: m.serial_no.clone(),
        apiv3_key: m.apiv3_key.expose().clone(),
        private_key_pem: m.private_key_pem.as_ref().map(|k| k.expose().clone()).unwrap_or_default(),
        certificate_pem: m.certificate_pem.clone(),
        console_login: with_user.then(|| f.console_login.trim().to_owned()),
    };
    let mut resp = render(StatusCode::OK, &page);
    // The private key is shown once: never kept by a cache.
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn party(e: PartyError) -> Gate {
    match e {
        PartyError::Invalid(m) => Gate::Error(PageError::BadRequest(m)),
        PartyError::NotFound(m) => Gate::Error(PageError::NotFound(format!("{m} 不存在"))),
        PartyError::Internal(e) => e.into(),
    }
}

pub(super) struct PrivilegeLine {
    pub(super) key: String,
    pub(super) title: String,
    pub(super) opens: String,
    pub(super) held: bool,
    pub(super) since: String,
    pub(super) expires: String,
}

pub(super) struct SubLine {
    pub(super) mchid: String,
    pub(super) name: String,
    pub(super) fee_rule: String,
    pub(super) apps: String,
    pub(super) pending: String,
    pub(super) available: String,
    pub(super) deposit: String,
}

struct LogLine {
    time: String,
    sp_mchid: String,
    privilege: String,
    action: &'static str,
    actor: String,
    reason: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "console/provider.html")]
struct ProviderPage {
    chrome: Chrome,
    sp_mchid: String,
    name: String,
    kind: &'static str,
    sp_appid: String,
    privileges: Vec<PrivilegeLine>,
    subs: Vec<SubLine>,
    log: Vec<LogLine>,
    fee_rules: Vec<String>,
}

fn time_or_dash(t: Option<i64>) -> String {
    t.map(format_bill_time).unwrap_or_else(|| "—".into())
}

pub(super) async fn privilege_lines(state: &HttpState, sp_mchid: &str) -> Result<Vec<PrivilegeLine>, Gate> {
    let held = koudai_app::access::authz::held_privileges(&state.app, sp_mchid).await?;
    Ok(provider::catalogue()
        .iter()
        .map(|p| {
            let h = held.get(&p.key);
            PrivilegeLine {
                key: p.key.clone(),
                title: p.title.clone(),
                opens: p.opens.clone(),
                held: h.is_some(),
                since: time_or_dash(h.map(|h| h.since)),
                expires: h.map(|h| time_or_dash(h.expires_at)).unwrap_or_else(|| "—".into()),
            }
        })
        .collect())
}

pub(super) async fn sub_lines(state: &HttpState, sp_mchid: &str) -> Result<Vec<SubLine>, Gate> {
    let app = &state.app;
    let mut subs = Vec::new();
    for m in app.store.sub_merchants(sp_mchid).await? {
        let b = app.store.balances(&m.mchid).await?;
        let apps = app.store.apps_of(&m.mchid).await?;
        subs.push(SubLine {
            mchid: m.mchid,
            name: m.name,
            fee_rule: m.fee_rule,
            apps: if apps.is_empty() { "—".into() } else { apps.join(", ") },
            pending: yuan(b.pending_fen),
            available: yuan(b.available_fen),
            deposit: yuan(b.deposit_fen),
        });
    }
    Ok(subs)
}

fn log_lines(records: Vec<koudai_store::PrivilegeRecord>) -> Vec<LogLine> {
    records
        .into_iter()
        .map(|r| LogLine {
            time: format_bill_time(r.created_at),
            sp_mchid: r.sp_mchid,
            privilege: r.privilege,
            action: match r.action {
                GrantAction::Grant => "授予 grant",
                GrantAction::Revoke => "收回 revoke",
            },
            actor: r.actor,
            reason: r.reason,
            expires: time_or_dash(r.expires_at),
        })
        .collect()
}

async fn provider_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(sp_mchid): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let page = provider_view(&state, &v, &sp_mchid, Chrome::of(&v, q.notice.as_deref())).await?;
    Ok(render(StatusCode::OK, &page))
}

async fn provider_view(state: &HttpState, _v: &Visitor, sp_mchid: &str, chrome: Chrome) -> Result<ProviderPage, Gate> {
    let app = &state.app;
    let p = app.store.provider(sp_mchid).await?.ok_or_else(|| PageError::NotFound("服务商不存在".into()))?;
    let filter = LogFilter { who: Some(sp_mchid.to_owned()), what: None, limit: 50 };
    let fee_rules = app
        .store
        .fee_schedule_at(app.clock.business_now().unix())
        .await?
        .map(|s| s.rules.iter().map(|r| r.id.clone()).collect())
        .unwrap_or_default();
    Ok(ProviderPage {
        chrome,
        sp_mchid: p.sp_mchid.clone(),
        name: p.name,
        kind: p.kind.label(),
        sp_appid: p.sp_appid,
        privileges: privilege_lines(state, sp_mchid).await?,
        subs: sub_lines(state, sp_mchid).await?,
        log: log_lines(app.store.privilege_log(&filter).await?),
        fee_rules,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PrivilegeForm {
    csrf: String,
    privilege: String,
    action: String,
    reason: String,
    expires_in_days: String,
}

async fn change_privilege(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(sp_mchid): Path<String>,
    Form(f): Form<PrivilegeForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = operator(app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let action = match f.action.as_str() {
        "grant" => GrantAction::Grant,
        "revoke" => GrantAction::Revoke,
        _ => return Err(Gate::Error(PageError::BadRequest("未知操作".into()))),
    };
    let now = app.clock.business_now();
    let expires_at = match f.expires_in_days.trim() {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => Some(now.unix() + days * 86_400),
            _ => return failed(&state, &v, &sp_mchid, "有效天数应为1到3650之间的整数".into()).await,
        },
    };
    let actor = v.principal().replace("console:", "operator:");
    let cmd = GrantCommand {
        sp_mchid: &sp_mchid,
        privilege: &f.privilege,
        action,
        actor: &actor,
        reason: &f.reason,
        expires_at,
    };
    match providers::change_privilege(&app.store, cmd, now).await {
        Ok(_) => {
            let notice = if action == GrantAction::Grant { "granted" } else { "revoked" };
            Ok(see_other(&format!("/console/providers/{sp_mchid}?notice={notice}")))
        }
        Err(PartyError::Invalid(m)) => failed(&state, &v, &sp_mchid, m).await,
        Err(e) => Err(party(e)),
    }
}

/// The provider page again, with the form's error.
async fn failed(state: &HttpState, v: &Visitor, sp_mchid: &str, message: String) -> Result<Response, Gate> {
    let mut chrome = Chrome::of(v, None);
    chrome.error = Some(message);
    let page = provider_view(state, v, sp_mchid, chrome).await?;
    Ok(render(StatusCode::BAD_REQUEST, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SubForm {
    csrf: String,
    name: String,
    fee_rule: String,
    own_app: String,
    bank_account: String,
}

async fn create_sub_merchant(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(sp_mchid): Path<String>,
    Form(f): Form<SubForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = operator(app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let sub_appid = (!f.own_app.is_empty()).then(|| koudai_domain::ids::appid(&app.rng.bytes()));
    let spec = SubMerchantSpec {
        mchid: None,
        sp_mchid: &sp_mchid,
        name: &f.name,
        fee_rule: Some(f.fee_rule.as_str()).filter(|r| !r.is_empty()),
        sub_appid,
        bank_account: Some(f.bank_account.trim()).filter(|a| !a.is_empty()),
    };
    let made = providers::create_sub_merchant(
        &app.store,
        &app.rng,
        &app.platform,
        spec,
        app.clock.wall_now(),
        app.clock.business_now(),
    )
    .await;
    match made {
        Ok(_) => Ok(see_other(&format!("/console/providers/{sp_mchid}?notice=sub-created"))),
        Err(PartyError::Invalid(m)) => failed(&state, &v, &sp_mchid, m).await,
        Err(e) => Err(party(e)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogQuery {
    who: String,
    what: String,
}

#[derive(Template)]
#[template(path = "console/privileges.html")]
struct PrivilegeLogPage {
    chrome: Chrome,
    who: String,
    what: String,
    keys: Vec<String>,
    rows: Vec<LogLine>,
}

async fn privilege_log(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<LogQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let filter = LogFilter {
        who: Some(q.who.trim().to_owned()).filter(|w| !w.is_empty()),
        what: Some(q.what.trim().to_owned()).filter(|w| !w.is_empty()),
        limit: LOG_ROWS,
    };
    let rows = log_lines(state.app.store.privilege_log(&filter).await?);
    let keys = provider::catalogue().iter().map(|p| p.key.clone()).collect();
    let page = PrivilegeLogPage { chrome: Chrome::of(&v, None), who: q.who, what: q.what, keys, rows };
    Ok(render(StatusCode::OK, &page))
}

struct RefusalLine {
    time: String,
    principal: String,
    action: String,
    target: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/refusals.html")]
struct RefusalLogPage {
    chrome: Chrome,
    who: String,
    what: String,
    rows: Vec<RefusalLine>,
}

async fn refusal_log(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<LogQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let filter = LogFilter {
        who: Some(q.who.trim().to_owned()).filter(|w| !w.is_empty()),
        what: Some(q.what.trim().to_owned()).filter(|w| !w.is_empty()),
        limit: LOG_ROWS,
    };
    let rows = state
        .app
        .store
        .refusals(&filter)
        .await?
        .into_iter()
        .map(|r| RefusalLine {
            time: format_bill_time(r.created_at),
            principal: r.principal,
            action: r.action,
            target: r.target,
            reason: r.reason,
        })
        .collect();
    let page = RefusalLogPage { chrome: Chrome::of(&v, None), who: q.who, what: q.what, rows };
    Ok(render(StatusCode::OK, &page))
}

struct AnySubLine {
    sp_mchid: String,
    line: SubLine,
}

#[derive(Template)]
#[template(path = "console/sub_merchants.html")]
struct SubMerchantsPage {
    chrome: Chrome,
    rows: Vec<AnySubLine>,
}

async fn sub_merchants(State(state): State<HttpState>, jar: CookieJar) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let app = &state.app;
    let mut rows = Vec::new();
    for m in app.store.all_sub_merchants().await? {
        let b = app.store.balances(&m.mchid).await?;
        let apps = app.store.apps_of(&m.mchid).await?;
        rows.push(AnySubLine {
            sp_mchid: m.sp_mchid.clone().unwrap_or_default(),
            line: SubLine {
                mchid: m.mchid,
                name: m.name,
                fee_rule: m.fee_rule,
                apps: if apps.is_empty() { "—".into() } else { apps.join(", ") },
                pending: yuan(b.pending_fen),
                available: yuan(b.available_fen),
                deposit: yuan(b.deposit_fen),
            },
        });
    }
    Ok(render(StatusCode::OK, &SubMerchantsPage { chrome: Chrome::of(&v, None), rows }))
}
