//! The two clocks. Wall time checks signatures and leases; business time
//! drives order expiry and the callback schedule, and in sandbox mode can be
//! moved forward (the offset is kept in the database, so it survives a
//! restart). Nothing else in Koudai reads the system time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use koudai_store::{Store, StoreError};

const OFFSET_KEY: &str = "business_clock_offset_s";

#[derive(Debug, Default)]
pub struct Clock {
    offset_s: AtomicI64,
}

impl Clock {
    /// A clock whose business time is the wall time plus the stored offset.
    pub async fn load(store: &Store) -> Result<Clock, StoreError> {
        let offset = store.meta(OFFSET_KEY).await?.and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Clock { offset_s: AtomicI64::new(offset) })
    }

    /// Unix seconds of the wall clock.
    pub fn wall_now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    /// Wall-clock milliseconds, for measuring durations.
    pub fn wall_now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    /// Unix seconds of the business clock.
    pub fn business_now(&self) -> i64 {
        self.wall_now().saturating_add(self.offset_s.load(Ordering::SeqCst))
    }

    pub fn offset_s(&self) -> i64 {
        self.offset_s.load(Ordering::SeqCst)
    }

    /// Moves business time forward by `seconds` (sandbox only; the caller
    /// checks the mode) and returns the new offset.
    pub async fn advance(&self, store: &Store, seconds: i64) -> Result<i64, StoreError> {
        let offset = store.add_to_meta(OFFSET_KEY, seconds).await?;
        self.offset_s.store(offset, Ordering::SeqCst);
        Ok(offset)
    }
}
