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
use koudai_store::{Backend, Store};

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
    pub sharing_events: koudai_app::payments::sharing::SharingEventNames,
}

/// Where the master key comes from when `KOUDAI_MASTER_KEY` is unset.
const MASTER_KEY_FILE: &str = "master.key";
/// `meta` key of the master key's fingerprint.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// The key that seals sensitive data at rest: `KOUDAI_MASTER_KEY` (base64
/// of 32 bytes), or `<data dir>/master.key` (made on first start, owner
/// only). Never stored in the database; the database keeps only a keyed
/// fingerprint, so a node started with another key refuses to start rather
/// than fail on the first sealed value.
async fn load_master_key(data_dir: &std::path::Path, store: &Store) -> anyhow::Result<Secret<[u8; 32]>> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let (key, source) = match std::env::var("KOUDAI_MASTER_KEY") {
        Ok(text) => {
            let bytes = engine.decode(text.trim()).context("KOUDAI_MASTER_KEY is not base64")?;
            let key: [u8; 32] =
                bytes.try_into().map_err(|_| anyhow::anyhow!("KOUDAI_MASTER_KEY must be 32 bytes (base64)"))?;
            (key, "KOUDAI_MASTER_KEY".to_owned())
        }
        Err(_) => {
            let path = data_dir.join(MASTER_KEY_FILE);
            if !path.exists() {
                let mut key = [0u8; 32];
                koudai_protocol::crypto::fill_random(&mut key);
                write_owner_only(&path, &engine.encode(key))?;
                tracing::info!(path = %path.display(), "made a master key for data at rest: back it up");
            }
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let bytes = engine.decode(text.trim()).with_context(|| format!("{} is not base64", path.display()))?;
            let key: [u8; 32] =
                bytes.try_into().map_err(|_| anyhow::anyhow!("{} must hold 32 bytes (base64)", path.display()))?;
            (key, path.display().to_string())
        }
    };
    let check = koudai_protocol::envelope::keyed_digest(&key, b"koudai master key check");
    let stored = store.init_meta(MASTER_KEY_CHECK, &check).await?;
    anyhow::ensure!(
        stored == check,
        "the master key from {source} is not the one this database's sensitive data is sealed with; \
         give every node the same key (KOUDAI_MASTER_KEY)"
    );
    Ok(Secret::new(key))
}

fn write_owner_only(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// Raises the soft limit on open files to the hard limit where the OS
/// allows and returns the limit in force (`None` if it cannot be read).
fn raise_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the file descriptor limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
        }
    }
}

/// Descriptors kept for everything but client connections: the standard
/// streams, the listener, the runtime, logs and files (32); the database
/// (PostgreSQL: the pool and the watchdog's probe; SQLite: each pooled
/// connection's database, WAL and shared-memory files); the outbox's sends
/// in flight and the other outbound calls (account handshakes, OAuth); and
/// the connections over the cap, which are answered and closed.
fn reserved_descriptors(backend: Backend, pool_size: u32) -> u64 {
    let per_connection = match backend {
        Backend::Postgres => 1,
        Backend::Sqlite => 3,
    };
    let database = u64::from(pool_size) * per_connection + 1;
    let outbound = koudai_app::outbox::MAX_IN_FLIGHT as u64 + 16;
    32 + database + outbound + koudai_http::serve::OVERFLOW as u64
}

/// The fewest client connections worth serving.
const MIN_CONNECTIONS: u64 = 8;

/// The connection cap: what was asked (`--max-connections`), lowered to
/// what the descriptor limit leaves after the reserve.
fn connection_cap(asked: usize, descriptors: Option<u64>, reserve: u64) -> anyhow::Result<usize> {
    let Some(limit) = descriptors else { return Ok(asked) };
    let room = limit.saturating_sub(reserve);
    anyhow::ensure!(
        room >= MIN_CONNECTIONS,
        "the file descriptor limit ({limit}) leaves room for {room} client connections after the {reserve} \
         kept for the database, callbacks and files; raise it to at least {} (ulimit -n)",
        reserve + 64
    );
    Ok(asked.min(usize::try_from(room).unwrap_or(usize::MAX)))
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
        let descriptors = raise_file_limit();
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
        let master_key = load_master_key(&config.data_dir, &store).await?;
        let app_config = AppConfig {
            mode: config.mode,
            base_url,
            bill_download_base,
            sharing_events: config.sharing_events,
            master_key,
        };
        let app = Arc::new(App::open(store, app_config, Rng::os(), clock).await?);
        if config.mode == Mode::Sandbox && config.demo {
            crate::demo::ensure(&app, &config.data_dir).await?;
        }

        let stop = CancellationToken::new();
        let router = koudai_http::router(HttpState::new(Arc::clone(&app)));
        let reserve = reserved_descriptors(app.store.backend(), app.store.pool_size());
        let max_connections = connection_cap(config.limits.max_connections, descriptors, reserve)?;
        tracing::info!(
            open_files.limit = descriptors,
            connections.max = max_connections,
            connections.asked = config.limits.max_connections,
            "descriptor budget"
        );
        let limits = ConnLimits { max_connections, ..config.limits };
        let http_task = tokio::spawn(koudai_http::serve::serve(listener, router, limits, stop.clone()));
        let tasks = vec![
            http_task,
            koudai_app::jobs::spawn(Arc::clone(&app), stop.clone()),
            tokio::spawn(koudai_app::outbox::run(Arc::clone(&app), stop.clone())),
            tokio::spawn(koudai_app::runtime::health::watch(Arc::clone(&app), stop.clone())),
        ];
        Ok(Server { addr, app, stop, tasks })
    }

    /// Stops accepting requests, lets requests and deliveries in flight
    /// finish, and closes the database.
    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "a task ended abnormally");
            }
        }
        self.app.store.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_what_the_descriptors_leave_and_the_flag_only_lowers_it() {
        let reserve = reserved_descriptors(Backend::Sqlite, 4);
        assert_eq!(connection_cap(900, Some(1_048_576), reserve).ok(), Some(900));
        assert_eq!(connection_cap(900, Some(1024), reserve).ok(), Some(1024 - reserve as usize));
        assert_eq!(connection_cap(50, Some(1024), reserve).ok(), Some(50));
        assert_eq!(connection_cap(900, None, reserve).ok(), Some(900));
        assert!(connection_cap(900, Some(reserve + 4), reserve).is_err(), "too few to serve");
        assert!(reserved_descriptors(Backend::Postgres, 16) > koudai_app::outbox::MAX_IN_FLIGHT as u64 + 16);
    }
}
