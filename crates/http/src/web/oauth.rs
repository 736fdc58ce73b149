//! The web OAuth authorize page (`/connect/oauth2/authorize`, protocol
//! notes `wechat-mp.md` §5.1): a consumer signs in with the wallet login
//! (throttled like every login) and, for `snsapi_userinfo`, allows or
//! denies; the browser then goes to `redirect_uri` with `code` and `state`
//! (or `state` alone when denied). With `component_appid` a third-party
//! platform asks on the account's behalf (§5.5): it must hold permission
//! set 4 for the account, and the callback also carries `appid`. Request
//! errors are pages, not JSON. The checks and the code are the use cases'
//! (`koudai_app::mp::oauth`); this page owns the sign-in and its texts.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use koudai_app::mp::oauth::{self, AuthorizeError, AuthorizeRequest};
use koudai_app::parties::verify_password;
use koudai_app::Mode;

use super::page::{render, PageError};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new().route("/connect/oauth2/authorize", get(page).post(submit))
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Params {
    appid: String,
    redirect_uri: String,
    response_type: String,
    scope: String,
    state: String,
    /// A third-party platform asking on the account's behalf.
    component_appid: String,
    login: String,
    password: String,
    consent: String,
}

#[derive(Template)]
#[template(path = "oauth/authorize.html")]
struct AuthorizePage {
    account_name: String,
    userinfo: bool,
    hidden: Vec<(&'static str, String)>,
    error: Option<String>,
    sandbox: bool,
}

fn view(name: &str, p: &Params, error: Option<String>, sandbox: bool) -> AuthorizePage {
    let mut hidden = vec![
        ("appid", p.appid.clone()),
        ("redirect_uri", p.redirect_uri.clone()),
        ("response_type", "code".into()),
        ("scope", p.scope.clone()),
        ("state", p.state.clone()),
    ];
    if let Some(c) = component(p) {
        hidden.push(("component_appid", c.to_owned()));
    }
    AuthorizePage { account_name: name.to_owned(), userinfo: p.scope == "snsapi_userinfo", hidden, error, sandbox }
}

fn component(p: &Params) -> Option<&str> {
    Some(p.component_appid.as_str()).filter(|c| !c.is_empty())
}

/// The authorize request the page's parameters make.
fn request(p: &Params) -> AuthorizeRequest {
    AuthorizeRequest {
        appid: p.appid.clone(),
        scope: p.scope.clone(),
        redirect_uri: p.redirect_uri.clone(),
        state: p.state.clone(),
        component_appid: component(p).map(str::to_owned),
    }
}

async fn account(state: &HttpState, p: &Params) -> Result<koudai_store::MpAccount, PageError> {
    oauth::check_authorize(&state.app, &request(p)).await.map_err(|e| match e {
        AuthorizeError::Internal(e) => PageError::Internal(e),
        e @ (AuthorizeError::Appid
        | AuthorizeError::Scope
        | AuthorizeError::RedirectUri
        | AuthorizeError::Component(_)) => PageError::BadRequest(format!("授权参数错误 {e}")),
    })
}

async fn page(State(state): State<HttpState>, Query(p): Query<Params>) -> Result<Response, PageError> {
    let a = account(&state, &p).await?;
    Ok(render(StatusCode::OK, &view(&a.name, &p, None, state.app.mode() == Mode::Sandbox)))
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

async fn submit(State(state): State<HttpState>, Form(p): Form<Params>) -> Result<Response, PageError> {
    let app = &state.app;
    let a = account(&state, &p).await?;
    let sandbox = app.mode() == Mode::Sandbox;
    if p.consent == "deny" {
        return Ok(redirect(&oauth::declined(&p.redirect_uri, &p.state)));
    }
    let wrong = |status, text: &str| Ok(render(status, &view(&a.name, &p, Some(text.to_owned()), sandbox)));
    if p.login.is_empty() || p.login.len() > 64 {
        return wrong(StatusCode::UNAUTHORIZED, "账号或密码错误");
    }
    let now = app.clock.wall_now().unix();
    if !state.logins.attempt(&p.login, now)? {
        return wrong(StatusCode::TOO_MANY_REQUESTS, "密码错误次数过多，请15分钟后再试");
    }
    let consumer = app.store.consumer(&p.login).await?;
    let exists = consumer.is_some();
    let hash = match consumer {
        Some(c) => c.password_hash,
        None => super::cashier::dummy_hash()?,
    };
    let password = p.password.clone();
    let valid = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| koudai_app::Internal::bug(format!("password check: {e}")))??;
    if !(valid && exists) {
        return wrong(StatusCode::UNAUTHORIZED, "账号或密码错误");
    }
    state.logins.succeeded(&p.login)?;
    let to = oauth::grant(app, &a, &request(&p), &p.login).await?;
    Ok(redirect(&to))
}
