//! Access tokens of official accounts (protocol notes `wechat-mp.md` §2):
//! `/cgi-bin/token` and `stable_token` (7200 s on the business clock; a
//! new token supersedes the old one after a 5-minute overlap), the caller's
//! IP allow-list, and [`authenticate`], which accepts an account's own
//! token or an authorizer token a third-party platform got for it (then the
//! permission sets it was granted must cover the API).

use koudai_domain::mp as rules;
use koudai_store::{MpAccount, MpToken, StoreError};

use super::component::{ApiCheckError, ApiRefusal};
use super::{count_call, plain_id, Quota};
use crate::{App, Internal};

/// Why a call with an `access_token` was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("access_token missing")]
    Missing,
    /// Not even shaped like a token.
    #[error("the access_token is not a token")]
    Malformed,
    #[error("the access_token has expired")]
    Expired,
    /// Unknown, or superseded longer than the overlap ago.
    #[error("the access_token is invalid or not the latest")]
    NotLatest,
    /// A component token used where an account's is needed.
    #[error("a component token is not an account's")]
    ComponentToken,
    /// An authorizer token whose grant does not cover the API.
    #[error(transparent)]
    Component(#[from] ApiRefusal),
    /// The account's daily quota for the API is used up.
    #[error("the daily quota is used up")]
    Quota,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<Quota> for CallError {
    fn from(e: Quota) -> Self {
        match e {
            Quota::Exceeded => CallError::Quota,
            Quota::Internal(e) => CallError::Internal(e),
        }
    }
}

impl From<ApiCheckError> for CallError {
    fn from(e: ApiCheckError) -> Self {
        match e {
            ApiCheckError::Refused(r) => CallError::Component(r),
            ApiCheckError::Internal(e) => CallError::Internal(e),
        }
    }
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> Self {
        CallError::Internal(e.into())
    }
}

/// Why a token was not issued for an appid and secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("grant_type must be client_credential")]
    GrantType,
    #[error("appid missing")]
    AppidMissing,
    #[error("secret missing")]
    SecretMissing,
    #[error("no such appid")]
    UnknownAppid,
    #[error("the secret is not the account's")]
    WrongSecret,
    /// The caller's address is not on the account's allow-list (shown as
    /// the caller was seen, `0.0.0.0` when unknown).
    #[error("{0} is not on the account's IP allow-list")]
    IpNotAllowed(String),
    #[error("the daily quota is used up")]
    Quota,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for CredentialError {
    fn from(e: StoreError) -> Self {
        CredentialError::Internal(e.into())
    }
}

impl From<Quota> for CredentialError {
    fn from(e: Quota) -> Self {
        match e {
            Quota::Exceeded => CredentialError::Quota,
            Quota::Internal(e) => CredentialError::Internal(e),
        }
    }
}

/// `/cgi-bin/stable_token`'s request.
#[derive(Debug, Clone, Default)]
pub struct StableTokenRequest {
    pub grant_type: String,
    pub appid: String,
    pub secret: String,
    pub force_refresh: bool,
}

/// Checks the caller's address against the account's allow-list (empty:
/// everyone).
fn check_ip(account: &MpAccount, ip: Option<std::net::IpAddr>) -> Result<(), CredentialError> {
    let list = account.ip_allowlist.trim();
    if list.is_empty() {
        return Ok(());
    }
    let shown = ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into());
    let allowed = ip.is_some_and(|i| list.split(',').any(|a| a.trim().parse::<std::net::IpAddr>().ok() == Some(i)));
    if allowed {
        Ok(())
    } else {
        Err(CredentialError::IpNotAllowed(shown))
    }
}

/// `{"access_token", "expires_in"}`.
#[derive(Debug, serde::Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub expires_in: i64,
}

async fn account_for(app: &App, appid: &str, secret: &str) -> Result<MpAccount, CredentialError> {
    if appid.is_empty() {
        return Err(CredentialError::AppidMissing);
    }
    if secret.is_empty() {
        return Err(CredentialError::SecretMissing);
    }
    if !plain_id(appid) {
        return Err(CredentialError::UnknownAppid);
    }
    let account = app.store.mp_account(appid).await?.ok_or(CredentialError::UnknownAppid)?;
    use subtle::ConstantTimeEq as _;
    if !bool::from(account.secret.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(CredentialError::WrongSecret);
    }
    Ok(account)
}

async fn issue(app: &App, appid: &str, pool: &str) -> Result<MpToken, StoreError> {
    let now = app.clock.business_now().unix();
    let token = MpToken {
        token: format!("{}_{}", rules::rules().token_lifetime_s, app.rng.token(100)),
        appid: appid.to_owned(),
        pool: pool.to_owned(),
        issued_at: now,
        expires_at: now + rules::rules().token_lifetime_s,
        superseded_at: None,
    };
    app.store.issue_mp_token(&token).await?;
    Ok(token)
}

/// `GET /cgi-bin/token`: a new token; the previous one stays valid for the
/// overlap.
pub async fn fetch_token(
    app: &App,
    grant_type: &str,
    appid: &str,
    secret: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<TokenAnswer, CredentialError> {
    if grant_type != "client_credential" {
        return Err(CredentialError::GrantType);
    }
    let account = account_for(app, appid, secret).await?;
    check_ip(&account, ip)?;
    count_call(app, appid, "token").await?;
    let t = issue(app, appid, "token").await?;
    Ok(TokenAnswer { access_token: t.token, expires_in: t.expires_at - t.issued_at })
}

/// `POST /cgi-bin/stable_token`: the same token while it has more than five
/// minutes left (a separate pool from `/cgi-bin/token`); a new one when
/// forced.
pub async fn stable_token(
    app: &App,
    r: &StableTokenRequest,
    ip: Option<std::net::IpAddr>,
) -> Result<TokenAnswer, CredentialError> {
    if r.grant_type != "client_credential" {
        return Err(CredentialError::GrantType);
    }
    let appid = &r.appid;
    let account = account_for(app, appid, &r.secret).await?;
    check_ip(&account, ip)?;
    count_call(app, appid, "stable_token").await?;
    let now = app.clock.business_now().unix();
    let current = app.store.current_mp_token(appid, "stable").await?;
    let t = match current {
        Some(t) if !r.force_refresh && t.expires_at - now > rules::rules().stable_token_min_s => t,
        _ => issue(app, appid, "stable").await?,
    };
    Ok(TokenAnswer { access_token: t.token.clone(), expires_in: t.expires_at - now })
}

/// The account an `access_token` belongs to, if it is valid now for a call
/// of `api`, with the call counted against the account's daily quota. The
/// token is the account's own, or an authorizer token a third-party
/// platform got for it (then the account must have granted a permission
/// set the API needs); a component token is not an account's.
pub async fn authenticate(app: &App, access_token: Option<&str>, api: &str) -> Result<MpAccount, CallError> {
    let token = access_token.filter(|t| !t.is_empty()).ok_or(CallError::Missing)?;
    if token.len() > 512 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(CallError::Malformed);
    }
    let now = app.clock.business_now().unix();
    let overlap = rules::rules().token_overlap_s;
    let appid = if let Some(t) = app.store.mp_token(token).await? {
        if t.expires_at <= now {
            return Err(CallError::Expired);
        }
        if t.superseded_at.is_some_and(|s| s + overlap <= now) {
            return Err(CallError::NotLatest);
        }
        t.appid
    } else if let Some(t) = app.store.authorizer_token(token).await? {
        if t.expires_at <= now {
            return Err(CallError::Expired);
        }
        if t.superseded_at.is_some_and(|s| s + overlap <= now) {
            return Err(CallError::NotLatest);
        }
        crate::mp::component::check_api(app, &t, api).await?;
        t.authorizer_appid
    } else if app.store.component_token(token).await?.is_some() {
        return Err(CallError::ComponentToken);
    } else {
        return Err(CallError::NotLatest);
    };
    let account = app.store.mp_account(&appid).await?.ok_or_else(|| Internal::bug("a token of no account"))?;
    count_call(app, &account.appid, api).await?;
    Ok(account)
}
