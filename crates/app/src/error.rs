//! The failure every use case can have that is nobody's fault but ours or
//! the database's. Business refusals are the variants of each use case's
//! own error enum; this is the one variant they share.

use koudai_store::StoreError;

/// Something went wrong inside: the database, a stored value that does not
/// parse, a bug. Surfaces answer it with a generic 5xx and log the cause.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bug(String),
}

impl Internal {
    pub fn bug(message: impl Into<String>) -> Internal {
        Internal::Bug(message.into())
    }

    /// Whether retrying later may work (database busy or unreachable): a
    /// 503, not a 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Internal::Store(StoreError::Unavailable(_) | StoreError::Contended(_)))
    }
}
