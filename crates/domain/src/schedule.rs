//! The callback retry schedule.
//!
//! After a failed delivery WeChat Pay retries after 15s, 15s, 30s, 3m, 10m,
//! 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h: fifteen retries, 24h 4m in
//! all (protocol notes §5.2). The first delivery is immediate.

/// Delays, in seconds, before each retry.
pub const RETRY_DELAYS_S: [i64; 15] =
    [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600];

/// The number of attempts a notification gets in all (first + retries).
pub const MAX_ATTEMPTS: u32 = 16;

/// How long to wait after the `attempts_made`-th failed attempt before the
/// next one, or `None` once the schedule is exhausted.
pub fn delay_after_failure(attempts_made: u32) -> Option<i64> {
    let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
    RETRY_DELAYS_S.get(index).copied()
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
    fn no_retry_after_the_last_attempt_or_before_the_first() {
        assert_eq!(delay_after_failure(0), None);
        assert_eq!(delay_after_failure(MAX_ATTEMPTS), None);
        assert_eq!(delay_after_failure(MAX_ATTEMPTS - 1), Some(21600));
    }
}
