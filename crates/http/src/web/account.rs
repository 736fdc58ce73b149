//! An official account's page as a consumer sees it (`/mp/{appid}`): its
//! name, follow and unfollow, its custom menu (click buttons send CLICK
//! with their key, view buttons send VIEW and open the URL), and a chat:
//! each message or event goes to the account's server, and its passive
//! reply is shown. Consumers sign in with their wallet (the cashier's
//! session); every form carries the session's CSRF token.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_app::mp::push::{self as mp_push, Push, PushError};
use koudai_app::parties::verify_password;
use koudai_domain::mp::Button;
use koudai_store::{MpAccount, Session};

use super::page::{render, PageError};
use super::session::{self, csrf_matches};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/mp/{appid}", get(page))
        .route("/mp/{appid}/login", post(login))
        .route("/mp/{appid}/follow", post(follow))
        .route("/mp/{appid}/click", post(click))
        .route("/mp/{appid}/view", post(view))
        .route("/mp/{appid}/message", post(message))
}

struct Line {
    summary: String,
    reply: Option<String>,
}

struct Viewer {
    csrf: String,
    following: bool,
    chat: Vec<Line>,
}

#[derive(Template)]
#[template(path = "account/page.html")]
struct AccountPage {
    appid: String,
    name: String,
    original_id: String,
    viewer: Option<Viewer>,
    menu: Vec<Button>,
    notice: Option<String>,
    /// Where signing in returns to.
    next: Option<String>,
    /// Approved stores with a pay code: (poi_id, name).
    stores: Vec<(String, String)>,
}

async fn account(state: &HttpState, appid: &str) -> Result<MpAccount, PageError> {
    let plain = !appid.is_empty() && appid.len() <= 64 && appid.bytes().all(|b| b.is_ascii_alphanumeric());
    let found = if plain { state.app.store.mp_account(appid).await? } else { None };
    found.ok_or_else(|| PageError::NotFound("公众号不存在".into()))
}

/// How a reply reads in the chat.
fn reply_text(reply: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(reply).ok()?;
    Some(match v["msg_type"].as_str()? {
        "text" => v["content"].as_str().unwrap_or_default().to_owned(),
        "news" => v["articles"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["title"].as_str()).collect::<Vec<_>>().join(" · "))
            .unwrap_or_default(),
        other => format!("[{other}]"),
    })
}

async fn render_page(
    state: &HttpState,
    a: &MpAccount,
    s: Option<&Session>,
    notice: Option<String>,
    next: Option<String>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let viewer = match s {
        None => None,
        Some(s) => {
            let openid = koudai_app::parties::openid_for(&app.store, &app.rng, &s.login, &a.appid).await.map_err(
                |e| match e {
                    koudai_app::parties::PartyError::Internal(e) => PageError::Internal(e),
                    other => PageError::Internal(koudai_app::Internal::bug(format!("an openid: {other}"))),
                },
            )?;
            let chat = app
                .store
                .chat(&a.appid, &openid, 50)
                .await?
                .into_iter()
                .map(|l| Line { summary: l.summary, reply: l.reply.as_deref().and_then(reply_text) })
                .collect();
            Some(Viewer {
                csrf: s.csrf.expose().clone(),
                following: app.store.is_following(&a.appid, &openid).await?,
                chat,
            })
        }
    };
    let menu = koudai_app::mp::menu_for_consumer(app, a).await.map_err(PageError::Internal)?;
    let (rows, _) = app.store.pois(&a.appid, 0, 20).await?;
    let mut stores = Vec::new();
    for r in rows.iter().filter(|r| r.available_state == koudai_domain::poi::state::APPROVED) {
        let info: serde_json::Value = serde_json::from_str(&r.base_info).unwrap_or_default();
        let name =
            format!("{} {}", info["business_name"].as_str().unwrap_or(""), info["branch_name"].as_str().unwrap_or(""));
        stores.push((r.poi_id.clone(), name.trim().to_owned()));
    }
    let page = AccountPage {
        appid: a.appid.clone(),
        name: a.name.clone(),
        original_id: a.original_id.clone(),
        viewer,
        menu,
        notice,
        next,
        stores,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let a = account(&state, &appid).await?;
    let s = session::current(&state.app, &jar).await?;
    render_page(&state, &a, s.as_ref(), None, safe_next(&q.next)).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    login: String,
    password: String,
    next: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct NextQuery {
    pub next: String,
}

/// Where a sign-in may send the consumer back to: a store pay code or the
/// discovery centre, never another site.
pub(super) fn safe_next(next: &str) -> Option<String> {
    let ok = next.len() <= 300
        && (next.starts_with("/store/") || next == "/discover" || next.starts_with("/discover?"))
        && !next.contains("//")
        && !next.contains('\\')
        && next.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| next.to_owned())
}

/// Checks a wallet login and password (throttled); the session cookie, or
/// the message to show.
pub(super) async fn sign_in(
    state: &HttpState,
    login: &str,
    password: &str,
) -> Result<Result<axum_extra::extract::cookie::Cookie<'static>, &'static str>, PageError> {
    let app = &state.app;
    if login.is_empty() || login.len() > 64 {
        return Ok(Err("账号或密码错误"));
    }
    if !state.logins.attempt(login, app.clock.wall_now().unix())? {
        return Ok(Err("密码错误次数过多，请15分钟后再试"));
    }
    let consumer = app.store.consumer(login).await?;
    let exists = consumer.is_some();
    let hash = match consumer {
        Some(c) => c.password_hash,
        None => super::cashier::dummy_hash()?,
    };
    let password = password.to_owned();
    let valid = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| koudai_app::Internal::bug(format!("password check: {e}")))??;
    if !(valid && exists) {
        return Ok(Err("账号或密码错误"));
    }
    state.logins.succeeded(login)?;
    let (_, cookie) = session::start(app, login).await?;
    Ok(Ok(cookie))
}

async fn login(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    let a = account(&state, &appid).await?;
    match sign_in(&state, &f.login, &f.password).await? {
        Err(text) => render_page(&state, &a, None, Some(text.to_owned()), safe_next(&f.next)).await,
        Ok(cookie) => {
            let to = safe_next(&f.next).unwrap_or_else(|| format!("/mp/{appid}"));
            Ok((jar.add(cookie), (StatusCode::SEE_OTHER, [(header::LOCATION, to)])).into_response())
        }
    }
}

fn back(appid: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/mp/{appid}"))]).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActForm {
    csrf: String,
    action: String,
    key: String,
    url: String,
    content: String,
}

/// The signed-in consumer and the account, with the form's token checked.
async fn actor(state: &HttpState, jar: &CookieJar, appid: &str, csrf: &str) -> Result<(MpAccount, Session), PageError> {
    let a = account(state, appid).await?;
    let s = session::current(&state.app, jar).await?.ok_or_else(|| PageError::BadRequest("请先登录".into()))?;
    if !csrf_matches(&s, csrf) {
        return Err(PageError::BadRequest("表单已过期，请刷新页面后重试".into()));
    }
    Ok((a, s))
}

async fn send(
    state: &HttpState,
    a: &MpAccount,
    s: &Session,
    push: Push,
    summary: &str,
) -> Result<Option<String>, PageError> {
    match mp_push::consumer_sends(&state.app, a, &s.login, &push, summary).await {
        Ok(()) => Ok(None),
        Err(e @ (PushError::UnknownOpenid | PushError::NoServer)) => Ok(Some(e.to_string())),
        Err(PushError::Internal(e)) => Err(PageError::Internal(e)),
    }
}

async fn follow(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    let (a, s) = actor(&state, &jar, &appid, &f.csrf).await?;
    let (event, summary) = match f.action.as_str() {
        "unsubscribe" => ("unsubscribe", "取消关注"),
        _ => ("subscribe", "关注了公众号"),
    };
    match send(&state, &a, &s, Push::Event { event: event.into(), event_key: None }, summary).await? {
        None => Ok(back(&appid)),
        Some(notice) => render_page(&state, &a, Some(&s), Some(notice), None).await,
    }
}

async fn click(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    let (a, s) = actor(&state, &jar, &appid, &f.csrf).await?;
    let summary = format!("[菜单] {}", f.key);
    match send(&state, &a, &s, Push::Event { event: "CLICK".into(), event_key: Some(f.key.clone()) }, &summary).await? {
        None => Ok(back(&appid)),
        Some(notice) => render_page(&state, &a, Some(&s), Some(notice), None).await,
    }
}

async fn view(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    let (a, s) = actor(&state, &jar, &appid, &f.csrf).await?;
    // Only a URL of the account's own menu is followed.
    let menu = koudai_app::mp::menu_for_consumer(&state.app, &a).await.map_err(PageError::Internal)?;
    let known = menu
        .iter()
        .flat_map(|b| std::iter::once(b).chain(b.sub_button.iter()))
        .any(|b| b.url.as_deref() == Some(f.url.as_str()));
    if !known {
        return Err(PageError::BadRequest("菜单中没有这个链接".into()));
    }
    let summary = format!("[打开] {}", f.url);
    send(&state, &a, &s, Push::Event { event: "VIEW".into(), event_key: Some(f.url.clone()) }, &summary).await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, f.url)]).into_response())
}

async fn message(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    let (a, s) = actor(&state, &jar, &appid, &f.csrf).await?;
    let content = f.content.trim();
    if content.is_empty() || content.chars().count() > 600 {
        return render_page(&state, &a, Some(&s), Some("消息长度应为1到600个字符".into()), None).await;
    }
    match send(&state, &a, &s, Push::Text { content: content.to_owned() }, content).await? {
        None => Ok(back(&appid)),
        Some(notice) => render_page(&state, &a, Some(&s), Some(notice), None).await,
    }
}
