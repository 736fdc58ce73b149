//! Parametric QR codes (WeChat shop notes §6): temporary codes (60 s by
//! default, at most 30 days, on the business clock) and permanent ones (at
//! most 100,000 per account; the same scene gives the same ticket), each
//! with an opaque ticket and the URL the image encodes; a consumer's scan
//! pushes `subscribe` with `qrscene_<scene>` (not yet following) or `SCAN`.
//! This module owns the codes: [`create`] takes a typed [`NewQrCode`] and
//! refuses with [`QrCodeError`] (the surface reads the request and words
//! the refusal), [`live`] finds a code to show, [`scan`] is the consumer's
//! side ([`ScanError`]).

use std::sync::Arc;

use koudai_store::{Flag, MpAccount, QrCode, StoreError};

use super::push::{follow, Push, PushError};
use crate::{App, Internal};

/// The most permanent codes an account may have.
pub const PERMANENT_LIMIT: i64 = 100_000;
/// The longest a temporary code lives.
pub const MAX_EXPIRE_S: i64 = 2_592_000;
/// A temporary code's life when none is asked for.
pub const DEFAULT_EXPIRE_S: i64 = 60;

/// What a code carries back when scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    /// `scene_id` (0 when the request gave none that reads as an integer).
    Id(i64),
    /// `scene_str` (empty when the request gave none).
    Str(String),
}

/// `qrcode/create`'s request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQrCode {
    pub permanent: bool,
    pub scene: Scene,
    /// A temporary code's `expire_seconds` (`None`: the default; a value
    /// that is not an integer reads as 0). Ignored for a permanent code.
    pub expire_seconds: Option<i64>,
}

impl NewQrCode {
    /// The `action_name` the request gave.
    fn action_name(&self) -> &'static str {
        match (self.permanent, &self.scene) {
            (false, Scene::Id(_)) => "QR_SCENE",
            (false, Scene::Str(_)) => "QR_STR_SCENE",
            (true, Scene::Id(_)) => "QR_LIMIT_SCENE",
            (true, Scene::Str(_)) => "QR_LIMIT_STR_SCENE",
        }
    }
}

/// Why a code was not made.
#[derive(Debug, thiserror::Error)]
pub enum QrCodeError {
    #[error("scene_str is 1 to 64 characters")]
    SceneStr,
    #[error("a permanent code's scene_id is 1 to 100000")]
    PermanentSceneId,
    #[error("a temporary code's scene_id is a non-zero 32-bit integer")]
    TemporarySceneId,
    #[error("expire_seconds is a positive number of seconds")]
    Expiry,
    #[error("the account has 100000 permanent codes already")]
    PermanentLimit,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for QrCodeError {
    fn from(e: StoreError) -> Self {
        QrCodeError::Internal(e.into())
    }
}

/// A code made (or, for a permanent scene asked for again, the one made
/// before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeQrCode {
    pub ticket: String,
    pub url: String,
    /// A temporary code's seconds left.
    pub expire_seconds: Option<i64>,
}

/// The scene as stored, checked.
fn scene_of(r: &NewQrCode) -> Result<String, QrCodeError> {
    match &r.scene {
        Scene::Str(s) if s.is_empty() || s.chars().count() > 64 => Err(QrCodeError::SceneStr),
        Scene::Str(s) => Ok(s.clone()),
        Scene::Id(id) => {
            let max = if r.permanent { PERMANENT_LIMIT } else { i64::from(u32::MAX) };
            if (1..=max).contains(id) {
                Ok(id.to_string())
            } else if r.permanent {
                Err(QrCodeError::PermanentSceneId)
            } else {
                Err(QrCodeError::TemporarySceneId)
            }
        }
    }
}

/// A temporary code's life in seconds (`None` for a permanent one).
fn expiry_of(r: &NewQrCode) -> Result<Option<i64>, QrCodeError> {
    if r.permanent {
        return Ok(None);
    }
    match r.expire_seconds {
        None => Ok(Some(DEFAULT_EXPIRE_S)),
        Some(s) if s > 0 => Ok(Some(s.min(MAX_EXPIRE_S))),
        Some(_) => Err(QrCodeError::Expiry),
    }
}

/// `qrcode/create`.
pub async fn create(app: &App, a: &MpAccount, r: &NewQrCode) -> Result<MadeQrCode, QrCodeError> {
    let scene = scene_of(r)?;
    let expire = expiry_of(r)?;
    if r.permanent && app.store.permanent_qrcodes(&a.appid).await? >= PERMANENT_LIMIT {
        return Err(QrCodeError::PermanentLimit);
    }
    let now = app.clock.business_now().unix();
    use base64::Engine as _;
    let ticket = base64::engine::general_purpose::STANDARD.encode(app.rng.bytes::<36>());
    let code = QrCode {
        ticket,
        appid: a.appid.clone(),
        action_name: r.action_name().to_owned(),
        scene,
        permanent: Flag(r.permanent),
        url: format!("{}/q/{}", app.config.base_url.trim_end_matches('/'), app.rng.token(22)),
        expires_at: expire.map(|e| now + e),
        created_at: now,
    };
    let made = app.store.create_qrcode(&code).await?;
    Ok(MadeQrCode { expire_seconds: made.expires_at.map(|at| at - now), ticket: made.ticket, url: made.url })
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
    /// The push to the account's server could not be sent.
    #[error(transparent)]
    Push(PushError),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<PushError> for ScanError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Internal(e) => ScanError::Internal(e),
            e @ (PushError::UnknownOpenid | PushError::NoServer) => ScanError::Push(e),
        }
    }
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
        let pushed = crate::mp::push::push_now(app, &account, &openid, &push).await?;
        (pushed.delivered, Some(pushed.id))
    } else {
        (false, None)
    };
    let summary = if following { "[扫码] 扫描了二维码" } else { "[扫码] 扫码关注了公众号" };
    app.store.add_chat_line(&account.appid, &openid, summary, id, now).await.map_err(Internal::from)?;
    Ok((event.to_owned(), delivered))
}
