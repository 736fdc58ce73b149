//! Koudai's use cases, with no HTTP in sight: what a payment, a refund, a
//! bill, a settlement or a new merchant *is*, given a store, a clock and a
//! source of randomness. Every surface (the `/v3` API, the sandbox API, the
//! cashier pages, the CLI) and every background job calls in here; nothing
//! in here knows which one called.
//!
//! [`App`] is the shared context. Each use case returns its own error enum
//! ([`payments::PrepayError`], [`refunds::RefundError`], …) whose variants
//! say what went wrong in business terms; how that is told to a client is
//! the surface's business.

// The contexts, from the top floor down: a folder imports only the
// folders listed below it (and this file's `App`, `Internal` and the
// runtime types it re-exports). ARCHITECTURE.md draws the same order.
pub mod access;
pub mod commerce;
pub mod discovery;
pub mod error;
pub mod jobs;
pub mod mp;
pub mod o2o;
pub mod outbox;
pub mod parties;
pub mod payments;
pub mod runtime;

use std::str::FromStr;

use tokio::sync::Notify;

use koudai_domain::Secret;
use koudai_store::Store;

pub use error::Internal;
pub use runtime::clock::Clock;
pub use runtime::keys::PlatformKeys;
pub use runtime::rng::Rng;

/// Whether the sandbox is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Demo world, sandbox API, movable business clock, http notify URLs.
    Sandbox,
    /// No demo data, no sandbox API, business clock = wall clock, https
    /// only, callbacks never reach private addresses.
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sandbox => "sandbox",
            Mode::Live => "live",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "sandbox" => Ok(Mode::Sandbox),
            "live" => Ok(Mode::Live),
            other => Err(format!("unknown mode {other:?} (sandbox or live)")),
        }
    }
}

/// What the use cases need to know about where they run.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub mode: Mode,
    /// The base URL clients reach this server at, without a trailing `/`.
    pub base_url: String,
    /// Base of bill `download_url`s (an SDK strips its own base from them).
    pub bill_download_base: String,
    /// The event names of profit-sharing notifications.
    pub sharing_events: payments::sharing::SharingEventNames,
    /// The key that seals sensitive data at rest (onboarding). Never in
    /// the database: from the environment or a file in the data directory.
    pub master_key: Secret<[u8; 32]>,
}

/// The shared context of every use case and job.
pub struct App {
    pub store: Store,
    pub clock: Clock,
    pub rng: Rng,
    pub platform: PlatformKeys,
    pub config: AppConfig,
    /// The bearer token of the sandbox API.
    pub sandbox_token: Secret<String>,
    /// Wakes the outbox's dispatcher and the jobs when new work is
    /// enqueued or the business clock moves.
    pub wake: Wake,
    /// The HTTP client callbacks go out with.
    pub outbound: runtime::outbound::Outbound,
    /// Deliveries by channel and outcome, for `/metrics`.
    pub deliveries: outbox::DeliveryCounters,
    /// Where the outbox sends: sends in flight and the breaker of each
    /// destination.
    pub destinations: outbox::destinations::Destinations,
    /// Merchants' key modes for signing callbacks (`outbox::pay`).
    pub key_modes: outbox::pay::KeyModes,
    /// Whether the database answers (`runtime::health`).
    pub database: runtime::health::DatabaseHealth,
    /// Directory impressions counted and not yet written (`discovery`).
    pub impressions: discovery::Impressions,
    /// The discovery directory in memory (`discovery`).
    pub directory: discovery::DirectoryCache,
}

/// Wakes the background loops: the outbox's dispatcher and the jobs.
#[derive(Debug, Default)]
pub struct Wake {
    pub(crate) outbox: Notify,
    pub(crate) jobs: Notify,
}

impl Wake {
    /// New work may be due: a notification enqueued, a refund or a
    /// profit-sharing order created, the business clock moved. A wake
    /// that comes while a loop is busy is kept for its next wait.
    pub fn new_work(&self) {
        self.outbox.notify_one();
        self.jobs.notify_one();
    }

    /// A notification was enqueued and nothing else: only the outbox's
    /// dispatcher has work (a payment must not send the jobs looking).
    pub fn delivery(&self) {
        self.outbox.notify_one();
    }
}

impl App {
    /// Opens the application on a migrated store: loads the clock (mode
    /// aware), the platform key (made on first start), the fee schedule
    /// shipped with Koudai and the sandbox token.
    pub async fn open(store: Store, config: AppConfig, rng: Rng, clock: Clock) -> Result<App, Internal> {
        let platform = PlatformKeys::load_or_create(&store, &rng, clock.wall_now()).await?;
        payments::settlement::load_default_schedule(&store, clock.wall_now()).await?;
        let sandbox_token = Secret::new(store.init_meta("sandbox_token", &rng.token(32)).await?);
        let outbound = runtime::outbound::Outbound::new(config.mode)?;
        Ok(App {
            store,
            clock,
            rng,
            platform,
            config,
            sandbox_token,
            wake: Wake::default(),
            outbound,
            deliveries: outbox::DeliveryCounters::default(),
            destinations: outbox::destinations::Destinations::default(),
            key_modes: outbox::pay::KeyModes::default(),
            database: runtime::health::DatabaseHealth::default(),
            impressions: discovery::Impressions::default(),
            directory: discovery::DirectoryCache::default(),
        })
    }

    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// Live mode accepts only https notify URLs.
    pub fn require_https(&self) -> bool {
        self.config.mode == Mode::Live
    }
}
