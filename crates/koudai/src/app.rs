//! Assembling the server: state, routes, workers, graceful shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use axum::Router;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use koudai_protocol::PublicKey;
use koudai_store::{Merchant, Store};

use crate::clock::Clock;
use crate::platform::PlatformKeys;

/// Whether the sandbox is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Demo world, sandbox API, movable business clock, http notify URLs.
    Sandbox,
    /// No demo data, no sandbox API, business clock = wall clock, https only.
    Live,
}

/// What `koudai serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: String,
    pub mode: Mode,
    /// The base URL clients reach this server at; `http://<listen>` if unset.
    pub public_url: Option<String>,
    /// Whether to create the demo world on first start (sandbox only).
    pub demo: bool,
    /// Base of the bills' `download_url`; the public URL if unset.
    pub bill_download_base: Option<String>,
}

/// A merchant certificate as cached for request verification.
#[derive(Debug, Clone)]
pub struct CachedMerchantKey {
    pub merchant: Merchant,
    pub public_key: PublicKey,
}

/// Shared state of the server and its workers.
pub struct AppState {
    pub store: Store,
    pub clock: Clock,
    pub mode: Mode,
    pub platform: PlatformKeys,
    pub base_url: String,
    /// Base of bill `download_url`s (an SDK strips its own base from them).
    pub bill_download_base: String,
    pub sandbox_token: String,
    /// Wakes the delivery worker when a notification is enqueued or the
    /// business clock moves.
    pub wake_worker: Notify,
    /// Merchant certificates by `(mchid, SERIAL)`; entries are only added
    /// (certificates are never edited, rotation adds a serial).
    pub merchant_keys: RwLock<HashMap<(String, String), CachedMerchantKey>>,
    /// `(mchid, nonce)` → wall time after which the nonce may be forgotten.
    pub nonces: Mutex<HashMap<(String, String), i64>>,
    pub http: reqwest::Client,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn require_https(&self) -> bool {
        self.mode == Mode::Live
    }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: SharedState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the database (migrating it), loads or creates the platform key
    /// and, in sandbox mode, the demo world; binds, and starts serving and
    /// the workers.
    pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        let clock = Clock::load(&store).await?;
        let platform = PlatformKeys::load_or_create(&store, clock.wall_now()).await?;
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let base_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let base_url = base_url.trim_end_matches('/').to_owned();
        let bill_download_base = config
            .bill_download_base
            .clone()
            .map(|b| b.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| base_url.clone());
        crate::money::load_default_schedule(&store, clock.wall_now()).await?;
        let sandbox_token = store.init_meta("sandbox_token", &crate::demo::random_token(32)).await?;
        let http =
            reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).user_agent("Mozilla/4.0").build()?;
        let state = Arc::new(AppState {
            store,
            clock,
            mode: config.mode,
            platform,
            base_url,
            bill_download_base,
            sandbox_token,
            wake_worker: Notify::new(),
            merchant_keys: RwLock::new(HashMap::new()),
            nonces: Mutex::new(HashMap::new()),
            http,
        });
        if config.mode == Mode::Sandbox && config.demo {
            crate::demo::ensure(&state, &config.data_dir).await?;
        }

        let (shutdown, shutdown_rx) = watch::channel(false);
        let router = router(Arc::clone(&state));
        let mut rx = shutdown_rx.clone();
        let http_task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "http server failed");
            }
        });
        let tasks = vec![http_task, crate::worker::spawn(Arc::clone(&state), shutdown_rx)];
        Ok(Server { addr, state, shutdown, tasks })
    }

    /// Stops accepting requests, lets requests and deliveries in flight
    /// finish, and closes the database.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.state.wake_worker.notify_waiters();
        for t in self.tasks {
            let _ = t.await;
        }
        self.state.store.close().await;
    }
}

/// Every route of the server.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .merge(crate::api::routes(Arc::clone(&state)))
        .merge(crate::cashier::routes())
        .merge(crate::sandbox::routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(crate::api::not_found)
        .with_state(state)
}
