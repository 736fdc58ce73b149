//! Web OAuth for official accounts (protocol notes `wechat-mp.md` §5): the
//! authorize step (a consumer signs in and, for `snsapi_userinfo`,
//! consents), single-use codes valid five minutes, user access tokens
//! (7200 s) and refresh tokens (30 days) on the business clock, user info.
//! How a payment page learns the payer's `openid`.
//!
//! This module owns the OAuth codes and user tokens: [`check_authorize`]
//! and [`grant`] (the authorize page and its sandbox twin), and the API's
//! use cases, which take typed requests and answer records or their own
//! refusal enums ([`ExchangeError`], [`RefreshError`], [`UserTokenError`]).
//! A third-party platform acting for the account ([`OnBehalf`]) is checked
//! with the component's own [`authenticate`](super::component::authenticate)
//! and [`oauth_allowed`](super::component::oauth_allowed). Errcodes are the
//! surface's business.

use koudai_domain::ids;
use koudai_store::{MpAccount, OauthCode, StoreError, UserToken};

use super::component::{self, ComponentAuthError, OauthAllowedError, OauthRefusal, TokenRefusal};
use crate::runtime::outbound::with_query;
use crate::{App, Internal};

const CODE_VALID_S: i64 = 300;
const TOKEN_VALID_S: i64 = 7200;
const REFRESH_VALID_S: i64 = 30 * 86_400;

/// The scopes.
pub const SCOPES: &[&str] = &["snsapi_base", "snsapi_userinfo"];

/// An authorize request (`/connect/oauth2/authorize` or its sandbox twin).
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub appid: String,
    pub scope: String,
    pub redirect_uri: String,
    pub state: String,
    /// A third-party platform asking on the account's behalf.
    pub component_appid: Option<String>,
}

/// Why an authorize request cannot go on (shown as a page, not JSON).
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("10016: the appid is not an official account")]
    Appid,
    #[error("10005: no such scope")]
    Scope,
    #[error("10003: redirect_uri must be an http(s) URL")]
    RedirectUri,
    /// The third-party platform may not ask on the account's behalf.
    #[error(transparent)]
    Component(#[from] OauthRefusal),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        AuthorizeError::Internal(e.into())
    }
}

impl From<OauthAllowedError> for AuthorizeError {
    fn from(e: OauthAllowedError) -> Self {
        match e {
            OauthAllowedError::Refused(r) => AuthorizeError::Component(r),
            OauthAllowedError::Internal(e) => AuthorizeError::Internal(e),
        }
    }
}

/// Checks an authorize request; returns the account.
pub async fn check_authorize(app: &App, r: &AuthorizeRequest) -> Result<MpAccount, AuthorizeError> {
    let appid = r.appid.as_str();
    let plain = !appid.is_empty() && appid.len() <= 64 && appid.bytes().all(|b| b.is_ascii_alphanumeric());
    let account = if plain { app.store.mp_account(appid).await? } else { None };
    let account = account.ok_or(AuthorizeError::Appid)?;
    if !SCOPES.contains(&r.scope.as_str()) {
        return Err(AuthorizeError::Scope);
    }
    let ok = url::Url::parse(&r.redirect_uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !ok {
        return Err(AuthorizeError::RedirectUri);
    }
    if let Some(c) = &r.component_appid {
        component::oauth_allowed(app, c, &account.appid).await?;
    }
    Ok(account)
}

/// Issues a code for `login` in `account` (the consumer's openid there is
/// made if missing); returns the redirect URL with `code` and `state`.
pub async fn grant(app: &App, account: &MpAccount, r: &AuthorizeRequest, login: &str) -> Result<String, Internal> {
    let openid = app.store.ensure_openid(login, &account.appid, &ids::openid(&app.rng.bytes())).await?;
    let code = app.rng.token(32);
    app.store
        .create_oauth_code(&OauthCode {
            code: code.clone(),
            appid: account.appid.clone(),
            openid,
            scope: r.scope.clone(),
            created_at: app.clock.business_now().unix(),
            used_at: None,
            component_appid: r.component_appid.clone(),
        })
        .await?;
    let (redirect_uri, state) = (r.redirect_uri.as_str(), r.state.as_str());
    match r.component_appid {
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

/// The account an OAuth call names (`None`: no such account).
async fn named_account(app: &App, appid: &str) -> Result<Option<MpAccount>, StoreError> {
    if plain(appid) {
        app.store.mp_account(appid).await
    } else {
        Ok(None)
    }
}

/// A third-party platform acting for the account (`/sns/oauth2/component/…`):
/// the component it names and its token (an absent one is empty).
#[derive(Debug, Clone, Default)]
pub struct OnBehalf {
    pub component_appid: String,
    pub component_access_token: String,
}

/// Who trades a code for a token.
#[derive(Debug, Clone)]
pub enum Exchanger {
    /// The account itself, with its secret.
    Account { secret: String },
    /// A third-party platform acting for it.
    Component(OnBehalf),
}

/// A code exchange (an absent field is empty).
#[derive(Debug, Clone)]
pub struct CodeExchange {
    pub appid: String,
    pub code: String,
    pub grant_type: String,
    pub by: Exchanger,
}

/// A token refresh (an absent field is empty).
#[derive(Debug, Clone, Default)]
pub struct TokenRefresh {
    pub appid: String,
    pub refresh_token: String,
    pub grant_type: String,
    /// `None`: the account's own refresh.
    pub on_behalf: Option<OnBehalf>,
}

/// A user access token, with its refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTokenGrant {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub openid: String,
    pub scope: String,
}

/// Why a code was not traded for a token.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("grant_type must be authorization_code")]
    GrantType,
    #[error("appid missing")]
    AppidMissing,
    #[error("no such official account")]
    UnknownAppid,
    #[error("the secret is not the account's")]
    WrongSecret,
    /// The acting component's token was not accepted.
    #[error(transparent)]
    ComponentToken(#[from] TokenRefusal),
    /// The acting component may not run web OAuth for the account.
    #[error(transparent)]
    NotAllowed(#[from] OauthRefusal),
    #[error("code missing")]
    CodeMissing,
    /// Not a code of the account (and of the acting component, if any).
    #[error("the code is not the account's")]
    CodeInvalid,
    #[error("the code was used already")]
    CodeUsed,
    #[error("the code has expired")]
    CodeExpired,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Why a user token was not refreshed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("grant_type must be refresh_token")]
    GrantType,
    #[error("appid missing")]
    AppidMissing,
    #[error("no such official account")]
    UnknownAppid,
    /// The acting component's token was not accepted.
    #[error(transparent)]
    ComponentToken(#[from] TokenRefusal),
    /// The acting component may not run web OAuth for the account.
    #[error(transparent)]
    NotAllowed(#[from] OauthRefusal),
    /// Not a refresh token of the account (and of the acting component, if
    /// any).
    #[error("the refresh token is not the account's")]
    RefreshTokenInvalid,
    #[error("the refresh token has expired")]
    RefreshTokenExpired,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ExchangeError {
    fn from(e: StoreError) -> Self {
        ExchangeError::Internal(e.into())
    }
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        RefreshError::Internal(e.into())
    }
}

fn token_grant(t: UserToken, now: i64) -> UserTokenGrant {
    UserTokenGrant {
        access_token: t.access_token,
        expires_in: t.expires_at - now,
        refresh_token: t.refresh_token,
        openid: t.openid,
        scope: t.scope,
    }
}

async fn new_token(
    app: &App,
    appid: &str,
    openid: &str,
    scope: &str,
    refresh: Option<(String, i64)>,
    component_appid: Option<&str>,
) -> Result<UserToken, StoreError> {
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

/// The component acting for `account`, checked against its token, and
/// still allowed to do web OAuth for the account.
async fn component_for<E>(app: &App, account: &MpAccount, on: &OnBehalf) -> Result<String, E>
where
    E: From<TokenRefusal> + From<OauthRefusal> + From<Internal>,
{
    let c = match component::authenticate(app, &on.component_access_token, &on.component_appid).await {
        Ok(c) => c,
        Err(ComponentAuthError::Token(r)) => return Err(r.into()),
        Err(ComponentAuthError::Internal(e)) => return Err(e.into()),
    };
    match component::oauth_allowed(app, &c.component_appid, &account.appid).await {
        Ok(()) => Ok(c.component_appid),
        Err(OauthAllowedError::Refused(r)) => Err(r.into()),
        Err(OauthAllowedError::Internal(e)) => Err(e.into()),
    }
}

/// `GET /sns/oauth2/access_token`, and its component variant
/// `/sns/oauth2/component/access_token` (no account secret; the
/// component's token instead).
pub async fn exchange_code(app: &App, r: &CodeExchange) -> Result<UserTokenGrant, ExchangeError> {
    if r.grant_type != "authorization_code" {
        return Err(ExchangeError::GrantType);
    }
    if r.appid.is_empty() {
        return Err(ExchangeError::AppidMissing);
    }
    let account = named_account(app, &r.appid).await?.ok_or(ExchangeError::UnknownAppid)?;
    let component = match &r.by {
        Exchanger::Account { secret } => {
            use subtle::ConstantTimeEq as _;
            if !bool::from(account.secret.as_bytes().ct_eq(secret.as_bytes())) {
                return Err(ExchangeError::WrongSecret);
            }
            None
        }
        Exchanger::Component(on) => Some(component_for::<ExchangeError>(app, &account, on).await?),
    };
    if r.code.is_empty() {
        return Err(ExchangeError::CodeMissing);
    }
    let now = app.clock.business_now().unix();
    let c = if plain(&r.code) { app.store.use_oauth_code(&r.code, now).await? } else { None };
    let c =
        c.filter(|c| c.appid == account.appid && c.component_appid == component).ok_or(ExchangeError::CodeInvalid)?;
    if c.used_at.is_some() {
        return Err(ExchangeError::CodeUsed);
    }
    if now - c.created_at > CODE_VALID_S {
        return Err(ExchangeError::CodeExpired);
    }
    let t = new_token(app, &account.appid, &c.openid, &c.scope, None, component.as_deref()).await?;
    Ok(token_grant(t, now))
}

/// `GET /sns/oauth2/refresh_token`, and its component variant
/// `/sns/oauth2/component/refresh_token`: a new access token, the refresh
/// token kept.
pub async fn refresh(app: &App, r: &TokenRefresh) -> Result<UserTokenGrant, RefreshError> {
    if r.grant_type != "refresh_token" {
        return Err(RefreshError::GrantType);
    }
    if r.appid.is_empty() {
        return Err(RefreshError::AppidMissing);
    }
    let account = named_account(app, &r.appid).await?.ok_or(RefreshError::UnknownAppid)?;
    let component = match &r.on_behalf {
        Some(on) => Some(component_for::<RefreshError>(app, &account, on).await?),
        None => None,
    };
    let rt = &r.refresh_token;
    let old = if plain(rt) { app.store.user_token_by_refresh(rt).await? } else { None };
    let old = old
        .filter(|t| t.appid == account.appid && t.component_appid == component)
        .ok_or(RefreshError::RefreshTokenInvalid)?;
    let now = app.clock.business_now().unix();
    if old.refresh_expires_at <= now {
        return Err(RefreshError::RefreshTokenExpired);
    }
    let t = new_token(
        app,
        &account.appid,
        &old.openid,
        &old.scope,
        Some((old.refresh_token.clone(), old.refresh_expires_at)),
        component.as_deref(),
    )
    .await?;
    Ok(token_grant(t, now))
}

/// Why a user access token was not accepted (or, for user info, not
/// enough).
#[derive(Debug, thiserror::Error)]
pub enum UserTokenError {
    #[error("access_token missing")]
    Missing,
    /// Unknown (or not even shaped like a token).
    #[error("the access_token is not one")]
    Invalid,
    #[error("the access_token has expired")]
    Expired,
    /// The token is another user's.
    #[error("the openid is not the token's")]
    WrongOpenid,
    /// User info needs a `snsapi_userinfo` token.
    #[error("the token's scope is snsapi_base")]
    BaseScope,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for UserTokenError {
    fn from(e: StoreError) -> Self {
        UserTokenError::Internal(e.into())
    }
}

async fn user_token(app: &App, access_token: &str, openid: &str) -> Result<UserToken, UserTokenError> {
    if access_token.is_empty() {
        return Err(UserTokenError::Missing);
    }
    let t = if plain(access_token) { app.store.user_token(access_token).await? } else { None };
    let t = t.ok_or(UserTokenError::Invalid)?;
    if t.expires_at <= app.clock.business_now().unix() {
        return Err(UserTokenError::Expired);
    }
    if t.openid != openid {
        return Err(UserTokenError::WrongOpenid);
    }
    Ok(t)
}

/// What `/sns/userinfo` tells of a user (Koudai knows the login only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub openid: String,
    /// The consumer's login.
    pub nickname: String,
}

/// `GET /sns/userinfo` (a `snsapi_userinfo` token only).
pub async fn user_info(app: &App, access_token: &str, openid: &str) -> Result<UserInfo, UserTokenError> {
    let t = user_token(app, access_token, openid).await?;
    if t.scope != "snsapi_userinfo" {
        return Err(UserTokenError::BaseScope);
    }
    let login = app.store.login_of_openid(openid).await?.unwrap_or_default();
    Ok(UserInfo { openid: openid.to_owned(), nickname: login })
}

/// `GET /sns/auth`: whether a user token is valid for `openid`.
pub async fn check(app: &App, access_token: &str, openid: &str) -> Result<(), UserTokenError> {
    user_token(app, access_token, openid).await?;
    Ok(())
}
