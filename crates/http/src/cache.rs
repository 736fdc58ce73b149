//! The caches and counters the surfaces keep between requests: merchant
//! keys and rows (`v3::auth`) and the failed logins of the pages (the
//! nonces seen, for replay protection, are in the database). Data only, so
//! that `state` can hold them without importing the surfaces that use them.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use koudai_app::Internal;
use koudai_protocol::PublicKey;
use koudai_store::Merchant;

/// Merchant public keys by `(mchid, SERIAL)`, kept for good: a certificate
/// never changes under its serial (rotation adds a serial). Merchant rows by
/// `mchid`, kept for a few seconds (`v3::auth`).
#[derive(Default)]
pub struct MerchantKeys {
    pub(crate) keys: RwLock<HashMap<(String, String), PublicKey>>,
    pub(crate) rows: RwLock<HashMap<String, (Merchant, i64)>>,
}

/// Password attempts allowed per login within [`THROTTLE_WINDOW_S`].
const MAX_FAILURES: u32 = 5;
/// Password attempts allowed per client address within the window, across
/// logins: enough for a family or an office behind one address, too few to
/// try one password against many logins.
pub const MAX_ATTEMPTS_PER_ADDRESS: u32 = 30;
const THROTTLE_WINDOW_S: i64 = 15 * 60;
/// The throttle forgets expired entries when it grows past this.
const THROTTLE_SWEEP_AT: usize = 10_000;

/// Password attempts per login: `(attempts, first attempt at)` in wall
/// seconds. An attempt is counted *before* its password is checked, so
/// requests sent in parallel cannot get past the limit together; a correct
/// password clears the count.
pub struct LoginThrottle {
    attempts: Mutex<HashMap<String, (u32, i64)>>,
    max: u32,
}

impl Default for LoginThrottle {
    /// Per login: [`MAX_FAILURES`].
    fn default() -> LoginThrottle {
        LoginThrottle::with_max(MAX_FAILURES)
    }
}

impl LoginThrottle {
    /// A throttle allowing `max` attempts per key and window.
    pub fn with_max(max: u32) -> LoginThrottle {
        LoginThrottle { attempts: Mutex::default(), max }
    }

    /// Counts an attempt by `login`; false if it has had its `max` attempts
    /// in the current window already.
    pub fn attempt(&self, login: &str, now: i64) -> Result<bool, Internal> {
        let max = self.max;
        let mut map = self.attempts.lock().map_err(|_| Internal::bug("the login throttle's lock is poisoned"))?;
        if map.len() >= THROTTLE_SWEEP_AT {
            map.retain(|_, (_, since)| now - *since < THROTTLE_WINDOW_S);
        }
        if map.len() >= THROTTLE_SWEEP_AT {
            // A flood of distinct logins: keep only those that are locked.
            map.retain(|_, (attempts, _)| *attempts >= max);
        }
        let entry = map.entry(login.to_owned()).or_insert((0, now));
        if now - entry.1 >= THROTTLE_WINDOW_S {
            *entry = (0, now);
        }
        if entry.0 >= max {
            return Ok(false);
        }
        entry.0 += 1;
        Ok(true)
    }

    /// Forgets `login`'s attempts after a correct password.
    pub fn succeeded(&self, login: &str) -> Result<(), Internal> {
        self.attempts.lock().map_err(|_| Internal::bug("the login throttle's lock is poisoned"))?.remove(login);
        Ok(())
    }
}

/// Requests to the unauthenticated pages allowed per client address and
/// minute: far above what a person clicks, far below a scraper or a
/// password-spraying script.
pub const PAGE_REQUESTS_PER_MINUTE: u32 = 300;
const PAGE_WINDOW_S: i64 = 60;
/// The limiter forgets old windows when it grows past this many addresses.
const PAGE_SWEEP_AT: usize = 50_000;

/// Requests per client address in fixed one-minute windows.
#[derive(Default)]
pub struct PageRate(Mutex<HashMap<std::net::IpAddr, (u32, i64)>>);

impl PageRate {
    /// Counts a request from `ip`; false once it is over the minute's limit.
    pub fn admit(&self, ip: std::net::IpAddr, now: i64) -> Result<bool, Internal> {
        let mut map = self.0.lock().map_err(|_| Internal::bug("the page rate limiter's lock is poisoned"))?;
        if map.len() >= PAGE_SWEEP_AT {
            map.retain(|_, (_, since)| now - *since < PAGE_WINDOW_S);
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now - entry.1 >= PAGE_WINDOW_S {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
        Ok(entry.0 <= PAGE_REQUESTS_PER_MINUTE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_attempts_lock_a_login_for_the_window() {
        let t = LoginThrottle::default();
        let ok = |r: Result<bool, Internal>| r.unwrap();
        for i in 0..MAX_FAILURES {
            assert!(ok(t.attempt("alice", 1000 + i64::from(i))), "attempt {i}");
        }
        assert!(!ok(t.attempt("alice", 1010)), "the sixth attempt is refused before any password is checked");
        assert!(ok(t.attempt("bob", 1010)), "other logins are not affected");
        assert!(ok(t.attempt("alice", 1000 + THROTTLE_WINDOW_S)), "the lock ends with the window");
        t.succeeded("alice").unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(ok(t.attempt("alice", 2000)));
        }
    }

    #[test]
    fn a_flood_of_logins_stays_bounded() {
        let t = LoginThrottle::default();
        for i in 0..(THROTTLE_SWEEP_AT + 10) {
            let _ = t.attempt(&format!("user{i}"), 5);
        }
        let len = t.attempts.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(len <= THROTTLE_SWEEP_AT, "{len} entries");
    }
}
