//! The outbox: every message Koudai sends on its own initiative goes
//! through here, whatever its channel ([`Channel`]): APIv3 callbacks to
//! merchants (`v3`, [`pay`]), pushes to official accounts' servers (`mp`)
//! and to third-party platforms' event URLs (`component`, both [`mp`]).
//!
//! A row is written in the transaction of the state change it announces;
//! the delivery job claims due rows under a lease ([`LEASE_S`]) and commits
//! before sending; the channel's sender sends; `attempt::record` writes the attempt
//! and the next step (the channel's retry schedule, data in
//! `koudai_domain::schedule`) in one transaction and counts the outcome per
//! channel for `/metrics`. A crash between claim and record costs one lease
//! period, after which the row is sent again: deliveries are at-least-once,
//! as WeChat's are, and receivers must be idempotent. [`send_now`] is the
//! one "enqueued, now deliver it and tell me" entry point.

mod attempt;
pub mod mp;
pub mod pay;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

pub use koudai_domain::schedule::Channel;
use koudai_store::{Notification, NotificationStatus, StoreError};

pub use pay::{seal, Event};

use crate::{App, Internal};

/// How long a claimed notification stays reserved for its sender (wall s):
/// longer than a send can take (3 s to connect, 5 s in all, then the
/// attempt is recorded), short so that a crashed node's claims come back
/// quickly.
pub const LEASE_S: i64 = 15;
/// How many notifications one pass claims and sends at once.
const BATCH: i64 = 32;
/// How long [`send_now`] waits for the delivery job's first try when the
/// job claimed the row first (longer than one send).
const FIRST_TRY_WAIT: Duration = Duration::from_secs(7);

/// Deliveries of one channel by outcome since start.
#[derive(Debug, Default)]
pub struct OutcomeCounters {
    /// Acknowledged (2xx, and for pushes the answer the channel requires).
    pub delivered: AtomicU64,
    /// Sent, but not acknowledged (non-2xx, timeout, connection refused).
    pub failed: AtomicU64,
    /// Not sent: the URL is invalid or, in live mode, not public.
    pub refused: AtomicU64,
    /// The last attempt of the schedule failed; no more retries.
    pub given_up: AtomicU64,
}

impl OutcomeCounters {
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

/// Deliveries by channel and outcome since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    v3: OutcomeCounters,
    mp: OutcomeCounters,
    component: OutcomeCounters,
}

impl DeliveryCounters {
    /// The counters of one channel.
    pub fn of(&self, channel: Channel) -> &OutcomeCounters {
        match channel {
            Channel::V3 => &self.v3,
            Channel::Mp => &self.mp,
            Channel::Component => &self.component,
        }
    }

    /// `(channel, outcome, count)` for every channel and outcome.
    pub fn snapshot(&self) -> Vec<(Channel, &'static str, u64)> {
        Channel::ALL
            .into_iter()
            .flat_map(|c| self.of(c).snapshot().into_iter().map(move |(outcome, n)| (c, outcome, n)))
            .collect()
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

/// Delivers the enqueued (and committed) notification `id` now and returns
/// it as it stands after the first try. If the delivery job claimed it
/// first, waits a little for the job's first try; retries, if it failed,
/// follow in the jobs.
pub async fn send_now(app: &App, id: i64) -> Result<Notification, Internal> {
    let wall = app.clock.wall_now().unix();
    if let Some(n) = app.store.claim_notification(id, wall, wall + LEASE_S).await? {
        deliver_one(app, n).await;
    }
    let deadline = Instant::now() + FIRST_TRY_WAIT;
    loop {
        let n = app.store.notification(id).await?.ok_or_else(|| Internal::bug("a notification vanished"))?;
        if n.status != NotificationStatus::Pending || n.attempts > 0 || Instant::now() >= deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends one claimed notification through its channel and records the
/// attempt. A sender that could not even prepare the message (its owner
/// unreadable, signing failed) leaves the lease to expire.
async fn deliver_one(app: &App, n: Notification) {
    let sent = match n.channel {
        Channel::V3 => pay::send(app, &n).await,
        Channel::Mp => mp::send_account(app, &n).await,
        Channel::Component => mp::send_component(app, &n).await,
    };
    if let Some(sent) = sent {
        attempt::record(app, &n, sent).await;
    }
}
