//! Who is at the console: sessions and their cookies, the roles (operator,
//! provider, merchant) each page requires, which official accounts a user
//! may reach, CSRF checks, refusals logged, and the small helpers every
//! console page shares (notices, redirects). The pages import these; this
//! module imports no page.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use koudai_app::{App, Mode};
use koudai_store::{ConsoleRole, ConsoleUser, Session, SessionRealm};

use crate::state::HttpState;
use crate::web::page::PageError;
use crate::web::session::{csrf_matches, token_digest};

pub(super) fn cookie_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "__Host-koudai_console",
        Mode::Sandbox => "koudai_console",
    }
}

pub(super) fn login_cookie_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "__Host-koudai_console_login",
        Mode::Sandbox => "koudai_console_login",
    }
}

pub(super) fn cookie(app: &App, name: &'static str, value: String, max_age_s: i64) -> Cookie<'static> {
    let live = app.mode() == Mode::Live;
    Cookie::build((name, value))
        .path(if live { "/" } else { "/console" })
        .http_only(true)
        .secure(live)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(max_age_s))
        .build()
}

/// A logged-in console user and their session.
pub struct Visitor {
    pub user: ConsoleUser,
    pub session: Session,
}

impl Visitor {
    pub fn csrf(&self) -> String {
        self.session.csrf.expose().clone()
    }

    /// How the refusal log names this user.
    pub fn principal(&self) -> String {
        format!("console:{}", self.user.login)
    }

    /// The provider of a provider user.
    pub fn sp_mchid(&self) -> Option<&str> {
        match self.user.role {
            ConsoleRole::Provider => self.user.sp_mchid.as_deref(),
            ConsoleRole::Operator | ConsoleRole::Merchant => None,
        }
    }

    /// The merchant of a merchant user.
    pub fn mchid(&self) -> Option<&str> {
        match self.user.role {
            ConsoleRole::Merchant => self.user.mchid.as_deref(),
            ConsoleRole::Operator | ConsoleRole::Provider => None,
        }
    }
}

/// What a page answers when nobody (or the wrong role) is logged in.
pub enum Gate {
    Login,
    Forbidden,
    Error(PageError),
}

impl From<PageError> for Gate {
    fn from(e: PageError) -> Self {
        Gate::Error(e)
    }
}

impl From<koudai_app::Internal> for Gate {
    fn from(e: koudai_app::Internal) -> Self {
        Gate::Error(PageError::Internal(e))
    }
}

impl From<koudai_store::StoreError> for Gate {
    fn from(e: koudai_store::StoreError) -> Self {
        Gate::Error(e.into())
    }
}

impl IntoResponse for Gate {
    fn into_response(self) -> Response {
        match self {
            Gate::Login => Redirect::to("/console/login").into_response(),
            Gate::Forbidden => {
                let mut r = PageError::NotFound("页面不存在，或您的账号无权查看".into()).into_response();
                *r.status_mut() = StatusCode::FORBIDDEN;
                r
            }
            Gate::Error(e) => e.into_response(),
        }
    }
}

/// The visitor the request's cookie names, if the session is live.
pub async fn visitor(app: &App, jar: &CookieJar) -> Result<Option<Visitor>, Gate> {
    let Some(c) = jar.get(cookie_name(app.mode())) else { return Ok(None) };
    let Some(session) =
        app.store.session(SessionRealm::Console, &token_digest(c.value()), app.clock.wall_now().unix()).await?
    else {
        return Ok(None);
    };
    let Some(user) = app.store.console_user(&session.login).await? else { return Ok(None) };
    Ok(Some(Visitor { user, session }))
}

/// The visitor, who must be an operator.
pub async fn operator(app: &App, jar: &CookieJar) -> Result<Visitor, Gate> {
    match visitor(app, jar).await? {
        None => Err(Gate::Login),
        Some(v) if v.user.role == ConsoleRole::Operator => Ok(v),
        Some(v) => {
            refuse(app, &v, "operator_page", "console").await?;
            Err(Gate::Forbidden)
        }
    }
}

/// The visitor, who must be a provider user.
pub async fn provider_user(app: &App, jar: &CookieJar) -> Result<Visitor, Gate> {
    match visitor(app, jar).await? {
        None => Err(Gate::Login),
        Some(v) if v.sp_mchid().is_some() => Ok(v),
        Some(_) => Err(Gate::Forbidden),
    }
}

/// The visitor, who must be a merchant user.
pub async fn merchant_user(app: &App, jar: &CookieJar) -> Result<Visitor, Gate> {
    match visitor(app, jar).await? {
        None => Err(Gate::Login),
        Some(v) if v.mchid().is_some() => Ok(v),
        Some(_) => Err(Gate::Forbidden),
    }
}

/// A provider or merchant user (the two who manage accounts).
pub async fn manager(state: &HttpState, jar: &CookieJar) -> Result<Visitor, Gate> {
    match visitor(&state.app, jar).await? {
        None => Err(Gate::Login),
        Some(v) if v.sp_mchid().is_some() || v.mchid().is_some() => Ok(v),
        Some(_) => Err(Gate::Forbidden),
    }
}

/// Logs a console user's refused attempt.
pub async fn refuse(app: &App, v: &Visitor, action: &str, target: &str) -> Result<(), koudai_app::Internal> {
    let reason = match (v.sp_mchid(), v.mchid()) {
        (Some(sp), _) => format!("provider {sp}'s user may not see {target}"),
        (None, Some(m)) => format!("merchant {m}'s user may not see {target}"),
        (None, None) => format!("not allowed: {target}"),
    };
    koudai_app::access::authz::refuse(app, &v.principal(), action, target, reason).await?;
    Ok(())
}

/// What a console visitor wants to do with an official account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// See it: its merchant, its provider, or the operator.
    Read,
    /// Change it: its merchant or its provider only.
    Manage,
}

/// The account named in a URL, if the visitor may reach it: a merchant
/// user its own merchant's, a provider user its own and its
/// sub-merchants', the operator any for [`Reach::Read`]. Otherwise "not
/// found" (as for a missing one), the attempt logged under `action`.
pub async fn account_for(
    app: &App,
    v: &Visitor,
    appid: &str,
    reach: Reach,
    action: &str,
) -> Result<koudai_store::MpAccount, Gate> {
    if let Some(a) = app.store.mp_account(appid).await? {
        let allowed = match (v.sp_mchid(), v.mchid()) {
            (Some(sp), _) => {
                a.owner_mchid == sp
                    || app.store.merchant(&a.owner_mchid).await?.is_some_and(|m| m.sp_mchid.as_deref() == Some(sp))
            }
            (None, Some(m)) => a.owner_mchid == m,
            (None, None) => reach == Reach::Read && v.user.role == koudai_store::ConsoleRole::Operator,
        };
        if allowed {
            return Ok(a);
        }
    }
    refuse(app, v, action, &format!("appid:{appid}")).await?;
    Err(Gate::Error(PageError::NotFound("公众号不存在".into())))
}

/// A form's CSRF token must be the session's.
pub fn check_csrf(v: &Visitor, submitted: &str) -> Result<(), Gate> {
    if csrf_matches(&v.session, submitted) {
        Ok(())
    } else {
        Err(Gate::Error(PageError::BadRequest("表单已过期，请刷新页面后重试".into())))
    }
}

/// A short confirmation shown after a form, by code (so that a link cannot
/// put arbitrary text on the page).
pub fn notice_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "provider-created" => "服务商已创建。",
        "granted" => "权限已授予，已记入权限日志。",
        "revoked" => "权限已收回，已记入权限日志。",
        "sub-created" => "特约商户已创建。",
        "applyment-rejected" => "申请单已驳回，服务商查询时可见驳回原因。",
        "applyment-approved" => "申请单已通过，等待超级管理员验证账户并签约。",
        "event-url-set" => "授权事件接收地址已通过校验并保存。",
        "server-set" => "服务器地址已通过校验并保存，立即生效。",
        "allowlist-set" => "IP 白名单已保存。",
        "order-shipped" => "已发货，订单状态为 3。",
        "order-closed" => "订单已关闭并全额退款，库存已退回。",
        "stock-added" => "库存已增加。",
        "store-approved" => "门店已通过，已通知公众号。",
        "store-rejected" => "门店已驳回，已通知公众号。",
        "store-added" => "门店已提交，等待运营方审核（审核中）。The store is under audit.",
        "prices-set" => "收款码的固定价格已保存。Prices saved.",
        "storepay-notify-set" => "门店收款的支付回调地址已保存。Callback URL saved.",
        "discovery-published" => "发现中心已按新版本生效，已记入版本记录。Published.",
        "rules-published" => "规则已发布，所有公众号已重新评估。",
        "authorization-revoked" => "已取消对该第三方平台的授权，平台已收到 unauthorized 通知。",
        _ => return None,
    })
}

/// `?notice=` of a page after a form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// A 303 to `to`: the browser follows with a GET, so a reload does not
/// submit the form again.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}
