//! The `v3` channel: APIv3 callbacks (`TRANSACTION.SUCCESS`, `REFUND.*`,
//! profit sharing). [`seal`] encrypts the resource with the recipient's
//! APIv3 key into an outbox row; [`send`] posts it as JSON with fresh
//! `Wechatpay-*` signature headers, signed per the recipient's key mode. A
//! 2xx answer acknowledges it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use koudai_domain::schedule::Channel;
use koudai_domain::{ids, BusinessTime};
use koudai_protocol::sign::SignedHeaders;
use koudai_protocol::wire::Notification as SealedNotification;
use koudai_store::{KeyMode, Merchant, NewNotification, Notification};

use super::attempt::{refused_by_resolver, Sent};
use crate::runtime::outbound::error_chain;
use crate::App;

/// What a notification announces.
pub struct Event {
    pub event_type: &'static str,
    pub summary: &'static str,
    pub original_type: &'static str,
}

/// Encrypts `plaintext` with the merchant's APIv3 key into a notification
/// for the outbox, due now. `to` is `(reference, notify_url)`.
pub fn seal(
    app: &App,
    event: &Event,
    plaintext: &[u8],
    merchant: &Merchant,
    now: BusinessTime,
    to: (&str, &str),
) -> Result<NewNotification, String> {
    let sealed = SealedNotification::seal(
        ids::uuid_v4(&app.rng.bytes()),
        now.unix(),
        event.event_type,
        event.summary,
        event.original_type,
        plaintext,
        merchant.apiv3_key.expose(),
        &app.rng.token(12),
    )
    .map_err(|e| e.to_string())?;
    Ok(NewNotification {
        event_id: sealed.id.clone(),
        mchid: merchant.mchid.clone(),
        reference: to.0.to_owned(),
        event_type: sealed.event_type.clone(),
        notify_url: to.1.to_owned(),
        body: serde_json::to_string(&sealed).map_err(|e| e.to_string())?,
        next_attempt_at: now.unix(),
        created_at: now.unix(),
        channel: Channel::V3,
        key: None,
    })
}

/// How long a merchant's key mode is reused for its callbacks: as long as
/// the API's own cache of merchant rows (`v3::auth`), so a changed mode
/// reaches callbacks when it reaches the API.
const KEY_MODE_TTL: Duration = Duration::from_secs(5);

/// Merchants' key modes by mchid, with when they were read: a callback is
/// signed per its merchant's mode, and reading the merchant for every
/// callback was a database round trip per callback.
#[derive(Debug, Default)]
pub struct KeyModes(Mutex<HashMap<String, (KeyMode, Instant)>>);

impl KeyModes {
    fn get(&self, mchid: &str) -> Option<KeyMode> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get(mchid).filter(|(_, at)| at.elapsed() < KEY_MODE_TTL).map(|(mode, _)| *mode)
    }

    fn put(&self, mchid: &str, mode: KeyMode) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() > 10_000 {
            kept.retain(|_, (_, at)| at.elapsed() < KEY_MODE_TTL);
        }
        kept.insert(mchid.to_owned(), (mode, Instant::now()));
    }
}

/// The key mode of `mchid`'s callbacks: kept, or read.
async fn key_mode(app: &App, mchid: &str) -> Result<Option<KeyMode>, koudai_store::StoreError> {
    if let Some(mode) = app.key_modes.get(mchid) {
        return Ok(Some(mode));
    }
    let mode = app.store.merchant(mchid).await?.map(|m| m.key_mode);
    if let Some(mode) = mode {
        app.key_modes.put(mchid, mode);
    }
    Ok(mode)
}

/// Sends one claimed callback; `None` if it could not be prepared (the
/// lease expires and the row is claimed again).
pub(super) async fn send(app: &App, n: &Notification) -> Option<Sent> {
    let mode = match key_mode(app, &n.mchid).await {
        Ok(Some(mode)) => mode,
        Ok(None) => {
            // A notification always belongs to a merchant (the payment that
            // made it checked); sign in certificate mode and say so.
            tracing::error!(notification.id = n.id, mchid = %n.mchid, "a notification's merchant does not exist");
            KeyMode::Certificate
        }
        Err(e) => {
            tracing::warn!(notification.id = n.id, error = %e, "loading merchant for delivery failed");
            return None;
        }
    };
    let attempted_at = app.clock.business_now().unix();
    let started = Instant::now();
    let headers = match SignedHeaders::new(
        &app.platform.key,
        app.platform.serial_for(mode),
        app.clock.wall_now().unix(),
        app.rng.token(32),
        n.body.as_bytes(),
    ) {
        Ok(h) => h,
        Err(e) => {
            // Nothing unsigned ever leaves.
            tracing::error!(notification.id = n.id, error = %e, "signing a callback failed");
            return None;
        }
    };
    let (http_status, error, refused) = match app.outbound.post(&n.notify_url) {
        Err(refusal) => (None, Some(refusal.to_string()), true),
        Ok(request) => {
            let mut request =
                request.header("content-type", "application/json").header("accept", "*/*").header("pragma", "no-cache");
            for (name, value) in headers.pairs() {
                request = request.header(name, value);
            }
            match request.body(n.body.clone()).send().await {
                Ok(resp) => (Some(i64::from(resp.status().as_u16())), None, false),
                // A host name that resolved to a private address is refused
                // by the resolver: count it as refused, not as a failure.
                Err(e) => (None, Some(error_chain(&e)), refused_by_resolver(&e)),
            }
        }
    };
    let delivered = http_status.is_some_and(|s| (200..300).contains(&s));
    Some(Sent { http_status, delivered, error, refused, reply: None, attempted_at, started })
}
