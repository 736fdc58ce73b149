//! Parametric QR codes (WeChat shop notes §6): temporary codes (60 s by
//! default, at most 30 days, on the business clock) and permanent ones (at
//! most 100,000 per account; the same scene gives the same ticket), each
//! with an opaque ticket and the URL the image encodes; a consumer's scan
//! pushes `subscribe` with `qrscene_<scene>` (not yet following) or `SCAN`.

use std::sync::Arc;

use serde_json::{json, Value};

use koudai_protocol::mp::MpError;
use koudai_store::{Flag, MpAccount, QrCode};

use super::push::{follow, Push};
use super::MpFailure;
use crate::{App, Internal};

/// The most permanent codes an account may have.
pub const PERMANENT_LIMIT: i64 = 100_000;
/// The longest a temporary code lives.
pub const MAX_EXPIRE_S: i64 = 2_592_000;
/// A temporary code's life when none is asked for.
pub const DEFAULT_EXPIRE_S: i64 = 60;

fn invalid(why: &str) -> MpFailure {
    MpError::invalid_action_info(why).into()
}

/// `qrcode/create`.
pub async fn create(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let action = body.get("action_name").and_then(Value::as_str).unwrap_or_default();
    let (permanent, by_string) = match action {
        "QR_SCENE" => (false, false),
        "QR_STR_SCENE" => (false, true),
        "QR_LIMIT_SCENE" => (true, false),
        "QR_LIMIT_STR_SCENE" => (true, true),
        _ => return Err(invalid("action_name is QR_SCENE, QR_STR_SCENE, QR_LIMIT_SCENE or QR_LIMIT_STR_SCENE")),
    };
    let scene =
        body.get("action_info").and_then(|i| i.get("scene")).ok_or_else(|| invalid("action_info.scene is required"))?;
    let scene = if by_string {
        let s = scene.get("scene_str").and_then(Value::as_str).unwrap_or_default();
        if s.is_empty() || s.chars().count() > 64 {
            return Err(invalid("scene_str is 1 to 64 characters"));
        }
        s.to_owned()
    } else {
        let id = scene.get("scene_id").and_then(Value::as_i64).unwrap_or(0);
        let max = if permanent { PERMANENT_LIMIT } else { i64::from(u32::MAX) };
        if !(1..=max).contains(&id) {
            return Err(invalid(if permanent {
                "scene_id is 1 to 100000"
            } else {
                "scene_id is a non-zero 32-bit integer"
            }));
        }
        id.to_string()
    };
    let now = app.clock.business_now().unix();
    let expire = if permanent {
        None
    } else {
        match body.get("expire_seconds") {
            None | Some(Value::Null) => Some(DEFAULT_EXPIRE_S),
            Some(v) => match v.as_i64() {
                Some(s) if s > 0 => Some(s.min(MAX_EXPIRE_S)),
                _ => return Err(invalid("expire_seconds is a positive number of seconds")),
            },
        }
    };
    if permanent && app.store.permanent_qrcodes(&a.appid).await? >= PERMANENT_LIMIT {
        return Err(MpError::invalid_action_info("the account has 100000 permanent codes already").into());
    }
    use base64::Engine as _;
    let ticket = base64::engine::general_purpose::STANDARD.encode(app.rng.bytes::<36>());
    let code = QrCode {
        ticket,
        appid: a.appid.clone(),
        action_name: action.to_owned(),
        scene,
        permanent: Flag(permanent),
        url: format!("{}/q/{}", app.config.base_url.trim_end_matches('/'), app.rng.token(22)),
        expires_at: expire.map(|e| now + e),
        created_at: now,
    };
    let made = app.store.create_qrcode(&code).await?;
    let mut out = json!({"ticket": made.ticket, "url": made.url});
    if let Some(at) = made.expires_at {
        out["expire_seconds"] = json!(at - now);
    }
    Ok(out)
}

/// A code that can be shown and scanned now.
pub async fn live(app: &App, ticket: &str) -> Result<Option<QrCode>, Internal> {
    if ticket.is_empty() || ticket.len() > 200 {
        return Ok(None);
    }
    let now = app.clock.business_now().unix();
    Ok(app.store.qrcode(ticket).await?.filter(|q| q.expires_at.is_none_or(|t| t > now)))
}

/// Why a scan did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("no live QR code with that ticket")]
    NoTicket,
    #[error("no consumer {0}")]
    NoConsumer(String),
    #[error("{0}")]
    Push(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// A consumer scans a code: `subscribe` (with `qrscene_`) if not following
/// the account yet, else `SCAN`; returns the event and whether the
/// account's server took the push (`false` with no server).
pub async fn scan(app: &Arc<App>, ticket: &str, consumer: &str) -> Result<(String, bool), ScanError> {
    let code = live(app, ticket).await?.ok_or(ScanError::NoTicket)?;
    if app.store.consumer(consumer).await.map_err(Internal::from)?.is_none() {
        return Err(ScanError::NoConsumer(consumer.to_owned()));
    }
    let account = app
        .store
        .mp_account(&code.appid)
        .await
        .map_err(Internal::from)?
        .ok_or_else(|| Internal::bug("a code of no account"))?;
    let (openid, newly) = follow(app, &account, consumer).await?;
    let following = !newly;
    let (event, key) =
        if following { ("SCAN", code.scene.clone()) } else { ("subscribe", format!("qrscene_{}", code.scene)) };
    let push = Push::Scan { event: event.into(), event_key: key, ticket: code.ticket.clone() };
    let now = app.clock.business_now().unix();
    let (delivered, id) = if account.server_url.as_deref().is_some_and(|u| !u.is_empty()) {
        let (delivered, _, id) =
            crate::mp::push::push_now_with_id(app, &account, &openid, &push).await.map_err(|e| match e {
                MpFailure::Internal(e) => ScanError::Internal(e),
                MpFailure::Refused(m) => ScanError::Push(m.errmsg),
            })?;
        (delivered, Some(id))
    } else {
        (false, None)
    };
    let summary = if following { "[扫码] 扫描了二维码" } else { "[扫码] 扫码关注了公众号" };
    app.store.add_chat_line(&account.appid, &openid, summary, id, now).await.map_err(Internal::from)?;
    Ok((event.to_owned(), delivered))
}
