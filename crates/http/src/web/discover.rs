//! The discovery centre's consumer pages: the directory (featured slots,
//! categories, search, near me by the stores' coordinates), each entry
//! with why it is where it is, and the click link that records the click
//! and opens the account's page.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_app::discovery::{self, ClickError, Entry};

use super::page::{render, PageError};
use super::session;
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/discover", get(page))
        .route("/discover/login", post(login))
        .route("/discover/go/{token}", get(go))
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct DirectoryQuery {
    q: String,
    category: String,
    lat: String,
    lng: String,
    page: String,
}

struct EntryView {
    e: Entry,
    stars: String,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "discover/page.html")]
struct DiscoverPage {
    entries: Vec<EntryView>,
    categories: Vec<String>,
    query: DirectoryQuery,
    near: bool,
    near_km: f64,
    version: i64,
    login: Option<String>,
    error: Option<String>,
    next: String,
    page: usize,
    pages: usize,
    /// The previous and next pages' addresses, where there are such pages.
    prev_page: Option<String>,
    next_page: Option<String>,
}

fn kind_text(kind: &str) -> &'static str {
    match kind {
        "official" => "官方服务商 Official provider",
        "third_party" => "第三方服务商 Third-party provider",
        "direct" => "商户自营 Merchant",
        _ => "服务商 Provider",
    }
}

async fn show(
    state: &HttpState,
    jar: &CookieJar,
    query: DirectoryQuery,
    error: Option<String>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let s = session::current(app, jar).await?;
    let (near, mut error) = match (query.lat.trim().is_empty(), query.lng.trim().is_empty()) {
        (true, true) => (None, error),
        _ => match koudai_domain::discovery::parse_point(&query.lat, &query.lng) {
            Some(p) => (Some(p), error),
            None => (None, Some("位置无效：纬度 -90 到 90，经度 -180 到 180 Invalid location".into())),
        },
    };
    let q = discovery::Query {
        category: Some(query.category.clone()).filter(|c| !c.is_empty()),
        search: Some(query.q.trim().to_owned()).filter(|c| !c.is_empty()),
        near,
        page: query.page.trim().parse().unwrap_or(1),
    };
    if query.q.chars().count() > 60 {
        error = Some("搜索词太长 The search is too long".into());
    }
    let d = discovery::directory(app, s.as_ref().map(|s| s.login.as_str()), &q, true).await?;
    // The directory's address with the same filters (and a page).
    let address = |page: Option<usize>| {
        let mut url = form_urlencoded::Serializer::new(String::from("/discover?"));
        for (k, v) in [("q", &query.q), ("category", &query.category), ("lat", &query.lat), ("lng", &query.lng)] {
            if !v.is_empty() {
                url.append_pair(k, v);
            }
        }
        if let Some(p) = page.filter(|p| *p > 1) {
            url.append_pair("page", &p.to_string());
        }
        url.finish().trim_end_matches('?').to_owned()
    };
    let prev_page = (d.page > 1).then(|| address(Some(d.page - 1)));
    let next_page = (d.page < d.pages).then(|| address(Some(d.page + 1)));
    let next = address(Some(d.page));
    let entries = d
        .entries
        .into_iter()
        .map(|e| EntryView { stars: format!("{:.1}", e.score.stars), kind: kind_text(&e.provider_kind), e })
        .collect();
    Ok(render(
        StatusCode::OK,
        &DiscoverPage {
            entries,
            categories: d.categories,
            query,
            near: near.is_some(),
            near_km: d.config.near_km,
            version: d.version,
            login: s.map(|s| s.login),
            error,
            next,
            page: d.page,
            pages: d.pages,
            prev_page,
            next_page,
        },
    ))
}

async fn page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(query): Query<DirectoryQuery>,
) -> Result<Response, PageError> {
    show(&state, &jar, query, None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    login: String,
    password: String,
    next: String,
}

async fn login(
    State(state): State<HttpState>,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    match super::account::sign_in(&state, &f.login, &f.password).await? {
        Err(text) => show(&state, &jar, DirectoryQuery::default(), Some(text.to_owned())).await,
        Ok(cookie) => {
            let to = super::account::safe_next(&f.next).unwrap_or_else(|| "/discover".into());
            Ok((jar.add(cookie), (StatusCode::SEE_OTHER, [(header::LOCATION, to)])).into_response())
        }
    }
}

/// A click: recorded once, then on to the account's page.
async fn go(State(state): State<HttpState>, jar: CookieJar, Path(token): Path<String>) -> Result<Response, PageError> {
    let app = &state.app;
    let s = session::current(app, &jar).await?;
    match discovery::click(app, &token, s.as_ref().map(|s| s.login.as_str())).await {
        Ok((appid, _)) => Ok((StatusCode::SEE_OTHER, [(header::LOCATION, format!("/mp/{appid}"))]).into_response()),
        Err(ClickError::Invalid) => {
            Err(PageError::NotFound("链接无效 This link is not one the discovery centre made".into()))
        }
        Err(ClickError::Internal(e)) => Err(PageError::Internal(e)),
    }
}
