//! Consumer sessions of the pages: a random token in an `HttpOnly` cookie
//! (`Secure` and `__Host-` in live mode), stored only as its SHA-256; a
//! synchronizer CSRF token compared in constant time; and a throttle on
//! failed logins per login, so that neither guessing nor argon2's cost can
//! be used against the server.

use std::collections::HashMap;
use std::sync::Mutex;

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use subtle::ConstantTimeEq as _;

use koudai_app::{App, Internal, Mode};
use koudai_domain::{ids, Secret};
use koudai_protocol::crypto;
use koudai_store::Session;

/// How long a session lasts (wall seconds).
pub const SESSION_TTL_S: i64 = 24 * 3600;
/// Letters and digits in session and CSRF tokens.
const TOKEN_LEN: usize = 32;
/// Failed logins allowed per login within [`THROTTLE_WINDOW_S`].
const MAX_FAILURES: u32 = 5;
const THROTTLE_WINDOW_S: i64 = 15 * 60;
/// The throttle forgets expired entries when it grows past this.
const THROTTLE_SWEEP_AT: usize = 10_000;

/// The session cookie's name: `__Host-` (Secure, Path=/, no Domain) in live
/// mode; plain in the sandbox, which is served over http.
pub fn cookie_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "__Host-koudai_session",
        Mode::Sandbox => "koudai_session",
    }
}

fn token_digest(token: &str) -> String {
    ids::upper_hex(&crypto::sha256(token.as_bytes()))
}

/// The session the request's cookie names, if it is live.
pub async fn current(app: &App, jar: &CookieJar) -> Result<Option<Session>, Internal> {
    let Some(cookie) = jar.get(cookie_name(app.mode())) else {
        return Ok(None);
    };
    Ok(app.store.session(&token_digest(cookie.value()), app.clock.wall_now().unix()).await?)
}

/// Starts a session for `login`; returns it and the cookie to set.
pub async fn start(app: &App, login: &str) -> Result<(Session, Cookie<'static>), Internal> {
    let token = app.rng.token(TOKEN_LEN);
    let session = Session {
        token_sha256: token_digest(&token),
        login: login.to_owned(),
        csrf: Secret::new(app.rng.token(TOKEN_LEN)),
        expires_at: app.clock.wall_now().plus(SESSION_TTL_S).unix(),
    };
    app.store.create_session(&session).await?;
    let live = app.mode() == Mode::Live;
    let cookie = Cookie::build((cookie_name(app.mode()), token))
        .path(if live { "/" } else { "/pay" })
        .http_only(true)
        .secure(live)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(SESSION_TTL_S))
        .build();
    Ok((session, cookie))
}

/// Whether the form's CSRF token is the session's, in constant time.
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    let expected = session.csrf.expose().as_bytes();
    !submitted.is_empty() && bool::from(expected.ct_eq(submitted.as_bytes()))
}

/// Failed logins per login: `(failures, first failure at)` in wall seconds.
#[derive(Default)]
pub struct LoginThrottle(Mutex<HashMap<String, (u32, i64)>>);

impl LoginThrottle {
    /// Whether `login` may try a password now.
    pub fn allows(&self, login: &str, now: i64) -> Result<bool, Internal> {
        let map = self.0.lock().map_err(|_| Internal::bug("the login throttle's lock is poisoned"))?;
        Ok(match map.get(login) {
            Some((failures, since)) => *failures < MAX_FAILURES || now - since >= THROTTLE_WINDOW_S,
            None => true,
        })
    }

    /// Records a wrong password for `login`.
    pub fn failed(&self, login: &str, now: i64) -> Result<(), Internal> {
        let mut map = self.0.lock().map_err(|_| Internal::bug("the login throttle's lock is poisoned"))?;
        if map.len() >= THROTTLE_SWEEP_AT {
            map.retain(|_, (_, since)| now - *since < THROTTLE_WINDOW_S);
        }
        let entry = map.entry(login.to_owned()).or_insert((0, now));
        if now - entry.1 >= THROTTLE_WINDOW_S {
            *entry = (0, now);
        }
        entry.0 += 1;
        Ok(())
    }

    /// Forgets `login`'s failures after a correct password.
    pub fn succeeded(&self, login: &str) -> Result<(), Internal> {
        self.0.lock().map_err(|_| Internal::bug("the login throttle's lock is poisoned"))?.remove(login);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(csrf: &str) -> Session {
        Session {
            token_sha256: token_digest("t"),
            login: "alice".into(),
            csrf: Secret::new(csrf.into()),
            expires_at: 0,
        }
    }

    #[test]
    fn csrf_must_match_exactly() {
        let s = session("abcdefghijklmnopqrstuvwxyz012345");
        assert!(csrf_matches(&s, "abcdefghijklmnopqrstuvwxyz012345"));
        assert!(!csrf_matches(&s, "abcdefghijklmnopqrstuvwxyz01234"));
        assert!(!csrf_matches(&s, "Abcdefghijklmnopqrstuvwxyz012345"));
        assert!(!csrf_matches(&s, ""));
        assert!(!csrf_matches(&session(""), ""));
    }

    #[test]
    fn the_stored_digest_is_not_the_token() {
        let d = token_digest("secret-token");
        assert_eq!(d.len(), 64);
        assert!(!d.contains("secret"));
    }

    #[test]
    fn five_failures_lock_a_login_for_the_window() {
        let t = LoginThrottle::default();
        let ok = |r: Result<bool, Internal>| r.unwrap_or_else(|e| panic!("{e}"));
        for i in 0..MAX_FAILURES {
            assert!(ok(t.allows("alice", 1000 + i64::from(i))));
            t.failed("alice", 1000 + i64::from(i)).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(!ok(t.allows("alice", 1010)));
        assert!(ok(t.allows("bob", 1010)), "other logins are not affected");
        assert!(ok(t.allows("alice", 1000 + THROTTLE_WINDOW_S)), "the lock ends with the window");
        t.succeeded("alice").unwrap_or_else(|e| panic!("{e}"));
        assert!(ok(t.allows("alice", 1011)));
    }
}
