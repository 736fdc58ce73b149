//! The third-party platform's authorisation page (`/cgi-bin/componentloginpage`
//! and the mobile `/safe/bindcomponent`, protocol notes `wechat-mp.md` §6.3):
//! the account's administrator signs in with the account's AppID and
//! AppSecret (Koudai has no merchant console yet; the developer
//! credentials are what proves control of an account today), sees which
//! permission sets the provider may be granted — the ones its operator
//! privileges do not allow are shown, disabled, with the reason — chooses,
//! and is sent to the provider's `redirect_uri` with `auth_code` and
//! `expires_in`. An exclusive set another provider holds moves only when
//! the administrator ticks the confirmation.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use koudai_app::mp::component::{self, Consent, ConsentError, Offer};
use koudai_app::Mode;

use super::page::{render, PageError};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/cgi-bin/componentloginpage", get(page).post(submit))
        .route("/safe/bindcomponent", get(page).post(submit))
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Params {
    component_appid: String,
    pre_auth_code: String,
    redirect_uri: String,
    auth_type: String,
    biz_appid: String,
}

struct SetRow {
    id: i64,
    name: String,
    exclusive: bool,
    refusal: Option<String>,
    checked: bool,
}

#[derive(Template)]
#[template(path = "component/authorize.html")]
struct AuthorizePage {
    provider_name: String,
    component_appid: String,
    action: String,
    hidden: Vec<(&'static str, String)>,
    appid: String,
    appid_fixed: bool,
    sets: Vec<SetRow>,
    error: Option<String>,
    refusals: Vec<String>,
    ask_exclusive: bool,
    sandbox: bool,
}

fn view(path: &str, p: &Params, offer: &Offer, chosen: Option<&[i64]>, appid: &str, sandbox: bool) -> AuthorizePage {
    let sets = offer
        .sets
        .iter()
        .map(|(s, refusal)| SetRow {
            id: s.id,
            name: s.name.clone(),
            exclusive: s.exclusive,
            refusal: refusal.clone(),
            checked: refusal.is_none() && chosen.is_none_or(|c| c.contains(&s.id)),
        })
        .collect();
    AuthorizePage {
        provider_name: offer.provider_name.clone(),
        component_appid: offer.component.component_appid.clone(),
        action: path.to_owned(),
        hidden: vec![
            ("component_appid", p.component_appid.clone()),
            ("pre_auth_code", p.pre_auth_code.clone()),
            ("redirect_uri", p.redirect_uri.clone()),
            ("auth_type", p.auth_type.clone()),
            ("biz_appid", p.biz_appid.clone()),
        ],
        appid: if p.biz_appid.is_empty() { appid.to_owned() } else { p.biz_appid.clone() },
        appid_fixed: !p.biz_appid.is_empty(),
        sets,
        error: None,
        refusals: vec![],
        ask_exclusive: false,
        sandbox,
    }
}

fn consent_error(e: ConsentError) -> PageError {
    match e {
        ConsentError::Internal(e) => PageError::Internal(e),
        other => PageError::BadRequest(format!("授权链接无效 {other}")),
    }
}

async fn offer(state: &HttpState, p: &Params) -> Result<Offer, PageError> {
    let offer = component::offer(&state.app, &p.pre_auth_code, Some(&p.redirect_uri)).await.map_err(consent_error)?;
    if offer.component.component_appid != p.component_appid {
        return Err(PageError::BadRequest("授权链接无效 the pre-auth code is not this platform's".into()));
    }
    Ok(offer)
}

async fn page(
    State(state): State<HttpState>,
    uri: axum::http::Uri,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let o = offer(&state, &p).await?;
    Ok(render(StatusCode::OK, &view(uri.path(), &p, &o, None, "", state.app.mode() == Mode::Sandbox)))
}

async fn submit(State(state): State<HttpState>, uri: axum::http::Uri, body: Bytes) -> Result<Response, PageError> {
    let app = &state.app;
    let mut p = Params::default();
    let (mut appid, mut secret, mut take_exclusive, mut chosen) = (String::new(), String::new(), false, Vec::new());
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "component_appid" => p.component_appid = v.into_owned(),
            "pre_auth_code" => p.pre_auth_code = v.into_owned(),
            "redirect_uri" => p.redirect_uri = v.into_owned(),
            "auth_type" => p.auth_type = v.into_owned(),
            "biz_appid" => p.biz_appid = v.into_owned(),
            "appid" => appid = v.trim().to_owned(),
            "secret" => secret = v.trim().to_owned(),
            "take_exclusive" => take_exclusive = v == "yes",
            "func" => chosen.extend(v.parse::<i64>().ok()),
            _ => {}
        }
    }
    let o = offer(&state, &p).await?;
    let sandbox = app.mode() == Mode::Sandbox;
    let path = uri.path().to_owned();
    let wrong = |status, text: String| {
        let mut page = view(&path, &p, &o, Some(&chosen), &appid, sandbox);
        page.error = Some(text);
        Ok(render(status, &page))
    };
    if !p.biz_appid.is_empty() && appid != p.biz_appid {
        return wrong(StatusCode::BAD_REQUEST, format!("此授权只能由公众号 {} 完成", p.biz_appid));
    }
    let plain = !appid.is_empty() && appid.len() <= 64 && appid.bytes().all(|b| b.is_ascii_alphanumeric());
    let now = app.clock.wall_now().unix();
    let key = format!("mp-admin:{appid}");
    if !state.logins.attempt(&key, now)? {
        return wrong(StatusCode::TOO_MANY_REQUESTS, "密码错误次数过多，请15分钟后再试".into());
    }
    let account = if plain { app.store.mp_account(&appid).await.map_err(koudai_app::Internal::from)? } else { None };
    let valid = account.as_ref().is_some_and(|a| {
        use subtle::ConstantTimeEq as _;
        bool::from(a.secret.as_bytes().ct_eq(secret.as_bytes()))
    });
    let Some(account) = account.filter(|_| valid) else {
        return wrong(StatusCode::UNAUTHORIZED, "AppID 或 AppSecret 错误 Wrong AppID or AppSecret".into());
    };
    state.logins.succeeded(&key)?;
    let consent = Consent {
        pre_auth_code: p.pre_auth_code.clone(),
        authorizer_appid: account.appid.clone(),
        func_ids: chosen.clone(),
        take_exclusive,
        redirect_uri: Some(p.redirect_uri.clone()),
        owner: Some(account.owner_mchid.clone()),
    };
    match component::consent(app, consent).await {
        Ok(to) => Ok((StatusCode::FOUND, [(header::LOCATION, to)]).into_response()),
        Err(ConsentError::Refused(list)) => {
            let mut page = view(&path, &p, &o, Some(&chosen), &appid, sandbox);
            page.ask_exclusive = list.iter().any(|r| r.reason.contains("exclusive"));
            page.error = Some("以下权限集不能授权 These permission sets cannot be granted:".into());
            page.refusals = list.into_iter().map(|r| r.reason).collect();
            Ok(render(StatusCode::CONFLICT, &page))
        }
        Err(ConsentError::NoSets) => {
            wrong(StatusCode::BAD_REQUEST, "请至少选择一个权限集 Choose at least one permission set".into())
        }
        Err(e) => Err(consent_error(e)),
    }
}
