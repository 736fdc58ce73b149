//! An account's server and a component's event URL (protocol notes
//! `wechat-mp.md` §4.1, §6): the URL verification handshake (`echostr`,
//! signed with the receiver's Token) that runs before a new URL takes
//! effect, and the account's message mode.

use koudai_protocol::mp_crypto::signature;

use crate::outbox::mp::{nonce, REPLY_WINDOW};
use crate::runtime::outbound::{error_chain, with_query};
use crate::{App, Internal};

/// The message modes an account may use.
pub const MODES: &[&str] = &["plain", "compatible", "safe"];

/// The `echostr` handshake against `url`, signed with `token`.
pub async fn handshake(app: &App, token: &str, url: &str) -> Result<(), String> {
    let timestamp = app.clock.wall_now().unix().to_string();
    let nonce = nonce(&app.rng);
    let echostr = (u64::from_be_bytes(app.rng.bytes()) % 10_000_000_000_000_000).to_string();
    let sig = signature(&[token, &timestamp, &nonce]);
    let full =
        with_query(url, &[("signature", &sig), ("timestamp", &timestamp), ("nonce", &nonce), ("echostr", &echostr)]);
    let request = app.outbound.get(&full).map_err(|e| e.to_string())?;
    let resp = request
        .timeout(REPLY_WINDOW)
        .send()
        .await
        .map_err(|e| format!("the server did not answer: {}", error_chain(&e)))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if status.is_success() && body.trim() == echostr {
        Ok(())
    } else {
        Err(format!(
            "the server answered {status} with {:?}, not the echostr",
            body.chars().take(80).collect::<String>()
        ))
    }
}

/// Why a server setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("no official account {0}")]
    NoAccount(String),
    #[error("message_mode is plain, compatible or safe")]
    BadMode,
    #[error("the URL must be http(s)")]
    BadUrl,
    #[error("URL verification failed: {0}")]
    Handshake(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Sets an account's server: the handshake runs first when the URL
/// changes, and the setting takes effect at once.
pub async fn set_server(app: &App, appid: &str, url: &str, mode: &str) -> Result<(), ServerError> {
    let account = app
        .store
        .mp_account(appid)
        .await
        .map_err(Internal::from)?
        .ok_or_else(|| ServerError::NoAccount(appid.into()))?;
    if !MODES.contains(&mode) {
        return Err(ServerError::BadMode);
    }
    let parsed = url::Url::parse(url).map_err(|_| ServerError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ServerError::BadUrl);
    }
    if account.server_url.as_deref() != Some(url) {
        handshake(app, &account.token, url).await.map_err(ServerError::Handshake)?;
    }
    app.store.set_mp_server(appid, Some(url), mode).await.map_err(Internal::from)?;
    Ok(())
}

/// Why an IP allow-list was not set.
#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    /// An entry that is not an IP address.
    #[error("{0} is not an IP address")]
    NotAnIp(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Sets the addresses `/cgi-bin/token` and `stable_token` accept calls from
/// (separated by commas, spaces or lines; empty: everyone).
pub async fn set_ip_allowlist(app: &App, appid: &str, text: &str) -> Result<Vec<String>, AllowlistError> {
    let ips: Vec<&str> = text.split([',', ' ', '\n']).map(str::trim).filter(|i| !i.is_empty()).collect();
    if let Some(bad) = ips.iter().find(|i| i.parse::<std::net::IpAddr>().is_err()) {
        return Err(AllowlistError::NotAnIp((*bad).to_owned()));
    }
    app.store.set_mp_ip_allowlist(appid, &ips.join(",")).await.map_err(Internal::from)?;
    Ok(ips.into_iter().map(str::to_owned).collect())
}
