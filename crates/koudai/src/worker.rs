//! Background work inside `koudai serve`: delivering the callback outbox,
//! finishing refunds whose processing time has passed, settling each
//! business day as the business clock crosses midnight (China time), and
//! writing down the closure of expired orders.
//!
//! Delivery claims due rows under a lease and commits before sending, sends
//! with fresh signature headers, then records the attempt and the next step
//! in one transaction. A crash between claim and record costs one lease
//! period, after which the row is sent again: callbacks are at-least-once,
//! as WeChat's are, and merchants must be idempotent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use koudai_domain::schedule;
use koudai_protocol::auth::response_message;
use koudai_protocol::SIGNATURE_TYPE;
use koudai_store::{AfterAttempt, Attempt, KeyMode, Notification};

use crate::app::SharedState;
use crate::demo::random_token;

/// How long a claimed notification stays reserved for its worker (wall s).
const LEASE_S: i64 = 60;
/// How many notifications one pass claims and sends at once.
const BATCH: i64 = 32;
/// How often the worker looks for due work when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Longest error text kept with an attempt.
const ERROR_TEXT_MAX: usize = 300;

pub fn spawn(state: SharedState, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_expiry = Instant::now() - Duration::from_secs(60);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let sent = match deliver_due(&state).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming notifications failed");
                    0
                }
            };
            let finished = match crate::refunds::finish_due(&state).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = ?e.internal.unwrap_or_default(), "finishing refunds failed");
                    0
                }
            };
            if last_expiry.elapsed() >= Duration::from_secs(1) {
                last_expiry = Instant::now();
                match crate::money::settle_due_days(&state.store, state.clock.business_now()).await {
                    Ok(days) if days.is_empty() => {}
                    Ok(days) => tracing::info!(days = ?days, "settled business days"),
                    Err(e) => tracing::warn!(error = %e, "settlement failed"),
                }
                match state.store.expire_orders(state.clock.business_now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(orders.closed = n, "closed expired orders"),
                    Err(e) => tracing::warn!(error = %e, "closing expired orders failed"),
                }
            }
            if sent == 0 && finished == 0 {
                tokio::select! {
                    _ = state.wake_worker.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    })
}

/// Claims and sends one batch; returns how many were sent.
pub async fn deliver_due(state: &SharedState) -> Result<usize, koudai_store::StoreError> {
    let wall = state.clock.wall_now();
    let due = state.store.claim_due_notifications(state.clock.business_now(), wall, wall + LEASE_S, BATCH).await?;
    let n = due.len();
    let mut set = JoinSet::new();
    for notification in due {
        let state = Arc::clone(state);
        set.spawn(async move { deliver_one(&state, notification).await });
    }
    while set.join_next().await.is_some() {}
    Ok(n)
}

async fn deliver_one(state: &SharedState, n: Notification) {
    let mode = match state.store.merchant(&n.mchid).await {
        Ok(Some(m)) => m.key_mode,
        Ok(None) => KeyMode::Certificate,
        Err(e) => {
            // Leave the lease to expire; the row will be claimed again.
            tracing::warn!(notification.id = n.id, error = %e, "loading merchant for delivery failed");
            return;
        }
    };
    let attempt_no = n.attempts + 1;
    let attempted_at = state.clock.business_now();
    let started = Instant::now();
    let timestamp = state.clock.wall_now().to_string();
    let nonce = random_token(32);
    let signature = state.platform.key.sign(&response_message(&timestamp, &nonce, n.body.as_bytes()));
    let result = state
        .http
        .post(&n.notify_url)
        .header("content-type", "application/json")
        .header("accept", "*/*")
        .header("pragma", "no-cache")
        .header("wechatpay-timestamp", &timestamp)
        .header("wechatpay-nonce", &nonce)
        .header("wechatpay-signature", &signature)
        .header("wechatpay-serial", state.platform.serial_for(mode))
        .header("wechatpay-signature-type", SIGNATURE_TYPE)
        .body(n.body.clone())
        .send()
        .await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (http_status, error) = match result {
        Ok(resp) => (Some(i64::from(resp.status().as_u16())), None),
        Err(e) => (None, Some(truncate(&error_chain(&e), ERROR_TEXT_MAX))),
    };
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
    if let Err(e) = state.store.record_attempt(n.id, &attempt, after).await {
        tracing::warn!(notification.id = n.id, error = %e, "recording a delivery attempt failed; it will be sent again");
        return;
    }
    match after {
        AfterAttempt::Delivered => {
            tracing::info!(notification.id = n.id, notification.event = %n.event_type, attempt = attempt_no, "callback delivered")
        }
        AfterAttempt::RetryAt(t) => {
            tracing::info!(notification.id = n.id, attempt = attempt_no, status = ?attempt.http_status, next_attempt_at = t, "callback failed; will retry")
        }
        AfterAttempt::GiveUp => {
            tracing::warn!(notification.id = n.id, attempt = attempt_no, "callback failed; retries exhausted")
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
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
