//! Access tokens of official accounts (protocol notes `wechat-mp.md` §2):
//! `/cgi-bin/token` and `stable_token` (7200 s on the business clock; a
//! new token supersedes the old one after a 5-minute overlap), the caller's
//! IP allow-list, and [`authenticate`], which accepts an account's own
//! token or an authorizer token a third-party platform got for it (then the
//! permission sets it was granted must cover the API).

use serde_json::Value;

use koudai_domain::mp as rules;
use koudai_protocol::mp::MpError;
use koudai_store::{MpAccount, MpToken};

use super::{count_call, plain_id, MpFailure};
use crate::{App, Internal};

/// Checks the caller's address against the account's allow-list (empty:
/// everyone).
fn check_ip(account: &MpAccount, ip: Option<std::net::IpAddr>) -> Result<(), MpError> {
    let list = account.ip_allowlist.trim();
    if list.is_empty() {
        return Ok(());
    }
    let shown = ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into());
    let allowed = ip.is_some_and(|i| list.split(',').any(|a| a.trim().parse::<std::net::IpAddr>().ok() == Some(i)));
    if allowed {
        Ok(())
    } else {
        Err(MpError::invalid_ip(&shown))
    }
}

/// `{"access_token", "expires_in"}`.
#[derive(Debug, serde::Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub expires_in: i64,
}

async fn account_for(app: &App, appid: &str, secret: &str) -> Result<MpAccount, MpFailure> {
    if appid.is_empty() {
        return Err(MpError::appid_missing().into());
    }
    if secret.is_empty() {
        return Err(MpError::appsecret_missing().into());
    }
    if !plain_id(appid) {
        return Err(MpError::invalid_appid().into());
    }
    let account = app.store.mp_account(appid).await?.ok_or_else(MpError::invalid_appid)?;
    use subtle::ConstantTimeEq as _;
    if !bool::from(account.secret.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(MpError::invalid_appsecret().into());
    }
    Ok(account)
}

async fn issue(app: &App, appid: &str, pool: &str) -> Result<MpToken, MpFailure> {
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
) -> Result<TokenAnswer, MpFailure> {
    if grant_type != "client_credential" {
        return Err(MpError::invalid_grant_type().into());
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
pub async fn stable_token(app: &App, body: &Value, ip: Option<std::net::IpAddr>) -> Result<TokenAnswer, MpFailure> {
    let text = |f: &str| body.get(f).and_then(Value::as_str).unwrap_or_default().to_owned();
    if text("grant_type") != "client_credential" {
        return Err(MpError::invalid_grant_type().into());
    }
    let appid = text("appid");
    let account = account_for(app, &appid, &text("secret")).await?;
    check_ip(&account, ip)?;
    count_call(app, &appid, "stable_token").await?;
    let now = app.clock.business_now().unix();
    let force = body.get("force_refresh").and_then(Value::as_bool).unwrap_or(false);
    let current = app.store.current_mp_token(&appid, "stable").await?;
    let t = match current {
        Some(t) if !force && t.expires_at - now > rules::rules().stable_token_min_s => t,
        _ => issue(app, &appid, "stable").await?,
    };
    Ok(TokenAnswer { access_token: t.token.clone(), expires_in: t.expires_at - now })
}

/// The account an `access_token` belongs to, if it is valid now for a call
/// of `api`. The token is the account's own, or an authorizer token a
/// third-party platform got for it (then the account must have granted a
/// permission set the API needs); a component token is not an account's
/// (48001).
pub async fn authenticate(app: &App, access_token: Option<&str>, api: &str) -> Result<MpAccount, MpFailure> {
    let token = access_token.filter(|t| !t.is_empty()).ok_or_else(MpError::access_token_missing)?;
    if token.len() > 512 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(MpError::invalid_access_token().into());
    }
    let now = app.clock.business_now().unix();
    let overlap = rules::rules().token_overlap_s;
    let appid = if let Some(t) = app.store.mp_token(token).await? {
        if t.expires_at <= now {
            return Err(MpError::access_token_expired().into());
        }
        if t.superseded_at.is_some_and(|s| s + overlap <= now) {
            return Err(MpError::invalid_credential().into());
        }
        t.appid
    } else if let Some(t) = app.store.authorizer_token(token).await? {
        if t.expires_at <= now {
            return Err(MpError::access_token_expired().into());
        }
        if t.superseded_at.is_some_and(|s| s + overlap <= now) {
            return Err(MpError::invalid_credential().into());
        }
        crate::mp::component::check_api(app, &t, api).await?;
        t.authorizer_appid
    } else if app.store.component_token(token).await?.is_some() {
        return Err(MpError::api_unauthorized().into());
    } else {
        return Err(MpError::invalid_credential().into());
    };
    Ok(app.store.mp_account(&appid).await?.ok_or_else(|| Internal::bug("a token of no account"))?)
}
