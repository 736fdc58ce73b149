//! Helpers for tests and benchmarks: scratch databases, and the schema as
//! each engine reports it. Compiled only with the `testing` feature, which
//! the store's own tests and the `koudai bench` command enable, so that none
//! of this is part of the production API.

use std::collections::BTreeMap;

use sqlx::any::AnyPoolOptions;

use crate::{Backend, Store, StoreError};

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

/// A column as the engine reports it: its name, and whether it takes NULL.
pub type Columns = BTreeMap<String, bool>;

/// Every table of the store's database with its columns, for the test that
/// the two migration sets build the same schema. Types are left out on
/// purpose: they differ by design (`INTEGER` against `BIGINT`).
///
/// A primary-key column counts as `NOT NULL` on SQLite too. PostgreSQL makes
/// it so implicitly; SQLite enforces it only for an `INTEGER PRIMARY KEY`
/// (the row id), but the store never writes NULL into a key.
pub async fn schema(store: &Store) -> Result<BTreeMap<String, Columns>, StoreError> {
    let rows: Vec<(String, String, bool)> = match store.backend {
        Backend::Sqlite => {
            let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT m.name, p.name, p.\"notnull\", p.pk FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&store.pool)
            .await?;
            rows.into_iter().map(|(t, c, not_null, pk)| (t, c, not_null == 0 && pk == 0)).collect()
        }
        Backend::Postgres => {
            // information_schema's own domain types (sql_identifier,
            // yes_or_no) are not decodable through the Any driver: cast.
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), CAST(is_nullable AS TEXT) \
                 FROM information_schema.columns WHERE table_schema = current_schema()",
            )
            .fetch_all(&store.pool)
            .await?;
            rows.into_iter().map(|(t, c, nullable)| (t, c, nullable == "YES")).collect()
        }
    };
    let mut tables: BTreeMap<String, Columns> = BTreeMap::new();
    for (table, column, nullable) in rows {
        tables.entry(table).or_default().insert(column, nullable);
    }
    Ok(tables)
}

/// Every text a table's `columns` hold, row by row (NULLs skipped): what a
/// test reads to show that a secret is not stored in plain text.
pub async fn raw_texts(store: &Store, table: &str, columns: &[&str]) -> Result<Vec<String>, StoreError> {
    use sqlx::Row as _;
    let sql = format!("SELECT {} FROM {table}", columns.join(", "));
    let rows = sqlx::query(&sql).fetch_all(&store.pool).await?;
    let mut out = Vec::new();
    for row in rows {
        for i in 0..columns.len() {
            if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                out.push(text);
            }
        }
    }
    Ok(out)
}

/// Runs one statement as is: what a test uses to leave the state a crash
/// between two transactions would leave. Answers the rows it touched.
pub async fn execute(store: &Store, sql: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(sql).execute(&store.pool).await?.rows_affected())
}
