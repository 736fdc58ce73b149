//! Embedded migrations, one folder per dialect, applied in order and recorded
//! in `schema_migrations`. Each runs in its own transaction. A checksum of
//! each applied migration's SQL is kept in `schema_migration_checksums`; a
//! migration edited after it was applied is refused, not silently ignored.

use sqlx::AnyPool;

use crate::{Backend, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "money",
        sqlite: include_str!("../migrations/sqlite/0002_money.sql"),
        postgres: include_str!("../migrations/postgres/0002_money.sql"),
    },
    Migration {
        version: 3,
        name: "nonces",
        sqlite: include_str!("../migrations/sqlite/0003_nonces.sql"),
        postgres: include_str!("../migrations/postgres/0003_nonces.sql"),
    },
    Migration {
        version: 4,
        name: "providers",
        sqlite: include_str!("../migrations/sqlite/0004_providers.sql"),
        postgres: include_str!("../migrations/postgres/0004_providers.sql"),
    },
    Migration {
        version: 5,
        name: "onboarding",
        sqlite: include_str!("../migrations/sqlite/0005_onboarding.sql"),
        postgres: include_str!("../migrations/postgres/0005_onboarding.sql"),
    },
    Migration {
        version: 6,
        name: "mp",
        sqlite: include_str!("../migrations/sqlite/0006_mp.sql"),
        postgres: include_str!("../migrations/postgres/0006_mp.sql"),
    },
    Migration {
        version: 7,
        name: "component",
        sqlite: include_str!("../migrations/sqlite/0007_component.sql"),
        postgres: include_str!("../migrations/postgres/0007_component.sql"),
    },
    Migration {
        version: 8,
        name: "merchant_console",
        sqlite: include_str!("../migrations/sqlite/0008_merchant_console.sql"),
        postgres: include_str!("../migrations/postgres/0008_merchant_console.sql"),
    },
    Migration {
        version: 9,
        name: "eligibility",
        sqlite: include_str!("../migrations/sqlite/0009_eligibility.sql"),
        postgres: include_str!("../migrations/postgres/0009_eligibility.sql"),
    },
    Migration {
        version: 10,
        name: "shop",
        sqlite: include_str!("../migrations/sqlite/0010_shop.sql"),
        postgres: include_str!("../migrations/postgres/0010_shop.sql"),
    },
    Migration {
        version: 11,
        name: "shop_orders",
        sqlite: include_str!("../migrations/sqlite/0011_shop_orders.sql"),
        postgres: include_str!("../migrations/postgres/0011_shop_orders.sql"),
    },
    Migration {
        version: 12,
        name: "qrcodes",
        sqlite: include_str!("../migrations/sqlite/0012_qrcodes.sql"),
        postgres: include_str!("../migrations/postgres/0012_qrcodes.sql"),
    },
    Migration {
        version: 13,
        name: "stores",
        sqlite: include_str!("../migrations/sqlite/0013_stores.sql"),
        postgres: include_str!("../migrations/postgres/0013_stores.sql"),
    },
    Migration {
        version: 14,
        name: "storepay_discovery",
        sqlite: include_str!("../migrations/sqlite/0014_storepay_discovery.sql"),
        postgres: include_str!("../migrations/postgres/0014_storepay_discovery.sql"),
    },
    Migration {
        version: 15,
        name: "discovery_generation",
        sqlite: include_str!("../migrations/sqlite/0015_discovery_generation.sql"),
        postgres: include_str!("../migrations/postgres/0015_discovery_generation.sql"),
    },
];

/// FNV-1a over the SQL text, as 16 hex digits. It detects edits, which is
/// all it is for; nobody forges a migration to collide with another.
fn checksum(sql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn sql_of(m: &Migration, backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => m.sqlite,
        Backend::Postgres => m.postgres,
    }
}

/// How many migrations this binary knows.
pub(crate) fn known() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// The PostgreSQL advisory lock that serialises migrations across nodes
/// (any fixed number; this one spells "koudai" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b6f_7564_6169;

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    // Everything on one connection: on PostgreSQL it holds a session-level
    // advisory lock from before the bookkeeping tables are created until the
    // last migration is in, so nodes starting at once on a fresh database
    // take turns instead of racing on the catalog. On SQLite the file's
    // own write lock serialises them.
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT CAST(1 AS BIGINT) FROM (SELECT pg_advisory_lock($1)) AS locked")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, backend).await;
    if backend == Backend::Postgres {
        let unlocked = sqlx::query("SELECT CAST(1 AS BIGINT) FROM (SELECT pg_advisory_unlock($1)) AS unlocked")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            // Never hand a connection that may still hold the lock back to
            // the pool: closing it releases the lock.
            conn.detach();
        }
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migration_checksums (version BIGINT PRIMARY KEY, checksum TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    for m in MIGRATIONS {
        let mut tx = conn.begin().await?;
        let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?;
        let sql = sql_of(m, backend);
        let sum = checksum(sql);
        if done.is_some() {
            let recorded: Option<String> =
                sqlx::query_scalar("SELECT checksum FROM schema_migration_checksums WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *tx)
                    .await?;
            match recorded {
                Some(r) if r != sum => {
                    return Err(StoreError::Other(format!(
                        "migration {} ({}) was edited after it was applied (checksum {r}, now {sum}); \
                         write a new migration instead",
                        m.version, m.name
                    )));
                }
                Some(_) => tx.rollback().await?,
                None => {
                    // Applied before checksums were kept: record it now.
                    record_checksum(&mut tx, m.version, &sum).await?;
                    tx.commit().await?;
                }
            }
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await?;
        record_checksum(&mut tx, m.version, &sum).await?;
        tx.commit().await?;
        tracing::info!(migration.version = m.version, migration.name = m.name, "applied migration");
    }
    Ok(())
}

async fn record_checksum(tx: &mut sqlx::Transaction<'_, sqlx::Any>, version: i64, sum: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO schema_migration_checksums (version, checksum) VALUES ($1, $2)")
        .bind(version)
        .bind(sum)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Pretends the SQL of applied migration `version` was different (tests of
/// the edit check only).
#[doc(hidden)]
pub(crate) async fn tamper(pool: &AnyPool, version: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE schema_migration_checksums SET checksum = $1 WHERE version = $2")
        .bind("0000000000000000")
        .bind(version)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_see_any_edit() {
        assert_eq!(checksum(""), "cbf29ce484222325");
        assert_ne!(checksum("CREATE TABLE a (x INTEGER);"), checksum("CREATE TABLE a (x BIGINT);"));
    }

    #[test]
    fn aggregates_are_cast_for_postgres() {
        // sqlx's Any driver cannot decode PostgreSQL NUMERIC, which is what
        // SUM and AVG of BIGINT return there: every aggregate must be CAST.
        // Every file of the crate, so a new one cannot be forgotten.
        let sources: Vec<String> = crate::crate_sources().into_iter().map(|(_, text)| text).collect();
        for src in &sources {
            for (i, _) in src.match_indices("SUM(").chain(src.match_indices("AVG(")) {
                // This test's own needles.
                if src[..i].ends_with('"') {
                    continue;
                }
                // The select-list item the aggregate is in: from the last
                // comma (or the line's start) to the aggregate.
                let line = src.get(..i).and_then(|b| b.rsplit('\n').next()).unwrap_or("");
                let item = line.rsplit(',').next().unwrap_or(line);
                assert!(
                    item.contains("CAST(") || line.contains("HAVING"),
                    "an aggregate without CAST: …{}…",
                    src.get(i..i + 40).unwrap_or("")
                );
            }
        }
    }

    /// The two dialects' migrations are the same SQL once comments, spacing
    /// and the three type names that differ (`BIGINT`/`BIGSERIAL`/`BYTEA`
    /// against `INTEGER`/`BLOB`) are set aside, except the two that must
    /// differ: `0003` (an `UNLOGGED` table on PostgreSQL), `0008` (a
    /// table rebuild on SQLite where PostgreSQL alters) and `0015` (row
    /// triggers on SQLite, a trigger function on PostgreSQL). So a change made to
    /// one engine's file and forgotten in the other's fails here, not in
    /// production.
    #[test]
    fn the_two_dialects_differ_only_where_they_must() {
        fn normalised(sql: &str) -> String {
            let code: Vec<&str> = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect();
            let code =
                code.join("\n").replace("BIGSERIAL", "INTEGER").replace("BIGINT", "INTEGER").replace("BYTEA", "BLOB");
            code.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut names: Vec<String> = std::fs::read_dir(dir.join("sqlite"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.len() >= 14, "{names:?}");
        for name in names {
            let sqlite = std::fs::read_to_string(dir.join("sqlite").join(&name)).unwrap();
            let postgres = std::fs::read_to_string(dir.join("postgres").join(&name))
                .unwrap_or_else(|e| panic!("{name} has no PostgreSQL twin: {e}"));
            let same = normalised(&sqlite) == normalised(&postgres);
            let must_differ = ["0003_", "0008_", "0015_"].iter().any(|p| name.starts_with(p));
            assert_eq!(same, !must_differ, "{name}: the dialects {}", if same { "agree" } else { "differ" });
        }
    }
}
