//! Consumer sessions of the pages: a random token in an `HttpOnly` cookie
//! (`Secure` and `__Host-` in live mode), stored only as its SHA-256; a
//! synchronizer CSRF token compared in constant time; and a throttle on
//! failed logins per login, so that neither guessing nor argon2's cost can
//! be used against the server.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use subtle::ConstantTimeEq as _;

use koudai_app::{App, Internal, Mode};
use koudai_domain::{ids, Secret};
use koudai_protocol::crypto;
use koudai_store::{Session, SessionRealm};

/// How long a session lasts (wall seconds).
pub const SESSION_TTL_S: i64 = 24 * 3600;
/// Letters and digits in session and CSRF tokens.
const TOKEN_LEN: usize = 32;

/// The session cookie's name: `__Host-` (Secure, Path=/, no Domain) in live
/// mode; plain in the sandbox, which is served over http.
pub fn cookie_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "__Host-koudai_session",
        Mode::Sandbox => "koudai_session",
    }
}

pub(crate) fn token_digest(token: &str) -> String {
    ids::upper_hex(&crypto::sha256(token.as_bytes()))
}

/// The session the request's cookie names, if it is live.
pub async fn current(app: &App, jar: &CookieJar) -> Result<Option<Session>, Internal> {
    let Some(cookie) = jar.get(cookie_name(app.mode())) else {
        return Ok(None);
    };
    Ok(app.store.session(SessionRealm::Consumer, &token_digest(cookie.value()), app.clock.wall_now().unix()).await?)
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
    app.store.create_session(SessionRealm::Consumer, &session).await?;
    let live = app.mode() == Mode::Live;
    let cookie = Cookie::build((cookie_name(app.mode()), token))
        .path("/")
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
}
