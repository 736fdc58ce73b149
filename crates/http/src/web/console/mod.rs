//! The consoles (`/console/…`), one per role:
//!
//! - the operator's: providers and the league table, privileges and their
//!   log, refusals, every sub-merchant (`operator`); the application audit
//!   queue (`applyments`), the store review queue (`stores`), the
//!   e-commerce rules (`rules`), the discovery centre and its traffic
//!   report (`discovery`), and the permission sets (`platform`);
//! - a provider's: its privileges, sub-merchants, their balances and
//!   orders (`provider`), its applications (`applyments`), its third-party
//!   platform and the official accounts it and its sub-merchants own
//!   (`platform`);
//! - a merchant's: its official accounts and the platforms it authorised
//!   (`merchant`);
//! - for an account's merchant or provider: the account's shop (`shop`)
//!   and stores (`stores`, which the operator may read too); for every
//!   role, an account's eligibility (`rules`).
//!
//! Server-rendered, usable without JavaScript. Users log in with argon2
//! password hashes (throttled per login and per address); sessions are
//! random tokens stored only as their SHA-256, in a table of their own;
//! every form carries the session's CSRF token, and the login form a
//! double-submit token. Roles are enforced here, on the server, for every
//! page and form: a provider user who names another provider's
//! sub-merchant (or any user an official account it may not reach) in a
//! URL gets "not found", and the attempt goes to the refusal log.
//! `clean_forms`, which refuses oversized forms and characters no database
//! column may hold, guards every page's forms, not only the consoles'.

mod applyments;
mod discovery;
mod gate;
mod merchant;
mod operator;
mod platform;
mod provider;
mod rules;
mod shop;
mod stores;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::Deserialize;

use koudai_app::parties::verify_password;
use koudai_app::{App, Mode};
use koudai_domain::Secret;
use koudai_store::{ConsoleRole, Session, SessionRealm};

use super::page::{render, PageError};
use super::session::{csrf_matches, token_digest, SESSION_TTL_S};
use crate::state::HttpState;
use gate::{check_csrf, cookie, cookie_name, login_cookie_name, visitor, Gate};

/// Letters and digits of session, CSRF and login tokens.
const TOKEN_LEN: usize = 32;
/// Longest console login (`providers::create_console_user`).
const MAX_LOGIN_LEN: usize = 64;

/// Largest console form body.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// A form carrying a file: a store photo of at most 1 MB and the fields.
const MAX_UPLOAD_BYTES: usize = 1024 * 1024 + 64 * 1024;
/// The forms that may carry a file (multipart), by path suffix.
const UPLOAD_PATHS: &[&str] = &["/stores/add"];

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .merge(operator::routes())
        .merge(provider::routes())
        .merge(platform::routes())
        .merge(merchant::routes())
        .merge(shop::routes())
        .merge(rules::routes())
        .merge(stores::routes())
        .merge(discovery::routes())
        .merge(applyments::routes())
        .route_layer(axum::middleware::from_fn(clean_forms))
}

/// A form field no database column may hold (NUL, on PostgreSQL) is
/// refused before any handler sees the form, and so are oversized forms.
/// (Every page's forms go through it, not only the consoles'.)
pub(super) async fn clean_forms(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // A form with a file (a store's photo) may be larger; its text fields
    // are checked like any form's.
    let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let upload = content_type.is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"))
        && UPLOAD_PATHS.iter().any(|suffix| parts.uri.path().ends_with(suffix));
    let limit = if upload { MAX_UPLOAD_BYTES } else { MAX_FORM_BYTES };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return PageError::BadRequest("表单过大 The form is too large".into()).into_response();
    };
    let fields = if upload {
        let Ok(form) = koudai_protocol::multipart::parse(content_type, &bytes) else {
            return PageError::BadRequest("表单无法读取 The form does not read".into()).into_response();
        };
        form.into_iter()
            .filter(|p| p.filename.is_none())
            .flat_map(|p| [p.name, String::from_utf8_lossy(&p.data).into_owned()])
            .collect::<Vec<_>>()
    } else {
        form_urlencoded::parse(&bytes).flat_map(|(k, v)| [k.into_owned(), v.into_owned()]).collect::<Vec<_>>()
    };
    if crate::hygiene::any_forbidden(fields.iter().map(String::as_str)) {
        return PageError::BadRequest("表单包含不允许的字符".into()).into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    login_token: String,
    notice: Option<String>,
    login: String,
    sandbox: bool,
}

async fn home(State(state): State<HttpState>, jar: CookieJar) -> Result<Response, Gate> {
    Ok(match visitor(&state.app, &jar).await? {
        None => Redirect::to("/console/login").into_response(),
        Some(v) if v.user.role == ConsoleRole::Operator => Redirect::to("/console/providers").into_response(),
        Some(v) if v.user.role == ConsoleRole::Merchant => Redirect::to("/console/merchant").into_response(),
        Some(_) => Redirect::to("/console/my").into_response(),
    })
}

fn login_form(app: &App, jar: CookieJar, status: StatusCode, notice: Option<String>, login: String) -> Response {
    let token = app.rng.token(TOKEN_LEN);
    let page = LoginPage { login_token: token.clone(), notice, login, sandbox: app.mode() == Mode::Sandbox };
    let jar = jar.add(cookie(app, login_cookie_name(app.mode()), token, 3600));
    (jar, render(status, &page)).into_response()
}

async fn login_page(State(state): State<HttpState>, jar: CookieJar) -> Result<Response, Gate> {
    if visitor(&state.app, &jar).await?.is_some() {
        return Ok(Redirect::to("/console").into_response());
    }
    Ok(login_form(&state.app, jar, StatusCode::OK, None, String::new()))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    login: String,
    password: String,
    login_token: String,
}

async fn login(
    State(state): State<HttpState>,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Result<Response, Gate> {
    let app = &state.app;
    // Double-submit: the form's token must be the cookie this browser got
    // with the form, so another site cannot log a victim in as someone else.
    let expected = jar.get(login_cookie_name(app.mode())).map(|c| c.value().to_owned()).unwrap_or_default();
    let fresh =
        Session { token_sha256: String::new(), login: String::new(), csrf: Secret::new(expected), expires_at: 0 };
    if !csrf_matches(&fresh, &f.login_token) {
        let notice = Some("登录表单已过期，请重试".to_owned());
        return Ok(login_form(app, jar, StatusCode::BAD_REQUEST, notice, f.login));
    }
    let now = app.clock.wall_now().unix();
    let wrong = |jar, status, text: &str| Ok(login_form(app, jar, status, Some(text.to_owned()), f.login.clone()));
    if f.login.is_empty() || f.login.len() > MAX_LOGIN_LEN {
        return wrong(jar, StatusCode::UNAUTHORIZED, "账号或密码错误");
    }
    let throttled = "密码错误次数过多，请15分钟后再试";
    if let Some(ip) = connect.map(|c| c.0 .0.ip()) {
        if !state.login_addresses.attempt(&ip.to_string(), now)? {
            return wrong(jar, StatusCode::TOO_MANY_REQUESTS, throttled);
        }
    }
    let key = format!("console:{}", f.login);
    if !state.logins.attempt(&key, now)? {
        return wrong(jar, StatusCode::TOO_MANY_REQUESTS, throttled);
    }
    let user = app.store.console_user(&f.login).await?;
    let exists = user.is_some();
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => super::cashier::dummy_hash()?,
    };
    let password = f.password.clone();
    let valid = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| koudai_app::Internal::bug(format!("password check: {e}")))??;
    if !(valid && exists) {
        return wrong(jar, StatusCode::UNAUTHORIZED, "账号或密码错误");
    }
    state.logins.succeeded(&key)?;
    let token = app.rng.token(TOKEN_LEN);
    let session = Session {
        token_sha256: token_digest(&token),
        login: f.login.clone(),
        csrf: Secret::new(app.rng.token(TOKEN_LEN)),
        expires_at: app.clock.wall_now().plus(SESSION_TTL_S).unix(),
    };
    app.store.create_session(SessionRealm::Console, &session).await?;
    let jar = jar
        .remove(Cookie::build(login_cookie_name(app.mode())).path(if app.mode() == Mode::Live {
            "/"
        } else {
            "/console"
        }))
        .add(cookie(app, cookie_name(app.mode()), token, SESSION_TTL_S));
    Ok((jar, Redirect::to("/console")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(state): State<HttpState>, jar: CookieJar, Form(f): Form<CsrfForm>) -> Result<Response, Gate> {
    let app = &state.app;
    let Some(v) = visitor(app, &jar).await? else { return Ok(Redirect::to("/console/login").into_response()) };
    check_csrf(&v, &f.csrf)?;
    app.store.delete_session(SessionRealm::Console, &v.session.token_sha256).await?;
    let path = if app.mode() == Mode::Live { "/" } else { "/console" };
    let jar = jar.remove(Cookie::build(cookie_name(app.mode())).path(path));
    Ok((jar, Redirect::to("/console/login")).into_response())
}
