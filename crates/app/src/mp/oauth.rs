//! Web OAuth for official accounts (protocol notes `wechat-mp.md` §5): the
//! authorize step (a consumer signs in and, for `snsapi_userinfo`,
//! consents), single-use codes valid five minutes, user access tokens
//! (7200 s) and refresh tokens (30 days) on the business clock, user info.
//! How a payment page learns the payer's `openid`.

use serde_json::{json, Value};

use koudai_domain::ids;
use koudai_protocol::mp::MpError;
use koudai_store::{MpAccount, OauthCode, UserToken};

use super::MpFailure;
use crate::runtime::outbound::with_query;
use crate::App;

const CODE_VALID_S: i64 = 300;
const TOKEN_VALID_S: i64 = 7200;
const REFRESH_VALID_S: i64 = 30 * 86_400;

/// The scopes.
pub const SCOPES: &[&str] = &["snsapi_base", "snsapi_userinfo"];

/// Why an authorize request cannot go on (shown as a page, not JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    #[error("10016: the appid is not an official account")]
    Appid,
    #[error("10005: no such scope")]
    Scope,
    #[error("10003: redirect_uri must be an http(s) URL")]
    RedirectUri,
    /// The third-party platform may not ask on the account's behalf.
    #[error("{0}")]
    Component(String),
}

/// Checks an authorize request; returns the account.
pub async fn check_authorize(
    app: &App,
    appid: &str,
    scope: &str,
    redirect_uri: &str,
    component_appid: Option<&str>,
) -> Result<Result<MpAccount, AuthorizeError>, crate::Internal> {
    let plain = !appid.is_empty() && appid.len() <= 64 && appid.bytes().all(|b| b.is_ascii_alphanumeric());
    let Some(account) = (if plain { app.store.mp_account(appid).await? } else { None }) else {
        return Ok(Err(AuthorizeError::Appid));
    };
    if !SCOPES.contains(&scope) {
        return Ok(Err(AuthorizeError::Scope));
    }
    let ok = url::Url::parse(redirect_uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !ok {
        return Ok(Err(AuthorizeError::RedirectUri));
    }
    if let Some(c) = component_appid {
        if let Err(why) = crate::mp::component::oauth_allowed(app, c, &account.appid).await? {
            return Ok(Err(AuthorizeError::Component(why)));
        }
    }
    Ok(Ok(account))
}

/// Issues a code for `login` in `account` (the consumer's openid there is
/// made if missing); returns the redirect URL with `code` and `state`.
pub async fn grant(
    app: &App,
    account: &MpAccount,
    login: &str,
    scope: &str,
    redirect_uri: &str,
    state: &str,
    component_appid: Option<&str>,
) -> Result<String, crate::Internal> {
    let openid = app.store.ensure_openid(login, &account.appid, &ids::openid(&app.rng.bytes())).await?;
    let code = app.rng.token(32);
    app.store
        .create_oauth_code(&OauthCode {
            code: code.clone(),
            appid: account.appid.clone(),
            openid,
            scope: scope.to_owned(),
            created_at: app.clock.business_now().unix(),
            used_at: None,
            component_appid: component_appid.map(str::to_owned),
        })
        .await?;
    match component_appid {
        // The on-behalf variant names the account in the callback.
        Some(_) => Ok(with_query(redirect_uri, &[("code", &code), ("state", state), ("appid", &account.appid)])),
        None => Ok(with_query(redirect_uri, &[("code", &code), ("state", state)])),
    }
}

/// The redirect of a consumer who declined (`state` only).
pub fn declined(redirect_uri: &str, state: &str) -> String {
    with_query(redirect_uri, &[("state", state)])
}

fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn account(app: &App, appid: &str, secret: Option<&str>) -> Result<MpAccount, MpFailure> {
    if appid.is_empty() {
        return Err(MpError::appid_missing().into());
    }
    let account = if plain(appid) { app.store.mp_account(appid).await? } else { None };
    let account = account.ok_or_else(MpError::invalid_appid)?;
    if let Some(secret) = secret {
        use subtle::ConstantTimeEq as _;
        if !bool::from(account.secret.as_bytes().ct_eq(secret.as_bytes())) {
            return Err(MpError::invalid_appsecret().into());
        }
    }
    Ok(account)
}

fn token_json(t: &UserToken, now: i64) -> Value {
    json!({"access_token": t.access_token, "expires_in": t.expires_at - now, "refresh_token": t.refresh_token,
           "openid": t.openid, "scope": t.scope})
}

async fn new_token(
    app: &App,
    appid: &str,
    openid: &str,
    scope: &str,
    refresh: Option<(String, i64)>,
    component_appid: Option<&str>,
) -> Result<UserToken, MpFailure> {
    let now = app.clock.business_now().unix();
    let (refresh_token, refresh_expires_at) = refresh.unwrap_or_else(|| (app.rng.token(64), now + REFRESH_VALID_S));
    let t = UserToken {
        access_token: app.rng.token(64),
        refresh_token,
        appid: appid.to_owned(),
        openid: openid.to_owned(),
        scope: scope.to_owned(),
        expires_at: now + TOKEN_VALID_S,
        refresh_expires_at,
        component_appid: component_appid.map(str::to_owned),
    };
    app.store.create_user_token(&t).await?;
    Ok(t)
}

/// `GET /sns/oauth2/access_token`.
pub async fn exchange_code(
    app: &App,
    appid: &str,
    secret: &str,
    code: &str,
    grant_type: &str,
) -> Result<Value, MpFailure> {
    if grant_type != "authorization_code" {
        return Err(MpError::invalid_grant_type().into());
    }
    let account = account(app, appid, Some(secret)).await?;
    if code.is_empty() {
        return Err(MpError::missing_code().into());
    }
    let invalid = || MpError::invalid_code();
    let now = app.clock.business_now().unix();
    let c = if plain(code) { app.store.use_oauth_code(code, now).await? } else { None };
    let c = c.filter(|c| c.appid == account.appid && c.component_appid.is_none()).ok_or_else(invalid)?;
    if c.used_at.is_some() {
        return Err(MpError::code_been_used().into());
    }
    if now - c.created_at > CODE_VALID_S {
        return Err(MpError::oauth_code_expired().into());
    }
    let t = new_token(app, &account.appid, &c.openid, &c.scope, None, None).await?;
    Ok(token_json(&t, now))
}

/// The component a component-variant call names, checked against its
/// token, and still allowed to do web OAuth for the account.
async fn component_for(
    app: &App,
    account: &MpAccount,
    component_appid: &str,
    component_access_token: &str,
) -> Result<String, MpFailure> {
    let c =
        crate::mp::component::authenticate(app, component_access_token, &json!({"component_appid": component_appid}))
            .await?;
    if let Err(why) = crate::mp::component::oauth_allowed(app, &c.component_appid, &account.appid).await? {
        return Err(MpError::api_unauthorized_to_component(&why).into());
    }
    Ok(c.component_appid)
}

/// `GET /sns/oauth2/component/access_token`: the code exchange of a
/// third-party platform acting for the account (no account secret; the
/// component's token instead).
pub async fn exchange_code_component(
    app: &App,
    appid: &str,
    code: &str,
    grant_type: &str,
    component_appid: &str,
    component_access_token: &str,
) -> Result<Value, MpFailure> {
    if grant_type != "authorization_code" {
        return Err(MpError::invalid_grant_type().into());
    }
    let account = account(app, appid, None).await?;
    let component = component_for(app, &account, component_appid, component_access_token).await?;
    if code.is_empty() {
        return Err(MpError::missing_code().into());
    }
    let invalid = || MpError::invalid_code();
    let now = app.clock.business_now().unix();
    let c = if plain(code) { app.store.use_oauth_code(code, now).await? } else { None };
    let c = c
        .filter(|c| c.appid == account.appid && c.component_appid.as_deref() == Some(component.as_str()))
        .ok_or_else(invalid)?;
    if c.used_at.is_some() {
        return Err(MpError::code_been_used().into());
    }
    if now - c.created_at > CODE_VALID_S {
        return Err(MpError::oauth_code_expired().into());
    }
    let t = new_token(app, &account.appid, &c.openid, &c.scope, None, Some(&component)).await?;
    Ok(token_json(&t, now))
}

/// `GET /sns/oauth2/component/refresh_token`.
pub async fn refresh_component(
    app: &App,
    appid: &str,
    refresh_token: &str,
    grant_type: &str,
    component_appid: &str,
    component_access_token: &str,
) -> Result<Value, MpFailure> {
    if grant_type != "refresh_token" {
        return Err(MpError::invalid_grant_type().into());
    }
    let account = account(app, appid, None).await?;
    let component = component_for(app, &account, component_appid, component_access_token).await?;
    let invalid = || MpError::invalid_refresh_token();
    let old = if plain(refresh_token) { app.store.user_token_by_refresh(refresh_token).await? } else { None };
    let old = old
        .filter(|t| t.appid == account.appid && t.component_appid.as_deref() == Some(component.as_str()))
        .ok_or_else(invalid)?;
    let now = app.clock.business_now().unix();
    if old.refresh_expires_at <= now {
        return Err(MpError::refresh_token_expired().into());
    }
    let t = new_token(
        app,
        &account.appid,
        &old.openid,
        &old.scope,
        Some((old.refresh_token.clone(), old.refresh_expires_at)),
        Some(&component),
    )
    .await?;
    Ok(token_json(&t, now))
}

/// `GET /sns/oauth2/refresh_token`.
pub async fn refresh(app: &App, appid: &str, refresh_token: &str, grant_type: &str) -> Result<Value, MpFailure> {
    if grant_type != "refresh_token" {
        return Err(MpError::invalid_grant_type().into());
    }
    let account = account(app, appid, None).await?;
    let invalid = || MpError::invalid_refresh_token();
    let old = if plain(refresh_token) { app.store.user_token_by_refresh(refresh_token).await? } else { None };
    let old = old.filter(|t| t.appid == account.appid && t.component_appid.is_none()).ok_or_else(invalid)?;
    let now = app.clock.business_now().unix();
    if old.refresh_expires_at <= now {
        return Err(MpError::refresh_token_expired().into());
    }
    let t = new_token(
        app,
        &account.appid,
        &old.openid,
        &old.scope,
        Some((old.refresh_token.clone(), old.refresh_expires_at)),
        None,
    )
    .await?;
    Ok(token_json(&t, now))
}

async fn user_token(app: &App, access_token: &str, openid: &str) -> Result<UserToken, MpFailure> {
    if access_token.is_empty() {
        return Err(MpError::access_token_missing().into());
    }
    let t = if plain(access_token) { app.store.user_token(access_token).await? } else { None };
    let t = t.ok_or_else(MpError::invalid_credential)?;
    if t.expires_at <= app.clock.business_now().unix() {
        return Err(MpError::access_token_expired().into());
    }
    if t.openid != openid {
        return Err(MpError::invalid_openid().into());
    }
    Ok(t)
}

/// `GET /sns/userinfo` (48001 with a `snsapi_base` token).
pub async fn user_info(app: &App, access_token: &str, openid: &str) -> Result<Value, MpFailure> {
    let t = user_token(app, access_token, openid).await?;
    if t.scope != "snsapi_userinfo" {
        return Err(MpError::api_unauthorized().into());
    }
    let login = app.store.login_of_openid(openid).await?.unwrap_or_default();
    Ok(json!({"openid": openid, "nickname": login, "sex": 0, "province": "", "city": "", "country": "",
              "headimgurl": "", "privilege": []}))
}

/// `GET /sns/auth`: whether a user token is valid for `openid`.
pub async fn check(app: &App, access_token: &str, openid: &str) -> Result<Value, MpFailure> {
    user_token(app, access_token, openid).await?;
    Ok(json!({"errcode": 0, "errmsg": "ok"}))
}
