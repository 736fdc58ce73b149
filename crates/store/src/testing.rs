//! Helpers for tests: the schema as each engine reports it, raw reads and
//! statements, and (re-exported) the scratch databases. Compiled only with
//! the `testing` feature, which the store's own tests and the testkit
//! enable, so that none of this is part of the production API.

use std::collections::BTreeMap;

pub use crate::scratch::{drop_postgres_database, scratch_postgres_database, scratch_sqlite_url};
use crate::{Backend, Store, StoreError};

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
