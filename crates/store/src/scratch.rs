//! Scratch databases: a fresh PostgreSQL database or SQLite file that
//! nothing else shares, made and dropped by name. Used by the tests (through
//! `testing`) and by `koudai bench`, which ships in the binary, so this is
//! compiled always; it touches only databases whose names it made.

use sqlx::any::AnyPoolOptions;

use crate::StoreError;

/// Creates a fresh, empty PostgreSQL database on the server of `admin_url`
/// and returns its URL; for tests and benchmarks that must not share state.
///
/// The name carries the test run's id from `KOUDAI_TEST_RUN` (`manual`
/// without one): `scripts/test` drops exactly the databases of its own run
/// when it ends, and those of runs older than a day.
// The clock only makes the name unique; it is not a time of business.
#[allow(clippy::disallowed_methods)]
pub async fn scratch_postgres_database(admin_url: &str, prefix: &str) -> Result<String, StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    sqlx::any::install_default_drivers();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name =
        format!("{prefix}_{}_{}_{}_{}", test_run(), std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
    let pool = AnyPoolOptions::new().max_connections(1).connect(admin_url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&pool).await?;
    pool.close().await;
    let base = match admin_url.rfind('/') {
        Some(i) if i > admin_url.find("://").map_or(0, |s| s + 2) => admin_url.get(..i).unwrap_or(admin_url),
        _ => admin_url,
    };
    Ok(format!("{base}/{name}"))
}

/// The test run's id, if it is a plain lower-case identifier (it becomes part
/// of an unquoted database name); otherwise `r<unix seconds>xmanual`, which
/// `scripts/test` drops once it is a day old.
// The clock only dates a name for clean-up; it is not a time of business.
#[allow(clippy::disallowed_methods)]
fn test_run() -> String {
    match std::env::var("KOUDAI_TEST_RUN") {
        Ok(run) if !run.is_empty() && run.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) => run,
        _ => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            format!("r{now}xmanual")
        }
    }
}

/// Drops a database made by [`scratch_postgres_database`] (its URL), from
/// the server at `admin_url`.
pub async fn drop_postgres_database(admin_url: &str, url: &str) -> Result<(), StoreError> {
    let name = url.rsplit('/').next().and_then(|n| n.split('?').next()).unwrap_or("");
    if !name.starts_with("koudai") || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::Other(format!("not a scratch database: {name:?}")));
    }
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(admin_url).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

/// Creates a SQLite database URL in a fresh directory under the system
/// temporary directory; for tests and benchmarks.
pub fn scratch_sqlite_url(prefix: &str) -> Result<String, StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(format!("sqlite://{}?mode=rwc", dir.join("koudai.db").display()))
}
