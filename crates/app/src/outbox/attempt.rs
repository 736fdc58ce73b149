//! One delivery attempt of the outbox, whatever the channel: what a send
//! came to ([`Sent`]), and [`record`], which writes the attempt and the
//! next step by the channel's retry schedule in one transaction and counts
//! the outcome per channel; the dispatcher's [`Recorder`] writes the
//! attempts of concurrent sends in one transaction, beside the sends.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use serde_json::Value;

use koudai_store::{AfterAttempt, Attempt, Notification};

use crate::App;

/// Longest error text kept with an attempt.
const ERROR_TEXT_MAX: usize = 300;

/// What one send came to.
pub struct Sent {
    /// The HTTP status, if an answer came.
    pub http_status: Option<i64>,
    /// Whether the answer acknowledged the message (the channel decides).
    pub delivered: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// Not sent at all: the URL is invalid or, in live mode, not public.
    pub refused: bool,
    /// A push's passive reply, kept with the row.
    pub reply: Option<Value>,
    pub attempted_at: i64,
    pub started: Instant,
}

/// Records an attempt and the next step by the channel's schedule, and
/// counts it.
pub(super) async fn record(app: &App, n: &Notification, sent: Sent) {
    record_batch(app, vec![(n.clone(), sent)]).await;
}

/// The most attempts one transaction records.
const BATCH_AT_MOST: usize = 64;

/// Outcomes handed in and not yet written, at most: a send hands its
/// outcome in and is done, unless this many wait (the database is slow),
/// then it waits its turn.
const WAITING_AT_MOST: usize = 1024;

/// Records the dispatcher's attempts in batches, beside the sends: a send
/// hands its outcome in and its destination's next send may start at once;
/// one transaction writes every outcome that arrived meanwhile (group
/// commit). A row sent and not yet recorded keeps its lease, so no other
/// claim sends it meanwhile.
pub(super) struct Recorder(mpsc::Sender<(Notification, Sent)>);

impl Recorder {
    /// A recorder and its task, which ends when the recorder is dropped and
    /// every outcome handed in is written.
    pub(super) fn start(app: Arc<App>) -> (Recorder, tokio::task::JoinHandle<()>) {
        let (to, mut from) = mpsc::channel::<(Notification, Sent)>(WAITING_AT_MOST);
        let task = tokio::spawn(async move {
            while let Some(first) = from.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH_AT_MOST {
                    match from.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                record_batch(&app, batch).await;
            }
        });
        (Recorder(to), task)
    }

    /// Hands in one outcome (waiting only while [`WAITING_AT_MOST`] wait).
    pub(super) async fn hand_in(&self, app: &App, n: Notification, sent: Sent) {
        if let Err(mpsc::error::SendError((n, sent))) = self.0.send((n, sent)).await {
            // The recorder is gone (it never is while its dispatcher runs):
            // record here.
            record(app, &n, sent).await;
        }
    }
}

/// Records attempts in one transaction, then counts and logs each.
async fn record_batch(app: &App, outcomes: Vec<(Notification, Sent)>) {
    let mut rows = Vec::with_capacity(outcomes.len());
    let mut told = Vec::with_capacity(outcomes.len());
    for (n, sent) in outcomes {
        let attempt_no = n.attempts + 1;
        let after = if sent.delivered {
            AfterAttempt::Delivered
        } else {
            match u32::try_from(attempt_no).ok().and_then(|a| n.channel.delay_after_failure(a)) {
                Some(delay) => AfterAttempt::RetryAt(sent.attempted_at + delay),
                None => AfterAttempt::GiveUp,
            }
        };
        let duration_ms = i64::try_from(sent.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let error = sent.error.map(|e| e.chars().take(ERROR_TEXT_MAX).collect());
        let attempt =
            Attempt { attempt_no, attempted_at: sent.attempted_at, http_status: sent.http_status, error, duration_ms };
        if let Some(reply) = &sent.reply {
            if let Err(e) = app.store.set_notification_reply(n.id, &reply.to_string()).await {
                tracing::warn!(notification.id = n.id, error = %e, "keeping a passive reply failed");
            }
        }
        rows.push((n.id, attempt, after));
        told.push((n, sent.delivered, sent.refused));
    }
    if let Err(e) = app.store.record_attempts(&rows).await {
        for (n, _, _) in &told {
            tracing::warn!(notification.id = n.id, error = %e, "recording a delivery attempt failed; it will be sent again");
        }
        return;
    }
    for ((n, delivered, refused), (_, attempt, after)) in told.iter().zip(&rows) {
        let counters = app.deliveries.of(n.channel);
        let counter = match (delivered, refused) {
            (true, _) => &counters.delivered,
            (false, true) => &counters.refused,
            (false, false) => &counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let channel = n.channel.as_str();
        let attempt_no = attempt.attempt_no;
        match after {
            AfterAttempt::Delivered => {
                tracing::info!(notification.id = n.id, channel, notification.event = %n.event_type, attempt = attempt_no, "delivered")
            }
            AfterAttempt::RetryAt(t) => {
                tracing::info!(notification.id = n.id, channel, attempt = attempt_no, status = ?attempt.http_status, error = ?attempt.error, next_attempt_at = t, "delivery failed; will retry")
            }
            AfterAttempt::GiveUp => {
                counters.given_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    notification.id = n.id,
                    channel,
                    attempt = attempt_no,
                    "delivery failed; retries exhausted"
                )
            }
        }
    }
}

/// Whether a send failed because the resolver refused a private address.
pub(super) fn refused_by_resolver(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<crate::runtime::outbound::Refused>().is_some() {
            return true;
        }
        cur = err.source();
    }
    false
}
