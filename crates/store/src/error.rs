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
                // SQLITE_BUSY (5) / SQLITE_LOCKED (6) after busy_timeout, and
                // PostgreSQL's serialization/deadlock/too-many-connections
                // classes, are load, not bugs.
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if ["5", "6", "40001", "40P01", "53300", "57P03"].contains(&code.as_str()) {
                    StoreError::Unavailable(db.message().to_owned())
                } else {
                    StoreError::Other(db.message().to_owned())
                }
            }
            other => StoreError::Other(other.to_string()),
        }
    }
}
