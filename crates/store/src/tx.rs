//! Transactions, which the store opens only through [`Store::write`] and
//! [`Store::read`].
//!
//! Why the types: SQLite in WAL mode gives a transaction begun with a plain
//! (deferred) `BEGIN` a read snapshot. If that transaction later writes while
//! another connection has committed since the snapshot was taken, SQLite cannot
//! upgrade it and fails at once with `SQLITE_BUSY_SNAPSHOT` (517); the busy
//! timeout does not help, because waiting cannot make the old snapshot current.
//! So every transaction that may write must start with `BEGIN IMMEDIATE`, which
//! takes the write lock up front. SQLite has no row locks either, so that same
//! lock is what makes a read-then-write (read a balance, then update it) safe
//! there, and why [`WriteTx::lock`] appends nothing on SQLite.
//!
//! PostgreSQL does not care how a transaction begins: a plain `BEGIN` may write,
//! and rows are locked by `SELECT … FOR UPDATE`. A mistake here therefore passes
//! every PostgreSQL test and fails only on SQLite under load. Making
//! [`WriteTx`] the only way to write inside a transaction, and [`ReadTx`] (a
//! read-only transaction on PostgreSQL) the only other kind, turns the
//! convention into a type: store functions that write take `&mut WriteTx`, and
//! a use case can compose several of them in one commit.
//!
//! Both types dereference to [`sqlx::AnyConnection`], so a query runs inside
//! them with `.execute(&mut *tx)`. Dropping either without committing rolls
//! the transaction back.

use std::ops::{Deref, DerefMut};

use sqlx::{AnyConnection, AnyPool};

use crate::{Backend, StoreError};

/// A transaction that may write. On SQLite it holds the database's write
/// lock from its first statement (`BEGIN IMMEDIATE`); on PostgreSQL it is a
/// plain `BEGIN`, and rows it must keep stable are locked with
/// [`WriteTx::lock`].
pub struct WriteTx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl WriteTx {
    pub(crate) async fn begin(pool: &AnyPool, backend: Backend) -> Result<WriteTx, StoreError> {
        let inner = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        };
        Ok(WriteTx { inner, backend })
    }

    /// The engine this transaction runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `select` with the clause that locks the rows it reads until this
    /// transaction ends (`FOR UPDATE` on PostgreSQL; nothing on SQLite, whose
    /// write lock this transaction already holds).
    pub fn lock(&self, select: &str) -> String {
        format!("{select}{}", self.backend.for_update())
    }

    /// Like [`WriteTx::lock`], but rows another transaction has locked are
    /// skipped rather than waited for: how workers on several nodes share a
    /// queue.
    pub fn lock_skip_locked(&self, select: &str) -> String {
        format!("{select}{}", self.backend.for_update_skip_locked())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.inner.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.inner.rollback().await?)
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// A transaction that only reads, so that several reads see one another's
/// rows consistently enough for one answer. On PostgreSQL it is
/// `BEGIN READ ONLY`, so a write slipped into it fails there at once instead
/// of only under load on SQLite; on SQLite it is a deferred `BEGIN`.
pub struct ReadTx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

impl std::fmt::Debug for ReadTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadTx").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl ReadTx {
    pub(crate) async fn begin(pool: &AnyPool, backend: Backend) -> Result<ReadTx, StoreError> {
        let inner = match backend {
            Backend::Sqlite => pool.begin().await?,
            Backend::Postgres => pool.begin_with("BEGIN READ ONLY").await?,
        };
        Ok(ReadTx { inner, backend })
    }

    /// The engine this transaction runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Ends the transaction. It wrote nothing, so there is nothing to commit.
    pub async fn finish(self) -> Result<(), StoreError> {
        Ok(self.inner.rollback().await?)
    }
}

impl Deref for ReadTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for ReadTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    /// Every other module opens its transactions through `Store::write` and
    /// `Store::read`; the migration runner alone begins its own, since
    /// migrations run before any store method may.
    #[test]
    fn transactions_are_opened_only_here() {
        // Every file but this one and the migration runner.
        let sources: Vec<(String, String)> =
            crate::crate_sources().into_iter().filter(|(name, _)| name != "tx.rs" && name != "migrate.rs").collect();
        for (file, src) in &sources {
            for opening in [".begin(", ".begin_with(", "Transaction<"] {
                assert!(
                    !src.contains(opening),
                    "{file} opens a transaction itself ({opening}); use Store::write or Store::read"
                );
            }
        }
    }
}
