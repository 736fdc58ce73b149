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
    /// The transaction lost a race with another one (PostgreSQL deadlock or
    /// serialization failure) and was rolled back; running it again is safe.
    /// The store retries these itself a few times before giving up.
    #[error("transaction lost a race: {0}")]
    Contended(String),
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
            // The connection broke or could not be made: the database
            // restarts, fails over or cannot be reached. Retrying may work.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned()))
            }
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if code == "40001" || code == "40P01" {
                    StoreError::Contended(db.message().to_owned())
                } else if is_load(&code) || is_gone(&code) {
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

/// PostgreSQL SQLSTATEs that mean the server is going away or cannot serve:
/// class 08 (connection exception), class 53 (insufficient resources),
/// and the shutdowns of class 57 (administrator, crash, still starting).
fn is_gone(code: &str) -> bool {
    code.len() == 5 && (code.starts_with("08") || code.starts_with("53") || matches!(code, "57P01" | "57P02" | "57P03"))
}

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

/// Errors that may say "this transaction lost a race".
pub(crate) trait Contention {
    fn contended(&self) -> bool;
}

impl Contention for StoreError {
    fn contended(&self) -> bool {
        matches!(self, StoreError::Contended(_))
    }
}

/// How many times a contended transaction is run in all.
const ATTEMPTS: u32 = 3;

/// Runs `attempt` again when it lost a race (at most [`ATTEMPTS`] runs in
/// all). Each run is one whole transaction that rolled back, so running it
/// again cannot double anything.
pub(crate) async fn retrying<T, E, Fut>(mut attempt: impl FnMut() -> Fut) -> Result<T, E>
where
    E: Contention,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut run = 1;
    loop {
        match attempt().await {
            Err(e) if e.contended() && run < ATTEMPTS => {
                tracing::debug!(attempt = run, "transaction lost a race; running it again");
                run += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_gone, is_load};

    #[test]
    fn a_postgres_server_going_away_is_unavailable_not_a_bug() {
        for code in ["08006", "08001", "08003", "57P01", "57P02", "57P03", "53300", "53100"] {
            assert!(is_gone(code), "{code}");
        }
        for code in ["23505", "42P01", "22021", "40001", "5", "", "57014"] {
            assert!(!is_gone(code), "{code}");
        }
    }

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

    #[tokio::test]
    async fn a_contended_transaction_is_run_again_a_bounded_number_of_times() {
        use super::{retrying, StoreError};
        use std::sync::atomic::{AtomicU32, Ordering};
        let runs = AtomicU32::new(0);
        let twice_then_ok = retrying(|| async {
            if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(StoreError::Contended("deadlock detected".into()))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!((twice_then_ok.ok(), runs.load(Ordering::SeqCst)), (Some(7), 3));
        let runs = AtomicU32::new(0);
        let always: Result<(), StoreError> = retrying(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Contended("deadlock detected".into()))
        })
        .await;
        assert!(matches!(always, Err(StoreError::Contended(_))));
        assert_eq!(runs.load(Ordering::SeqCst), 3, "three runs in all, then the error");
        let runs = AtomicU32::new(0);
        let other: Result<(), StoreError> = retrying(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Other("bug".into()))
        })
        .await;
        assert!(other.is_err());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "other errors are not retried");
    }
}
