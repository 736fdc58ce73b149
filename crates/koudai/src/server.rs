//! `koudai serve` as a value: open the database, build the application,
//! bind, serve the router and run the jobs; stop gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use koudai_app::{App, AppConfig, Clock, Mode, Rng};
use koudai_domain::Secret;
use koudai_http::serve::ConnLimits;
use koudai_http::HttpState;
use koudai_store::Store;

/// Where the mode a database is served in is recorded.
const MODE_KEY: &str = "mode";

/// Why a command may not run in the mode asked for.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error(
        "this database is served in live mode; it is never run as a sandbox \
         (no sandbox API or movable clock on real money). Use --mode live."
    )]
    LiveAsSandbox,
    #[error("the recorded mode {0:?} is neither sandbox nor live")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] koudai_store::StoreError),
}

/// The mode to run a command in on `store`: the one asked for, else the one
/// the database was last served in, else sandbox. A database served in live
/// mode is never opened as a sandbox.
pub async fn database_mode(store: &Store, asked: Option<Mode>) -> Result<Mode, ModeError> {
    let recorded = match store.meta(MODE_KEY).await? {
        None => None,
        Some(m) => Some(m.parse::<Mode>().map_err(|_| ModeError::Unknown(m))?),
    };
    match (asked, recorded) {
        (Some(Mode::Sandbox), Some(Mode::Live)) => Err(ModeError::LiveAsSandbox),
        (Some(mode), _) => Ok(mode),
        (None, Some(mode)) => Ok(mode),
        (None, None) => Ok(Mode::Sandbox),
    }
}

/// What `koudai serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// May carry a password: never printed.
    pub database_url: Secret<String>,
    pub mode: Mode,
    /// The base URL clients reach this server at; `http://<listen>` if unset.
    pub public_url: Option<String>,
    /// Whether to create the demo world on first start (sandbox only).
    pub demo: bool,
    /// Base of the bills' `download_url`; the public URL if unset.
    pub bill_download_base: Option<String>,
    /// Connection limits (header-read time, connections at once).
    pub limits: ConnLimits,
    /// Event names of profit-sharing notifications (the sources disagree).
    pub sharing_events: koudai_app::sharing::SharingEventNames,
}

/// Raises the soft limit on open files to the hard limit where the OS
/// allows, so the connection cap (900) is what limits connections, not the
/// common default of 1024 descriptors; logs what it got.
fn raise_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(open_files.limit = limit, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the database (migrating it), loads or creates the platform key
    /// and, in sandbox mode, the demo world; binds, and starts serving and
    /// the jobs.
    pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
        raise_file_limit();
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let store = Store::connect(config.database_url.expose()).await?;
        store.migrate().await?;
        database_mode(&store, Some(config.mode)).await?;
        if store.meta(MODE_KEY).await?.as_deref() != Some(config.mode.as_str()) {
            store.set_meta(MODE_KEY, config.mode.as_str()).await?;
        }
        let clock = Clock::load(&store, config.mode).await?;
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let base_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let base_url = base_url.trim_end_matches('/').to_owned();
        let bill_download_base = config
            .bill_download_base
            .as_deref()
            .map_or_else(|| base_url.clone(), |b| b.trim_end_matches('/').to_owned());
        let app_config =
            AppConfig { mode: config.mode, base_url, bill_download_base, sharing_events: config.sharing_events };
        let app = Arc::new(App::open(store, app_config, Rng::os(), clock).await?);
        if config.mode == Mode::Sandbox && config.demo {
            crate::demo::ensure(&app, &config.data_dir).await?;
        }

        let stop = CancellationToken::new();
        let router = koudai_http::router(HttpState::new(Arc::clone(&app)));
        let http_task = tokio::spawn(koudai_http::serve::serve(listener, router, config.limits, stop.clone()));
        let tasks = vec![http_task, koudai_app::jobs::spawn(Arc::clone(&app), stop.clone())];
        Ok(Server { addr, app, stop, tasks })
    }

    /// Stops accepting requests, lets requests and deliveries in flight
    /// finish, and closes the database.
    pub async fn stop(self) {
        self.stop.cancel();
        self.app.wake.notify_waiters();
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "a task ended abnormally");
            }
        }
        self.app.store.close().await;
    }
}
