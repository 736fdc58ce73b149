//! The outbox: every message Koudai sends on its own initiative goes
//! through here, whatever its channel ([`Channel`]): APIv3 callbacks to
//! merchants (`v3`, [`pay`]), pushes to official accounts' servers (`mp`)
//! and to third-party platforms' event URLs (`component`, both [`mp`]).
//!
//! A row is written in the transaction of the state change it announces;
//! the dispatcher ([`run`]) claims due rows under a lease ([`LEASE_S`]) and
//! commits before sending; the channel's sender sends; `attempt::record` writes the attempt
//! and the next step (the channel's retry schedule, data in
//! `koudai_domain::schedule`) in one transaction and counts the outcome per
//! channel for `/metrics`. A crash between claim and record costs one lease
//! period, after which the row is sent again: deliveries are at-least-once,
//! as WeChat's are, and receivers must be idempotent. [`send_now`] is the
//! one "enqueued, now deliver it and tell me" entry point.
//!
//! No destination can slow another down. The dispatcher has no batch
//! barrier: it keeps up to [`MAX_IN_FLIGHT`] sends going and claims again
//! as soon as slots free up or new work is enqueued. Each destination (a
//! receiver's scheme, host and port) holds at most
//! [`destinations::PER_DESTINATION`] of those slots, and one that stops
//! answering is backed off by its circuit breaker; a claimed row that may
//! not be sent yet waits in memory for its destination's next free slot or
//! goes back to the table until its destination may take it, unsent and
//! not counted as an attempt. A send gives up after the outbound client's
//! connect (3 s) and response (5 s in all) timeouts.

mod attempt;
pub mod destinations;
pub mod mp;
pub mod pay;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use destinations::{Gate, Permit, Reach};

pub use koudai_domain::schedule::Channel;
use koudai_store::{Notification, NotificationStatus, StoreError};

pub use pay::{seal, Event};

use crate::{App, Internal};

/// How long a claimed notification stays reserved for its sender (wall s):
/// longer than a send can take (3 s to connect, 5 s in all, then the
/// attempt is recorded), short so that a crashed node's claims come back
/// quickly.
pub const LEASE_S: i64 = 15;
/// Sends in flight at once, every destination together.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long a claimed row whose destination already has its share of
/// sends in flight, and a full queue of parked rows, waits before it is
/// claimed again (wall s).
const BUSY_WAIT_S: i64 = 1;
/// With due rows left behind, the dispatcher claims again after this many
/// sends have ended (new work claims at once).
const CLAIM_AFTER_ENDED: usize = 16;
/// How often the dispatcher looks for due rows (retries coming due) when
/// nothing wakes it.
const IDLE_POLL: Duration = Duration::from_millis(500);
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

/// The dispatcher: claims due rows and keeps sending them until `stop`,
/// then lets the sends in flight finish. Woken by [`crate::Wake`].
pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let mut dispatcher = Dispatcher::new(Arc::clone(&app));
    let mut claim = true;
    // Whether the last claim may have left due rows behind (it got every
    // row it asked for): then a freed slot is worth another claim.
    let mut backlog = false;
    // Whether the last claim put every row it got to use (none had to go
    // back): then claim again at once while slots are free.
    let mut all_used = false;
    // Sends ended since the last claim.
    let mut ended = 0;
    while !stop.is_cancelled() {
        // Every send that has ended frees its slot now (a finished task
        // still counts in the set until it is joined).
        let reaped = dispatcher.reap().await;
        if reaped > 0 {
            ended += reaped;
            claim |= backlog && ended >= CLAIM_AFTER_ENDED;
        }
        if claim {
            claim = false;
            ended = 0;
            backlog = match app.database.while_reachable(dispatcher.start_due()).await {
                Some(Ok(pass)) => {
                    all_used = pass.put_back == 0;
                    pass.full
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "claiming notifications failed");
                    false
                }
                // The database does not answer: wait for it (sends in
                // flight finish meanwhile).
                None => {
                    tokio::select! {
                        () = app.database.back() => {}
                        () = stop.cancelled() => {}
                    }
                    claim = true;
                    continue;
                }
            };
        }
        if backlog && all_used && dispatcher.free() > 0 {
            claim = true;
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            Some(done) = dispatcher.sends.join_next(), if !dispatcher.sends.is_empty() => {
                dispatcher.finished(done).await;
                // With rows left behind, claim again once a few sends have
                // ended (one claim per send would be a transaction per
                // callback), or when none is left.
                ended += 1;
                claim = backlog && (ended >= CLAIM_AFTER_ENDED || dispatcher.sends.is_empty());
            }
            _ = app.wake.outbox.notified() => claim = true,
            _ = tokio::time::sleep(IDLE_POLL) => claim = true,
            _ = stop.cancelled() => {}
        }
    }
    dispatcher.drain().await;
}

/// Claims and sends what is due now, as the dispatcher would, and waits
/// for those sends; returns how many were sent. For tests and tools: the
/// server runs [`run`].
pub async fn deliver_due(app: &Arc<App>) -> Result<usize, StoreError> {
    let mut dispatcher = Dispatcher::new(Arc::clone(app));
    let pass = dispatcher.start_due().await?;
    dispatcher.drain().await;
    Ok(pass.started + dispatcher.unparked)
}

/// What one claim came to.
struct Pass {
    /// Sends started.
    started: usize,
    /// The claim got every row it asked for: more may be due.
    full: bool,
    /// Rows that went back to the table (their destinations are busy or
    /// backed off).
    put_back: usize,
}

/// Claimed rows waiting in memory for a slot of their destination, at most
/// this many per destination (beyond, they go back to the table for
/// [`BUSY_WAIT_S`]); a slow destination's rows that wait longer than
/// [`PARKED_AT_MOST`] go back too.
const PARKED_PER_DESTINATION: usize = 3 * destinations::PER_DESTINATION;
/// A claim takes at least this many rows when slots are free, whatever is
/// parked: rows parked for a busy destination must not keep another's new
/// work from being claimed.
const CLAIM_AT_LEAST: usize = 16;
/// A parked row older than this goes back to the table (its lease is
/// [`LEASE_S`]).
const PARKED_AT_MOST: Duration = Duration::from_secs(7);

struct Dispatcher {
    app: Arc<App>,
    /// Where sends hand in their outcomes, and its task (both taken when
    /// the dispatcher drains).
    recorder: Option<Arc<attempt::Recorder>>,
    recording: Option<tokio::task::JoinHandle<()>>,
    /// Sends in flight; each ends with its destination.
    sends: JoinSet<String>,
    parked: HashMap<String, VecDeque<(Notification, Instant)>>,
    /// Parked rows started since the dispatcher began.
    unparked: usize,
}

impl Dispatcher {
    fn new(app: Arc<App>) -> Dispatcher {
        let (recorder, recording) = attempt::Recorder::start(Arc::clone(&app));
        Dispatcher {
            app,
            recorder: Some(Arc::new(recorder)),
            recording: Some(recording),
            sends: JoinSet::new(),
            parked: HashMap::new(),
            unparked: 0,
        }
    }

    fn free(&self) -> usize {
        MAX_IN_FLIGHT.saturating_sub(self.sends.len())
    }

    fn spawn(&mut self, destination: String, n: Notification, permit: Permit) {
        let (app, recorder) = (Arc::clone(&self.app), self.recorder.clone());
        self.sends.spawn(async move {
            if let Some(sent) = send_one(&app, &n, permit).await {
                match recorder {
                    Some(r) => r.hand_in(&app, n, sent).await,
                    None => attempt::record(&app, &n, sent).await,
                }
            }
            destination
        });
    }

    /// Takes in every send that has ended (see [`Dispatcher::finished`]);
    /// returns how many.
    async fn reap(&mut self) -> usize {
        let mut n = 0;
        while let Some(done) = self.sends.try_join_next() {
            n += 1;
            self.finished(done).await;
        }
        n
    }

    /// A send ended: start what waits for its destination, and put back
    /// what waited too long or whose destination has been backed off.
    async fn finished(&mut self, done: Result<String, tokio::task::JoinError>) {
        let now = Instant::now();
        let wall = self.app.clock.wall_now().unix();
        let mut put_back = Vec::new();
        if let Ok(destination) = done {
            if let Some(mut queue) = self.parked.remove(&destination) {
                while self.free() > 0 {
                    let Some((n, _)) = queue.pop_front() else { break };
                    match self.app.destinations.try_start(&destination, now) {
                        Gate::Go(permit) => {
                            self.spawn(destination.clone(), n, permit);
                            self.unparked += 1;
                        }
                        Gate::Busy => {
                            queue.push_front((n, now));
                            break;
                        }
                        Gate::Open(until) => {
                            let at = wall + wall_seconds_until(until, now);
                            put_back.push((n.id, at));
                            put_back.extend(queue.drain(..).map(|(n, _)| (n.id, at)));
                        }
                    }
                }
                if !queue.is_empty() {
                    self.parked.insert(destination, queue);
                }
            }
        }
        for queue in self.parked.values_mut() {
            while queue.front().is_some_and(|(_, at)| now.duration_since(*at) > PARKED_AT_MOST) {
                if let Some((n, _)) = queue.pop_front() {
                    put_back.push((n.id, wall));
                }
            }
        }
        self.parked.retain(|_, q| !q.is_empty());
        if put_back.is_empty() {
            return;
        }
        if let Err(e) = self.app.store.put_back_notifications(&put_back).await {
            tracing::warn!(error = %e, "putting back parked notifications failed; their lease will expire");
        }
    }

    /// Lets the sends in flight finish (starting what was parked for
    /// them), then puts back what is still parked, due at once.
    async fn drain(&mut self) {
        while let Some(done) = self.sends.join_next().await {
            self.finished(done).await;
        }
        let wall = self.app.clock.wall_now().unix();
        let rest: Vec<_> =
            self.parked.drain().flat_map(|(_, q)| q.into_iter().map(move |(n, _)| (n.id, wall))).collect();
        if !rest.is_empty() {
            if let Err(e) = self.app.store.put_back_notifications(&rest).await {
                tracing::warn!(error = %e, "putting back parked notifications failed; their lease will expire");
            }
        }
        // Every outcome handed in is written before the dispatcher ends.
        self.recorder = None;
        if let Some(recording) = self.recording.take() {
            if let Err(e) = recording.await {
                tracing::warn!(error = %e, "the outbox's recorder ended abnormally");
            }
        }
    }

    /// Claims due rows for the free slots, starts those whose destination
    /// may take them, parks those whose destination is busy, and puts the
    /// others back until their destination may take them.
    async fn start_due(&mut self) -> Result<Pass, StoreError> {
        // Rows already waiting in memory count against the claim, so a busy
        // destination's backlog stays in the table instead of being
        // claimed and put back again and again.
        let parked: usize = self.parked.values().map(VecDeque::len).sum();
        let want = self.free().saturating_sub(parked).max(CLAIM_AT_LEAST).min(self.free());
        if want == 0 {
            return Ok(Pass { started: 0, full: true, put_back: 0 });
        }
        let app = Arc::clone(&self.app);
        let wall = app.clock.wall_now().unix();
        let due = app
            .store
            .claim_due_notifications(app.clock.business_now().unix(), wall, wall + LEASE_S, want as i64)
            .await?;
        let full = due.len() == want;
        let now = Instant::now();
        let mut put_back = Vec::new();
        let mut started = 0;
        for n in due {
            let destination = destinations::of(&n.notify_url);
            match app.destinations.try_start(&destination, now) {
                Gate::Go(permit) => {
                    self.spawn(destination, n, permit);
                    started += 1;
                }
                Gate::Busy => {
                    let queue = self.parked.entry(destination).or_default();
                    if queue.len() < PARKED_PER_DESTINATION {
                        queue.push_back((n, now));
                    } else {
                        put_back.push((n.id, wall + BUSY_WAIT_S));
                    }
                }
                Gate::Open(until) => put_back.push((n.id, wall + wall_seconds_until(until, now))),
            }
        }
        if !put_back.is_empty() {
            app.store.put_back_notifications(&put_back).await?;
        }
        tracing::debug!(want, started, full, put_back = put_back.len(), parked, "claimed");
        Ok(Pass { started, full, put_back: put_back.len() })
    }
}

/// Whole wall seconds from `now` to `until`, at least one.
fn wall_seconds_until(until: Instant, now: Instant) -> i64 {
    let d = until.saturating_duration_since(now);
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX).saturating_add(i64::from(d.subsec_nanos() > 0)).max(1)
}

/// Delivers the enqueued (and committed) notification `id` now and returns
/// it as it stands after the first try. If the dispatcher claimed it first,
/// waits a little for its first try; if its destination is backed off,
/// leaves it to the dispatcher and returns at once. Retries, if it failed,
/// follow in the dispatcher.
pub async fn send_now(app: &App, id: i64) -> Result<Notification, Internal> {
    let wall = app.clock.wall_now().unix();
    if let Some(n) = app.store.claim_notification(id, wall, wall + LEASE_S).await? {
        let now = Instant::now();
        match app.destinations.try_start(&destinations::of(&n.notify_url), now) {
            Gate::Go(permit) => {
                if let Some(sent) = send_one(app, &n, permit).await {
                    attempt::record(app, &n, sent).await;
                }
            }
            Gate::Busy => app.store.put_back_notifications(&[(id, wall)]).await?,
            Gate::Open(until) => {
                app.store.put_back_notifications(&[(id, wall + wall_seconds_until(until, now))]).await?;
                return app.store.notification(id).await?.ok_or_else(|| Internal::bug("a notification vanished"));
            }
        }
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

/// Sends one claimed notification through its channel and tells its
/// destination how it went; `None` if the sender could not even prepare
/// the message (its owner unreadable, signing failed): the lease expires.
async fn send_one(app: &App, n: &Notification, permit: Permit) -> Option<attempt::Sent> {
    let sent = match n.channel {
        Channel::V3 => pay::send(app, n).await,
        Channel::Mp => mp::send_account(app, n).await,
        Channel::Component => mp::send_component(app, n).await,
    }?;
    permit.done(match (sent.http_status, sent.refused) {
        (Some(_), _) => Reach::Answered,
        (None, true) => Reach::NotSent,
        (None, false) => Reach::Unreachable,
    });
    Some(sent)
}
