//! Koudai's persistence: one [`Store`] whose methods are business verbs
//! (`create_order`, `pay_order`, `claim_due_notifications`), over SQLite (the
//! embedded default) or PostgreSQL (production).
//!
//! Both backends run the same SQL through sqlx's `Any` driver: the dialects
//! agree on `$n` parameters, `RETURNING` and `ON CONFLICT`, and where they do
//! not (row locks, how a write transaction starts, DDL types) the difference
//! sits in one small function of [`Backend`]. Every money movement is one
//! database transaction together with the state change that causes it and,
//! where a merchant must hear of it, the outbox row of its notification.
//!
//! Transactions are opened only by [`Store::write`] and [`Store::read`]: on
//! SQLite a transaction that begins as a reader and later writes fails with
//! `SQLITE_BUSY_SNAPSHOT`, so whether it may write is fixed by its type
//! (`src/tx.rs` explains). The writes a use case may need to compose into one
//! commit are functions over a [`WriteTx`]: [`ledger::post`],
//! [`notifications::enqueue`] (every channel of the outbox),
//! [`parties::insert_merchant_certificate`], the third-party platform's
//! steps in [`component`], and [`shop_orders::mark_paid`], the step a shop
//! purchase hands [`Store::pay_order`]:
//!
//! ```text
//! let mut tx = store.write().await?;
//! koudai_store::ledger::post(&mut tx, &entry, reference, None, now).await?;
//! koudai_store::notifications::enqueue(&mut tx, &notification).await?;
//! tx.commit().await?; // or drop `tx`: nothing of either is kept
//! ```
//!
//! The store makes no business decisions beyond enforcing them atomically:
//! state transitions come from `koudai_domain::trade`, balances are kept by
//! the ledger rule of `koudai_domain::ledger`, and a payment's charge (fee
//! rule, fee, settlement day) is decided by the caller and only checked to
//! be still the merchant's rule.
//!
//! Records live beside the verbs that read and write them, one file per
//! aggregate (`orders`, `notifications`, `parties`, `pois`, …), and are
//! re-exported here by name. Times are Unix seconds: business time for
//! orders and notifications, wall time for sessions and leases.

mod bills;
pub mod component;
mod discovery;
mod eligibility;
mod error;
pub mod ledger;
mod migrate;
mod money;
mod mp;
pub mod notifications;
mod onboarding;
mod orders;
pub mod parties;
mod pois;
mod providers;
mod refunds;
pub mod scratch;
mod sharing;
mod shop;
pub mod shop_orders;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use bills::{DayTotals, FlowLine, NewBill, RefundLine, StoredBill, TradeLine, TradeScope};
pub use component::{Authorization, AuthorizerToken, Component, ComponentCode, Issued};
pub use discovery::{Click, Conversion, DiscoveryVersion, RankFacts, Shown, TrafficLine};
pub use eligibility::{CapabilityChange, CapabilityRow, PublishedRules, Violation};
pub use error::StoreError;
pub use ledger::PostError;
pub use money::{Payout, PayoutStatus, Settled, Standing};
pub use mp::{ChatLine, MpAccount, MpMenu, MpToken, OauthCode, QrCode, UserToken};
pub use notifications::{AfterAttempt, Attempt, NewNotification, Notification, NotificationStatus};
pub use onboarding::{
    ApplymentLogEntry, ApplymentRecord, ApprovedMerchant, AuditTiming, DueColumn, Media, NewApplyment, Submitted,
    Transition,
};
pub use orders::{
    CloseError, CreateOutcome, NewOrderRecord, Order, OrderLocator, PayCommand, PayError, PayOutcome, StepFuture,
    TxStep,
};
pub use parties::{
    Consumer, KeyMode, Merchant, MerchantCertificate, NewMerchant, PlatformKeyRecord, Session, SessionRealm,
};
pub use pois::{PoiRow, PoiSales};
pub use providers::{
    Balances, ConsoleRole, ConsoleUser, LeagueRow, LogFilter, NewPrivilegeRecord, PrivilegeRecord, Provider,
    RefusalRecord,
};
pub use refunds::{Refund, RefundCreated, RefundError, RefundNotifier, RefundRequest, RefundTarget};
pub use sharing::{
    Asked, Receiver, ReturnRequest, ShareLine, ShareNotifier, SharingError, SharingOrder, SharingRequest,
    SharingResult, SharingReturn, SharingView,
};
pub use shop::{NewSku, ProductRow, ShelfRow, ShopImage, ShopThing, SkuRow, StockChange};
pub use shop_orders::{Reservation, ShopMove, ShopOrder};
pub use tx::{ReadTx, WriteTx};

/// A boolean stored as an integer (0 or 1) on both engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flag(pub bool);

impl TryFrom<i64> for Flag {
    type Error = koudai_domain::text::UnknownValue;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        match v {
            0 => Ok(Flag(false)),
            1 => Ok(Flag(true)),
            other => Err(koudai_domain::text::UnknownValue::new("flag", other.to_string())),
        }
    }
}

/// Connections to SQLite: one writer at a time anyway, a few readers.
const SQLITE_POOL: u32 = 4;
/// Connections to PostgreSQL per node.
const POSTGRES_POOL: u32 = 16;
/// How long a request waits for a SQLite connection before "unavailable":
/// the file is local, so a wait is a queue behind other work, never an
/// outage.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a PostgreSQL connection, connecting
/// included, before "unavailable": a server that restarts or cannot be
/// reached must cost a request seconds, not its whole deadline.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where merchants' sandbox tokens are kept in `meta`.
const SANDBOX_TOKEN_PREFIX: &str = "sandbox_token:";

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Appended to a `SELECT` that must lock the rows it reads until the
    /// transaction ends. SQLite needs none: its write transactions start
    /// with `BEGIN IMMEDIATE` and so already exclude every other writer.
    fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Like [`Backend::for_update`], but rows locked by someone else are
    /// skipped: how workers on several nodes share a queue.
    fn for_update_skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// See [`Store::probe`].
pub struct Probe {
    options: std::sync::Arc<AnyConnectOptions>,
    conn: Option<sqlx::AnyConnection>,
}

impl Probe {
    /// Connects if need be and pings. A failure drops the connection; the
    /// next ping makes a new one. A caller that gives up waiting calls
    /// [`Probe::forget`].
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        use sqlx::{ConnectOptions as _, Connection as _};
        let result = async {
            if self.conn.is_none() {
                self.conn = Some(self.options.connect().await?);
            }
            match self.conn.as_mut() {
                Some(conn) => conn.ping().await,
                None => Ok(()),
            }
        }
        .await;
        if result.is_err() {
            self.conn = None;
        }
        result.map_err(StoreError::from)
    }

    /// Drops the connection (a ping on it never came back).
    pub fn forget(&mut self) {
        self.conn = None;
    }
}

/// The database, and the connection pool to it.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Parsed fee schedules by version. A loaded version never changes, so
    /// every node can keep what it parsed; only the version in force is
    /// looked up per payment.
    schedules: std::sync::Arc<
        std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<koudai_domain::fees::FeeSchedule>>>,
    >,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `postgres://…` or `sqlite://…` (a SQLite file is created
    /// if missing). Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::open(url, false).await
    }

    /// Connects for reading only (`ledger verify`, `ledger positions`):
    /// SQLite is opened `mode=ro` (a missing file is an error, not created,
    /// and the journal mode is left alone), PostgreSQL sessions are
    /// `default_transaction_read_only`. Nothing can be written through it.
    pub async fn connect_read_only(url: &str) -> Result<Store, StoreError> {
        Store::open(&read_only_url(url), true).await
    }

    async fn open(url: &str, read_only: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Other(format!(
                "unsupported database URL scheme (expected postgres:// or sqlite://): {}",
                redact(url)
            )));
        };
        let options = AnyConnectOptions::from_str(url).map_err(StoreError::from)?;
        let pool = match backend {
            // One writer at a time is SQLite's model; WAL lets readers run
            // beside it. busy_timeout makes a second connection wait for the
            // write lock instead of failing at once.
            Backend::Sqlite => {
                // A read-only open cannot switch the journal mode, and needs not.
                AnyPoolOptions::new()
                    .max_connections(SQLITE_POOL)
                    .acquire_timeout(SQLITE_ACQUIRE_TIMEOUT)
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            if !read_only {
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                            }
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(POSTGRES_POOL)
                    .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            if read_only {
                                conn.execute("SET default_transaction_read_only = on").await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Store { pool, backend, schedules: Default::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How this node reaches its database, for the start-up log and for
    /// operators checking `sslmode`: `"tls"` or `"plain"` on PostgreSQL (as
    /// the server sees this connection), `"local file"` on SQLite.
    pub async fn transport(&self) -> Result<&'static str, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok("local file");
        }
        let ssl: Option<String> =
            sqlx::query_scalar("SELECT CAST(ssl AS TEXT) FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_optional(&self.pool)
                .await?;
        Ok(if ssl.as_deref() == Some("true") { "tls" } else { "plain" })
    }

    /// Applies the migrations this binary knows and the database lacks.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(&self.pool, self.backend).await
    }

    /// Whether every migration this binary knows has been applied, without
    /// changing anything (for read-only commands).
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        let exists: i64 = sqlx::query_scalar(match self.backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' AND table_schema = current_schema()"
            }
        })
        .fetch_one(&self.pool)
        .await?;
        if exists == 0 {
            return Ok(false);
        }
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations").fetch_one(&self.pool).await?;
        Ok(applied >= migrate::known())
    }

    /// Marks an applied migration as edited (tests of the checksum check).
    #[doc(hidden)]
    pub async fn tamper_with_migration(&self, version: i64) -> Result<(), StoreError> {
        migrate::tamper(&self.pool, version).await
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Connections the pool may open at most (each is a file descriptor,
    /// three on SQLite: the database, its WAL and its shared memory).
    pub fn pool_size(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// A probe of whether the database answers, on a connection of its own
    /// (outside the pool, so a pool busy with work never reads as an
    /// outage).
    pub fn probe(&self) -> Probe {
        Probe { options: self.pool.connect_options(), conn: None }
    }

    /// Starts a transaction that may write: the only way the store opens
    /// one (see [`WriteTx`] for why).
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        WriteTx::begin(&self.pool, self.backend).await
    }

    /// Starts a transaction that only reads (see [`ReadTx`]).
    pub async fn read(&self) -> Result<ReadTx, StoreError> {
        ReadTx::begin(&self.pool, self.backend).await
    }

    /// A value of the `meta` table.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Sets a value of the `meta` table.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets a `meta` value only if it is not set yet, and returns the value
    /// that holds afterwards (another node's, if it was first).
    pub async fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        self.meta(key).await?.ok_or(StoreError::NotFound)
    }

    /// The sandbox token of merchant `mchid`, made from `fresh` the first
    /// time it is asked for.
    pub async fn merchant_sandbox_token(&self, mchid: &str, fresh: &str) -> Result<String, StoreError> {
        self.init_meta(&format!("{SANDBOX_TOKEN_PREFIX}{mchid}"), fresh).await
    }

    /// The merchant whose sandbox token `token` is, if any.
    pub async fn merchant_of_sandbox_token(&self, token: &str) -> Result<Option<String>, StoreError> {
        let key: Option<String> = sqlx::query_scalar("SELECT key FROM meta WHERE value = $1 AND key LIKE $2")
            .bind(token)
            .bind(format!("{SANDBOX_TOKEN_PREFIX}%"))
            .fetch_optional(&self.pool)
            .await?;
        Ok(key.and_then(|k| k.strip_prefix(SANDBOX_TOKEN_PREFIX).map(str::to_owned)))
    }

    /// Adds `delta_s` to an integer `meta` value atomically and returns the
    /// new value (the sandbox business-clock offset).
    pub async fn add_to_meta(&self, key: &str, delta_s: i64) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let current: Option<String> = sqlx::query_scalar(&tx.lock("SELECT value FROM meta WHERE key = $1"))
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let value = current
            .map(|v| v.parse::<i64>().map_err(|_| StoreError::Other(format!("meta {key} is not an integer"))))
            .transpose()?
            .unwrap_or(0)
            .checked_add(delta_s)
            .ok_or_else(|| StoreError::Other("overflow".into()))?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(value)
    }
}

/// A database URL with any password replaced by `***`, for messages.
/// `url` with SQLite's `mode` parameter set to `ro`; other URLs unchanged.
fn read_only_url(url: &str) -> String {
    if !url.starts_with("sqlite:") {
        return url.to_owned();
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("mode=")).collect();
    params.push("mode=ro");
    format!("{base}?{}", params.join("&"))
}

pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = url.get(scheme_end + 3..at).unwrap_or("");
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    url.get(..scheme_end + 3).unwrap_or(""),
                    userinfo.get(..colon).unwrap_or(""),
                    url.get(at..).unwrap_or("")
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Every source file of this crate, `(name, text)`, for the tests that
/// guard the SQL (so a new file cannot be left out of them).
#[cfg(test)]
pub(crate) fn crate_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), text));
            }
        }
    }
    assert!(out.len() >= 20, "the store's sources were not found");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_only_urls() {
        assert_eq!(super::read_only_url("sqlite:///d/k.db?mode=rwc"), "sqlite:///d/k.db?mode=ro");
        assert_eq!(super::read_only_url("sqlite:///d/k.db"), "sqlite:///d/k.db?mode=ro");
        assert_eq!(super::read_only_url("sqlite://k.db?cache=shared&mode=rw"), "sqlite://k.db?cache=shared&mode=ro");
        assert_eq!(super::read_only_url("postgres://h/db?sslmode=require"), "postgres://h/db?sslmode=require");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
