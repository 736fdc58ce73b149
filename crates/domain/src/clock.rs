//! The two kinds of time Koudai deals in, as distinct types so that one can
//! never be passed where the other is meant.
//!
//! *Wall time* is the machine's clock: signature windows, sessions, leases,
//! logs. *Business time* is wall time plus an offset that a sandbox may move
//! forward: order expiry, settlement days, bill dates, every ledger posting.
//! Both are Unix seconds.

use time::OffsetDateTime;

/// Unix seconds on the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(i64);

/// Unix seconds on the business clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusinessTime(i64);

macro_rules! unix_time {
    ($t:ident) => {
        impl $t {
            pub const fn from_unix(s: i64) -> $t {
                $t(s)
            }

            /// Unix seconds.
            pub const fn unix(self) -> i64 {
                self.0
            }

            /// `self + seconds`, saturating.
            #[must_use]
            pub const fn plus(self, seconds: i64) -> $t {
                $t(self.0.saturating_add(seconds))
            }

            /// As a date-time in UTC; the epoch if out of range.
            pub fn datetime(self) -> OffsetDateTime {
                OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
            }
        }
    };
}

unix_time!(WallTime);
unix_time!(BusinessTime);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_dates_stay_in_range() {
        assert_eq!(BusinessTime::from_unix(10).plus(5).unix(), 15);
        assert_eq!(WallTime::from_unix(i64::MAX).plus(1).unix(), i64::MAX);
        assert_eq!(WallTime::from_unix(i64::MAX).datetime(), OffsetDateTime::UNIX_EPOCH);
    }
}
