//! The two clocks. Wall time checks signatures and leases; business time
//! drives order expiry, the callback schedule, settlement and every ledger
//! posting. In sandbox mode business time can be moved forward (the offset
//! is kept in the database, so it survives a restart); in live mode it is
//! the wall clock, whatever a database once used as a sandbox says.
//! Nothing else in Koudai reads the system time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use koudai_domain::{BusinessTime, WallTime};
use koudai_store::Store;

use crate::{Internal, Mode};

const OFFSET_KEY: &str = "business_clock_offset_s";

/// Why the business clock could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error("the business clock is the wall clock in live mode")]
    Live,
    #[error(transparent)]
    Internal(#[from] Internal),
}

#[derive(Debug)]
pub struct Clock {
    source: Source,
    offset_s: AtomicI64,
    mode: Mode,
}

#[derive(Debug)]
enum Source {
    System,
    /// A fixed wall time, for tests: time moves only when told.
    Fixed(AtomicI64),
}

impl Clock {
    /// The system clock; in sandbox mode business time is wall time plus the
    /// stored offset, in live mode the stored offset is ignored.
    pub async fn load(store: &Store, mode: Mode) -> Result<Clock, Internal> {
        let offset = match mode {
            Mode::Live => 0,
            Mode::Sandbox => stored_offset(store).await?,
        };
        Ok(Clock { source: Source::System, offset_s: AtomicI64::new(offset), mode })
    }

    /// A clock standing still at `wall_unix_s` (tests).
    pub fn fixed(wall_unix_s: i64, mode: Mode) -> Clock {
        Clock { source: Source::Fixed(AtomicI64::new(wall_unix_s)), offset_s: AtomicI64::new(0), mode }
    }

    /// Moves a fixed clock's wall time (tests); no effect on the system clock.
    pub fn set_wall(&self, wall_unix_s: i64) {
        if let Source::Fixed(t) = &self.source {
            t.store(wall_unix_s, Ordering::SeqCst);
        }
    }

    pub fn wall_now(&self) -> WallTime {
        WallTime::from_unix(self.wall_now_ms().div_euclid(1000))
    }

    /// Wall-clock milliseconds, for measuring durations.
    pub fn wall_now_ms(&self) -> i64 {
        match &self.source {
            Source::Fixed(t) => t.load(Ordering::SeqCst).saturating_mul(1000),
            // The one place that reads the system clock.
            #[allow(clippy::disallowed_methods)]
            Source::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }

    pub fn business_now(&self) -> BusinessTime {
        BusinessTime::from_unix(self.wall_now().unix().saturating_add(self.offset_s()))
    }

    pub fn offset_s(&self) -> i64 {
        self.offset_s.load(Ordering::SeqCst)
    }

    /// Re-reads the sandbox offset from the database, so that a clock moved
    /// on another node is seen here too (the jobs loop calls this every
    /// second). Live clocks have no offset to read.
    pub async fn refresh(&self, store: &Store) -> Result<(), Internal> {
        if self.mode == Mode::Sandbox {
            self.offset_s.store(stored_offset(store).await?, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Moves business time forward by `seconds` (sandbox only) and returns
    /// the new offset.
    pub async fn advance(&self, store: &Store, seconds: i64) -> Result<i64, AdvanceError> {
        if self.mode == Mode::Live {
            return Err(AdvanceError::Live);
        }
        let offset = store.add_to_meta(OFFSET_KEY, seconds).await.map_err(Internal::from)?;
        self.offset_s.store(offset, Ordering::SeqCst);
        Ok(offset)
    }
}

/// The sandbox offset kept in the database; a value that does not parse is
/// an error, not zero (a silently reset clock would re-date payments).
async fn stored_offset(store: &Store) -> Result<i64, Internal> {
    match store.meta(OFFSET_KEY).await? {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| Internal::bug(format!("stored business clock offset {v:?} is not a number"))),
    }
}
