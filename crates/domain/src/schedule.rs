//! Delivery channels and their retry schedules, as data.
//!
//! A payment callback (`v3`): after a failed delivery WeChat Pay retries
//! after 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h,
//! 6h: fifteen retries, 24h 4m in all (protocol notes §5.2). A push to an
//! official account's server (`mp`) or to a third-party platform's event URL
//! (`component`): three tries in all, five seconds apart, each waiting five
//! seconds for the answer (`wechat-mp.md` §4). The first delivery is
//! immediate on every channel.

crate::text_enum! {
    /// How a row of the outbox is delivered.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Channel: "delivery channel" {
        /// An APIv3 callback (`TRANSACTION.SUCCESS`, `REFUND.*`, …): JSON,
        /// sealed with the merchant's APIv3 key, signed by the platform.
        V3 = "v3",
        /// A push to an official account's server: XML, signed with the
        /// account's Token, encrypted in compatible and safe modes.
        Mp = "mp",
        /// A push to a third-party platform's event URL: XML, always sealed
        /// with the component's key.
        Component = "component",
    }
}

impl Channel {
    /// Delays, in seconds, before each retry.
    pub fn retry_delays_s(self) -> &'static [i64] {
        match self {
            Channel::V3 => &RETRY_DELAYS_S,
            Channel::Mp | Channel::Component => &PUSH_RETRY_DELAYS_S,
        }
    }

    /// How long to wait after the `attempts_made`-th failed attempt before
    /// the next one, or `None` once the schedule is exhausted.
    pub fn delay_after_failure(self, attempts_made: u32) -> Option<i64> {
        let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        self.retry_delays_s().get(index).copied()
    }
}

/// Delays, in seconds, before each retry of a payment callback.
pub const RETRY_DELAYS_S: [i64; 15] =
    [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600];

/// Delays, in seconds, before each retry of a push (three tries in all).
pub const PUSH_RETRY_DELAYS_S: [i64; 2] = [5, 5];

/// The number of attempts a payment callback gets in all (first + retries).
pub const MAX_ATTEMPTS: u32 = 16;

/// [`Channel::delay_after_failure`] for payment callbacks.
pub fn delay_after_failure(attempts_made: u32) -> Option<i64> {
    Channel::V3.delay_after_failure(attempts_made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_the_documented_one() {
        let delays: Vec<i64> = (1..=MAX_ATTEMPTS).map_while(delay_after_failure).collect();
        assert_eq!(delays.len(), 15);
        assert_eq!(delays.first(), Some(&15));
        assert_eq!(delays.last(), Some(&21600));
        // "总计 24h4m": the retries span 24 hours and 4 minutes.
        assert_eq!(delays.iter().sum::<i64>(), 24 * 3600 + 4 * 60);
    }

    #[test]
    fn a_push_is_tried_three_times_five_seconds_apart() {
        for channel in [Channel::Mp, Channel::Component] {
            let delays: Vec<i64> = (1..=5).map_while(|n| channel.delay_after_failure(n)).collect();
            assert_eq!(delays, [5, 5], "{channel:?}");
        }
    }

    #[test]
    fn channels_read_back_from_their_column() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>().ok(), Some(channel));
        }
    }

    #[test]
    fn no_retry_after_the_last_attempt_or_before_the_first() {
        assert_eq!(delay_after_failure(0), None);
        assert_eq!(delay_after_failure(MAX_ATTEMPTS), None);
        assert_eq!(delay_after_failure(MAX_ATTEMPTS - 1), Some(21600));
    }
}
