//! Whether the database answers. On PostgreSQL a watchdog ([`watch`])
//! pings it on a connection of its own every [`PROBE_EVERY`]; after
//! [`LOST_AFTER`] pings in a row without an answer within [`PROBE_TIMEOUT`]
//! the database is *unreachable* until one answers again. While it is, the
//! HTTP surfaces answer "unavailable" at once and cut short the requests
//! already waiting on it, and the background loops pause: a restart, a
//! failover or a partition costs a request at most a few seconds (about
//! `PROBE_EVERY + LOST_AFTER × PROBE_TIMEOUT`, 2.5 s), never the 10 s or
//! more a silent connection would hold it. A request cut short has either
//! committed or not (each write is one transaction); clients retry with the
//! same keys, which the APIs make idempotent.
//!
//! SQLite is a local file: it is always reachable, and nothing is probed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use koudai_store::Backend;

use crate::App;

/// How often the watchdog pings.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long a ping may take (connecting included).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pings in a row without an answer that make the database unreachable.
pub const LOST_AFTER: u32 = 2;

/// The database's reachability as this node last saw it.
#[derive(Debug)]
pub struct DatabaseHealth {
    reachable: watch::Sender<bool>,
}

impl Default for DatabaseHealth {
    fn default() -> Self {
        DatabaseHealth { reachable: watch::Sender::new(true) }
    }
}

impl DatabaseHealth {
    pub fn is_reachable(&self) -> bool {
        *self.reachable.borrow()
    }

    /// Resolves when the database is found unreachable (at once if it is).
    pub async fn lost(&self) {
        let mut seen = self.reachable.subscribe();
        let _ = seen.wait_for(|reachable| !*reachable).await;
    }

    /// Resolves when the database is reachable (at once if it is).
    pub async fn back(&self) {
        let mut seen = self.reachable.subscribe();
        let _ = seen.wait_for(|reachable| *reachable).await;
    }

    /// Runs `work` unless the database is or becomes unreachable first:
    /// `None` then, and `work` is dropped where it waited.
    pub async fn while_reachable<F: Future>(&self, work: F) -> Option<F::Output> {
        if !self.is_reachable() {
            return None;
        }
        tokio::select! {
            out = work => Some(out),
            () = self.lost() => None,
        }
    }

    fn set(&self, reachable: bool) {
        self.reachable.send_if_modified(|now| {
            let changed = *now != reachable;
            *now = reachable;
            changed
        });
    }
}

/// The watchdog: pings until `stop` (PostgreSQL only).
pub async fn watch(app: Arc<App>, stop: CancellationToken) {
    if app.store.backend() == Backend::Sqlite {
        return;
    }
    let mut probe = app.store.probe();
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        let answer = match tokio::time::timeout(PROBE_TIMEOUT, probe.ping()).await {
            Ok(answer) => answer.map_err(|e| e.to_string()),
            Err(_) => {
                probe.forget();
                Err(format!("no answer within {PROBE_TIMEOUT:?}"))
            }
        };
        match answer {
            Ok(()) => {
                if !app.database.is_reachable() {
                    tracing::info!("the database answers again");
                }
                failures = 0;
                app.database.set(true);
            }
            Err(e) => {
                failures += 1;
                if failures >= LOST_AFTER && app.database.is_reachable() {
                    tracing::warn!(error = %e, "the database does not answer; answering unavailable until it does");
                    app.database.set(false);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(PROBE_EVERY) => {}
            () = stop.cancelled() => {}
        }
    }
}
