//! Where the outbox sends, one destination at a time: a destination is the
//! scheme, host and port of a notification's URL (one merchant's receiver,
//! one account's server). For each one this module keeps how many sends are
//! in flight and a circuit breaker, so that a destination that never
//! answers holds at most [`PER_DESTINATION`] of the outbox's slots and, once
//! it has failed [`OPEN_AFTER`] times in a row without an answer, is left
//! alone for a while (doubling from [`BACKOFF_BASE`] up to [`BACKOFF_MAX`])
//! before one probe is let through. An HTTP answer of any status closes the
//! breaker: a receiver that answers 500 is slow to acknowledge, not gone,
//! and its retries follow the channel's schedule as before.
//!
//! The state is per node and in memory: it is advice on where not to wait,
//! not a record; the outbox rows stay the truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Sends in flight to one destination at most.
pub const PER_DESTINATION: usize = 16;
/// Consecutive failures without an answer (timeout, refused or reset
/// connection) that open the breaker.
pub const OPEN_AFTER: u32 = 3;
/// How long the breaker stays open the first time; it doubles with every
/// failed probe.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// The longest the breaker stays open.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The destination of a URL: `scheme://host:port`, or the URL itself when it
/// does not parse (it will be refused when sent, alone).
pub fn of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => url.to_owned(),
    }
}

/// Whether a send to a destination may start now.
#[derive(Debug)]
pub enum Gate {
    /// Yes: the permit holds its slot until the send's outcome is known.
    Go(Permit),
    /// It already has [`PER_DESTINATION`] sends in flight (or its one probe).
    Busy,
    /// Its breaker is open until then.
    Open(Instant),
}

/// How a send to a destination ended, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// An HTTP answer came, whatever its status.
    Answered,
    /// No answer: a timeout, a refused or reset connection.
    Unreachable,
    /// Nothing was sent (a refused URL, a message that could not be
    /// prepared): says nothing about the destination.
    NotSent,
}

#[derive(Debug, Default)]
struct State {
    in_flight: usize,
    failures: u32,
    open_until: Option<Instant>,
    /// The breaker let one probe through and waits for it.
    probing: bool,
}

/// The destinations of this node's outbox.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    inner: Arc<Mutex<HashMap<String, State>>>,
}

impl Destinations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        // The map holds counters only; a panic while it was held cannot
        // have left it half-written in a way that matters.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks to start a send to `destination` at `now`.
    pub fn try_start(&self, destination: &str, now: Instant) -> Gate {
        let mut map = self.lock();
        let state = map.entry(destination.to_owned()).or_default();
        if let Some(until) = state.open_until {
            if now < until {
                return Gate::Open(until);
            }
            // Half open: one probe decides.
            if state.probing {
                return Gate::Busy;
            }
            state.probing = true;
            state.in_flight += 1;
            return Gate::Go(Permit::new(self, destination, true));
        }
        if state.in_flight >= PER_DESTINATION {
            return Gate::Busy;
        }
        state.in_flight += 1;
        Gate::Go(Permit::new(self, destination, false))
    }

    fn finish(&self, destination: &str, probe: bool, reach: Reach, now: Instant) {
        let mut map = self.lock();
        let Some(state) = map.get_mut(destination) else { return };
        state.in_flight = state.in_flight.saturating_sub(1);
        if probe {
            state.probing = false;
        }
        match reach {
            Reach::Answered => {
                state.failures = 0;
                state.open_until = None;
            }
            Reach::Unreachable => {
                state.failures = state.failures.saturating_add(1);
                // The probe's failure reopens the breaker for longer; so does
                // the failure that reaches the threshold. Failures of sends
                // that were in flight when it opened do not extend it.
                if probe || state.open_until.is_none() && state.failures >= OPEN_AFTER {
                    let doublings = state.failures.saturating_sub(OPEN_AFTER).min(8);
                    let backoff = (BACKOFF_BASE * 2u32.pow(doublings)).min(BACKOFF_MAX);
                    state.open_until = Some(now + backoff);
                }
            }
            Reach::NotSent => {}
        }
        if state.in_flight == 0 && state.failures == 0 && state.open_until.is_none() {
            map.remove(destination);
        }
    }

    /// `(sends in flight, destinations backed off)`, for `/metrics`: a
    /// destination is backed off from the moment its breaker opens until a
    /// probe gets an answer.
    pub fn snapshot(&self) -> (usize, usize) {
        let map = self.lock();
        let in_flight = map.values().map(|s| s.in_flight).sum();
        let backed_off = map.values().filter(|s| s.open_until.is_some()).count();
        (in_flight, backed_off)
    }
}

/// A slot for one send to one destination; the send's outcome is given
/// with [`Permit::done`]. Dropped without an outcome (the sending task
/// ended early), it frees the slot and tells the breaker nothing.
#[derive(Debug)]
pub struct Permit {
    destinations: Destinations,
    destination: String,
    probe: bool,
    outcome: Option<(Reach, Instant)>,
}

impl Permit {
    fn new(destinations: &Destinations, destination: &str, probe: bool) -> Permit {
        Permit { destinations: destinations.clone(), destination: destination.to_owned(), probe, outcome: None }
    }

    /// Records how the send ended and frees the slot.
    pub fn done(self, reach: Reach) {
        self.done_at(reach, Instant::now());
    }

    fn done_at(mut self, reach: Reach, now: Instant) {
        self.outcome = Some((reach, now));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let (reach, now) = self.outcome.unwrap_or((Reach::NotSent, Instant::now()));
        self.destinations.finish(&self.destination, self.probe, reach, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(d: &Destinations, dest: &str, now: Instant) -> Permit {
        match d.try_start(dest, now) {
            Gate::Go(p) => p,
            other => panic!("expected a permit, got {other:?}"),
        }
    }

    #[test]
    fn destinations_are_scheme_host_and_port() {
        assert_eq!(of("http://a.example/notify?x=1"), "http://a.example:80");
        assert_eq!(of("https://a.example:8443/n"), "https://a.example:8443");
        assert_eq!(of("http://127.0.0.1:9/notify"), "http://127.0.0.1:9");
        assert_eq!(of("not a url"), "not a url");
    }

    #[test]
    fn a_destination_holds_at_most_its_share_of_slots() {
        let d = Destinations::default();
        let now = Instant::now();
        let permits: Vec<_> = (0..PER_DESTINATION).map(|_| go(&d, "b", now)).collect();
        assert!(matches!(d.try_start("b", now), Gate::Busy));
        // Another destination is not affected.
        go(&d, "a", now).done(Reach::Answered);
        drop(permits);
        assert_eq!(d.snapshot(), (0, 0));
        go(&d, "b", now).done(Reach::Answered);
    }

    #[test]
    fn the_breaker_opens_probes_and_closes() {
        let d = Destinations::default();
        let t0 = Instant::now();
        for _ in 0..OPEN_AFTER {
            go(&d, "b", t0).done_at(Reach::Unreachable, t0);
        }
        let Gate::Open(until) = d.try_start("b", t0) else { panic!("the breaker should be open") };
        assert_eq!(until, t0 + BACKOFF_BASE);
        assert_eq!(d.snapshot(), (0, 1));
        // Half open: one probe at a time; its failure doubles the wait.
        let probe = go(&d, "b", until);
        assert!(matches!(d.try_start("b", until), Gate::Busy));
        let failed_at = until + Duration::from_millis(10);
        probe.done_at(Reach::Unreachable, failed_at);
        let Gate::Open(again) = d.try_start("b", failed_at) else { panic!("a failed probe reopens") };
        assert_eq!(again, failed_at + BACKOFF_BASE * 2);
        // A probe that gets any answer closes it.
        go(&d, "b", again).done(Reach::Answered);
        go(&d, "b", again).done(Reach::Answered);
        assert_eq!(d.snapshot(), (0, 0));
    }

    #[test]
    fn answers_of_any_status_and_unsent_messages_do_not_open_it() {
        let d = Destinations::default();
        let now = Instant::now();
        for _ in 0..10 {
            go(&d, "b", now).done(Reach::Answered);
            go(&d, "b", now).done(Reach::NotSent);
        }
        assert!(matches!(d.try_start("b", now), Gate::Go(_)));
    }

    #[test]
    fn failures_in_flight_when_it_opened_do_not_extend_it() {
        let d = Destinations::default();
        let t0 = Instant::now();
        let permits: Vec<_> = (0..PER_DESTINATION).map(|_| go(&d, "b", t0)).collect();
        let later = t0 + Duration::from_secs(5);
        for p in permits {
            p.done_at(Reach::Unreachable, later);
        }
        let Gate::Open(until) = d.try_start("b", later) else { panic!("open") };
        assert_eq!(until, later + BACKOFF_BASE);
    }
}
