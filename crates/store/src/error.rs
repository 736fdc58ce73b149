//! The store's error type: what callers can act on, and nothing of the SQL.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint refused the write; the name says which.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The database cannot be reached or is overloaded; retrying may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupted data.
    #[error("database error: {0}")]
    Other(String),
}

/// A stored status or kind that no enum value names: corrupted data, or a
/// value written by a newer binary.
impl From<koudai_domain::trade::UnknownValue> for StoreError {
    fn from(e: koudai_domain::trade::UnknownValue) -> Self {
        StoreError::Other(e.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned()))
            }
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if is_load(&code) {
                    StoreError::Unavailable(db.message().to_owned())
                } else {
                    StoreError::Other(db.message().to_owned())
                }
            }
            other => StoreError::Other(other.to_string()),
        }
    }
}

/// PostgreSQL SQLSTATEs that mean load, not a bug: serialization failure,
/// deadlock, too many connections, and a server still starting up.
const POSTGRES_LOAD: [&str; 4] = ["40001", "40P01", "53300", "57P03"];

/// Whether a database error code means "busy, try again" rather than a bug.
///
/// PostgreSQL reports a SQLSTATE: always five characters. sqlx-sqlite reports
/// SQLite's *extended* result code as a decimal number (at most four digits),
/// whose low byte is the primary code: `SQLITE_BUSY` (5) and `SQLITE_LOCKED`
/// (6) come as 5, 6, 261 (`BUSY_RECOVERY`), 517 (`BUSY_SNAPSHOT`), 773
/// (`BUSY_TIMEOUT`), 262 (`LOCKED_SHAREDCACHE`), 518 (`LOCKED_VTAB`) and so
/// on, all of which mean another connection holds the lock.
pub(crate) fn is_load(code: &str) -> bool {
    if code.len() == 5 {
        return POSTGRES_LOAD.contains(&code);
    }
    match code.parse::<u32>() {
        Ok(extended) => matches!(extended & 0xff, 5 | 6),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_load;

    #[test]
    fn sqlite_busy_and_locked_are_load_in_every_extended_form() {
        for code in ["5", "6", "261", "517", "773", "262", "518"] {
            assert!(is_load(code), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_FOREIGNKEY,
        // SQLITE_IOERR_READ, SQLITE_CORRUPT: bugs or damage, not load.
        for code in ["1", "2067", "787", "266", "11"] {
            assert!(!is_load(code), "{code}");
        }
    }

    #[test]
    fn postgres_load_states_only() {
        for code in ["40001", "40P01", "53300", "57P03"] {
            assert!(is_load(code), "{code}");
        }
        // unique_violation, undefined_table, and a numeric SQLSTATE whose value
        // would read as SQLITE_BUSY (22021 & 0xff == 5) if taken for SQLite's.
        for code in ["23505", "42P01", "22021", ""] {
            assert!(!is_load(code), "{code}");
        }
        assert!(!is_load("busy"));
    }
}
