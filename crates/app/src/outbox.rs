//! The callback outbox: notifications are sealed (AEAD with the merchant's
//! APIv3 key) and written in the transaction of the state change that
//! causes them; the delivery job claims due rows under a lease and commits
//! before sending, sends with fresh signature headers, then records the
//! attempt and the next step in one transaction. A crash between claim and
//! record costs one lease period, after which the row is sent again:
//! callbacks are at-least-once, as WeChat's are, and merchants must be
//! idempotent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use koudai_domain::{ids, schedule, BusinessTime};
use koudai_protocol::sign::SignedHeaders;
use koudai_protocol::wire::Notification as SealedNotification;
use koudai_store::{AfterAttempt, Attempt, KeyMode, Merchant, NewNotification, Notification, StoreError};

use crate::App;

/// How long a claimed notification stays reserved for its sender (wall s):
/// longer than a send can take (3 s to connect, 5 s in all, then the
/// attempt is recorded), short so that a crashed node's claims come back
/// quickly.
const LEASE_S: i64 = 15;
/// How many notifications one pass claims and sends at once.
const BATCH: i64 = 32;
/// Longest error text kept with an attempt.
const ERROR_TEXT_MAX: usize = 300;

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
    })
}

/// Deliveries by outcome since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    /// Answered 2xx.
    pub delivered: AtomicU64,
    /// Sent, but not acknowledged (non-2xx, timeout, connection refused).
    pub failed: AtomicU64,
    /// Not sent: the URL is invalid or, in live mode, not public.
    pub refused: AtomicU64,
    /// The last attempt of the schedule failed; no more retries.
    pub given_up: AtomicU64,
}

impl DeliveryCounters {
    /// `(outcome, count)` pairs.
    pub fn snapshot(&self) -> [(&'static str, u64); 4] {
        [
            ("delivered", self.delivered.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
            ("refused", self.refused.load(Ordering::Relaxed)),
            ("given_up", self.given_up.load(Ordering::Relaxed)),
        ]
    }
}

/// Claims and sends one batch; returns how many were sent.
pub async fn deliver_due(app: &Arc<App>) -> Result<usize, StoreError> {
    let wall = app.clock.wall_now().unix();
    let due = app.store.claim_due_notifications(app.clock.business_now().unix(), wall, wall + LEASE_S, BATCH).await?;
    let n = due.len();
    let mut set = JoinSet::new();
    for notification in due {
        let app = Arc::clone(app);
        set.spawn(async move { deliver_one(&app, notification).await });
    }
    while set.join_next().await.is_some() {}
    Ok(n)
}

async fn deliver_one(app: &App, n: Notification) {
    match n.channel.as_str() {
        "mp" => return crate::mp_push::deliver(app, n).await,
        "component" => return crate::mp_push::deliver_component(app, n).await,
        _ => {}
    }
    let mode = match app.store.merchant(&n.mchid).await {
        Ok(Some(m)) => m.key_mode,
        Ok(None) => {
            // A notification always belongs to a merchant (the payment that
            // made it checked); sign in certificate mode and say so.
            tracing::error!(notification.id = n.id, mchid = %n.mchid, "a notification's merchant does not exist");
            KeyMode::Certificate
        }
        Err(e) => {
            // Leave the lease to expire; the row will be claimed again.
            tracing::warn!(notification.id = n.id, error = %e, "loading merchant for delivery failed");
            return;
        }
    };
    let attempt_no = n.attempts + 1;
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
            // Nothing unsigned ever leaves; the lease expires and the row is
            // claimed again.
            tracing::error!(notification.id = n.id, error = %e, "signing a callback failed");
            return;
        }
    };
    let (http_status, error, refused) = match app.outbound.post(&n.notify_url) {
        Err(refusal) => (None, Some(truncate(&refusal.to_string(), ERROR_TEXT_MAX)), true),
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
                Err(e) => (None, Some(truncate(&error_chain(&e), ERROR_TEXT_MAX)), refused_by_resolver(&e)),
            }
        }
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let delivered = http_status.is_some_and(|s| (200..300).contains(&s));
    let after = if delivered {
        AfterAttempt::Delivered
    } else {
        match u32::try_from(attempt_no).ok().and_then(schedule::delay_after_failure) {
            Some(delay) => AfterAttempt::RetryAt(attempted_at + delay),
            None => AfterAttempt::GiveUp,
        }
    };
    let attempt = Attempt { attempt_no, attempted_at, http_status, error, duration_ms };
    if let Err(e) = app.store.record_attempt(n.id, &attempt, after).await {
        tracing::warn!(notification.id = n.id, error = %e, "recording a delivery attempt failed; it will be sent again");
        return;
    }
    let counters = &app.deliveries;
    let counter = match (delivered, refused) {
        (true, _) => &counters.delivered,
        (false, true) => &counters.refused,
        (false, false) => &counters.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    match after {
        AfterAttempt::Delivered => {
            tracing::info!(notification.id = n.id, notification.event = %n.event_type, attempt = attempt_no, "callback delivered")
        }
        AfterAttempt::RetryAt(t) => {
            tracing::info!(notification.id = n.id, attempt = attempt_no, status = ?attempt.http_status, error = ?attempt.error, next_attempt_at = t, "callback failed; will retry")
        }
        AfterAttempt::GiveUp => {
            counters.given_up.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(notification.id = n.id, attempt = attempt_no, "callback failed; retries exhausted")
        }
    }
}

fn refused_by_resolver(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<crate::outbound::Refused>().is_some() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An error and its sources, `: `-separated (reqwest hides the useful part
/// of a connection error in its sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
