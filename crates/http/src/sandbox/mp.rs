//! Official accounts and the third-party platform in the sandbox: an
//! account's server set and a consumer's message or event pushed to it,
//! the OAuth consent without the browser, and a component's authorisation,
//! verify ticket and event URL.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use koudai_app::mp::oauth::{AuthorizeError, AuthorizeRequest};
use koudai_app::App;
use koudai_protocol::ErrorCode;

use super::access::{authorize, mp_account_for, ok_json, param, Scope};
use crate::state::HttpState;
use crate::v3::body::{json_body, required_text};
use crate::v3::V3Error;

#[derive(Deserialize)]
struct ServerBody {
    url: Option<String>,
    message_mode: Option<String>,
}

/// `POST /sandbox/v1/mp/{appid}/server` `{"url", "message_mode"}`: sets the
/// account's server after the URL verification handshake; at once.
pub(super) async fn mp_server(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let b: ServerBody = json_body(&body)?;
    let url = required_text(b.url, "url")?;
    let mode = b.message_mode.unwrap_or_else(|| "plain".into());
    koudai_app::mp::server::set_server(app, &a.appid, &url, &mode).await.map_err(|e| match e {
        koudai_app::mp::server::ServerError::Internal(e) => V3Error::internal(e),
        koudai_app::mp::server::ServerError::BadMode => {
            param("message_mode", "message_mode 只能是 plain、compatible 或 safe")
        }
        koudai_app::mp::server::ServerError::BadUrl => param("url", "url 必须是 http(s) 地址"),
        other => V3Error::message(ErrorCode::InvalidRequest, other.to_string()),
    })?;
    ok_json(&json!({"appid": a.appid, "server_url": url, "message_mode": mode}))
}

#[derive(Deserialize)]
struct PushBody {
    openid: Option<String>,
    msg_type: Option<String>,
    content: Option<String>,
    event: Option<String>,
    event_key: Option<String>,
}

/// `POST /sandbox/v1/mp/{appid}/push`: a consumer's text or event, sent to
/// the account's server now; answers whether it took it and its reply.
pub(super) async fn mp_push(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::mp::push::PushError;
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let b: PushBody = json_body(&body)?;
    let openid = required_text(b.openid, "openid")?;
    let push = match required_text(b.msg_type, "msg_type")?.as_str() {
        "text" => koudai_app::mp::push::Push::Text { content: required_text(b.content, "content")? },
        "event" => {
            let event = required_text(b.event, "event")?;
            if !["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN"].contains(&event.as_str()) {
                return Err(param("event", "event 只能是 subscribe、unsubscribe、CLICK、VIEW 或 SCAN"));
            }
            koudai_app::mp::push::Push::Event { event, event_key: b.event_key.filter(|k| !k.is_empty()) }
        }
        _ => return Err(param("msg_type", "msg_type 只能是 text 或 event")),
    };
    let pushed = koudai_app::mp::push::push_now(&state.app, &a, &openid, &push).await.map_err(|e| match e {
        PushError::UnknownOpenid | PushError::NoServer => V3Error::message(ErrorCode::InvalidRequest, e.to_string()),
        PushError::Internal(e) => V3Error::internal(e),
    })?;
    ok_json(&json!({"delivered": pushed.delivered, "reply": pushed.reply}))
}

#[derive(Deserialize)]
struct OauthBody {
    appid: Option<String>,
    consumer: Option<String>,
    scope: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    component_appid: Option<String>,
}

/// `POST /sandbox/v1/oauth/authorize` `{"appid", "consumer", "scope",
/// "redirect_uri", "state"}`: the consumer's consent without the browser;
/// answers `{"redirect": "<redirect_uri>?code=…&state=…"}`.
pub(super) async fn oauth_authorize(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    authorize(app, &headers).await?;
    let b: OauthBody = json_body(&body)?;
    let appid = required_text(b.appid, "appid")?;
    let consumer = required_text(b.consumer, "consumer")?;
    let scope = b.scope.unwrap_or_else(|| "snsapi_base".into());
    let redirect_uri = required_text(b.redirect_uri, "redirect_uri")?;
    let request = AuthorizeRequest {
        appid,
        scope,
        redirect_uri,
        state: b.state.unwrap_or_default(),
        component_appid: b.component_appid.filter(|c| !c.is_empty()),
    };
    let account = koudai_app::mp::oauth::check_authorize(app, &request).await.map_err(|e| match e {
        AuthorizeError::Internal(e) => V3Error::internal(e),
        e @ (AuthorizeError::Appid
        | AuthorizeError::Scope
        | AuthorizeError::RedirectUri
        | AuthorizeError::Component(_)) => V3Error::message(ErrorCode::ParamError, e.to_string()),
    })?;
    if app.store.consumer(&consumer).await.map_err(|e| V3Error::internal(e.into()))?.is_none() {
        return Err(param("consumer", "付款用户不存在"));
    }
    let redirect = koudai_app::mp::oauth::grant(app, &account, &request, &consumer).await?;
    ok_json(&json!({"redirect": redirect}))
}

/// The component a sandbox call names, if the token covers its provider.
async fn component_for(app: &App, scope: &Scope, appid: &str) -> Result<koudai_store::Component, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("第三方平台{appid}不存在"));
    let c = app.store.component(appid).await.map_err(|e| V3Error::internal(e.into()))?.ok_or_else(missing)?;
    if !scope.covers(&c.provider_mchid) {
        return Err(missing());
    }
    Ok(c)
}

/// `POST /sandbox/v1/component/{component_appid}/ticket`: a verify ticket
/// pushed now; answers the ticket and whether the event URL took it
/// (`delivered` is null without an event URL).
pub(super) async fn component_ticket(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let c = component_for(app, &scope, &appid).await?;
    let (ticket, delivered) = koudai_app::mp::component::push_ticket_now(&state.app, &c).await?;
    ok_json(&json!({"component_appid": c.component_appid, "ticket": ticket, "delivered": delivered}))
}

#[derive(Deserialize)]
struct EventUrlBody {
    url: Option<String>,
}

/// `POST /sandbox/v1/component/{component_appid}/event-url` `{"url"}`: sets
/// the authorisation event URL after the `echostr` handshake; at once.
pub(super) async fn component_event_url(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let c = component_for(app, &scope, &appid).await?;
    let b: EventUrlBody = json_body(&body)?;
    let url = required_text(b.url, "url")?;
    koudai_app::mp::component::set_event_url(app, &c, &url).await.map_err(|e| match e {
        koudai_app::mp::server::ServerError::Internal(e) => V3Error::internal(e),
        koudai_app::mp::server::ServerError::BadUrl => param("url", "url 必须是 http(s) 地址"),
        other => V3Error::message(ErrorCode::InvalidRequest, other.to_string()),
    })?;
    ok_json(&json!({"component_appid": c.component_appid, "event_url": url}))
}

#[derive(Deserialize)]
struct ComponentAuthorizeBody {
    pre_auth_code: Option<String>,
    authorizer_appid: Option<String>,
    func_ids: Option<Vec<i64>>,
    take_exclusive: Option<bool>,
    redirect_uri: Option<String>,
}

/// `POST /sandbox/v1/component/authorize` `{"pre_auth_code",
/// "authorizer_appid", "func_ids", "take_exclusive"?, "redirect_uri"?}`: the
/// account owner's consent without the browser; answers `{"redirect"}`, or
/// 403 `NO_AUTH` with `detail.refused: [{"id", "reason"}]`.
pub(super) async fn component_authorize(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::mp::component::{consent, Consent, ConsentError};
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: ComponentAuthorizeBody = json_body(&body)?;
    let pre_auth_code = required_text(b.pre_auth_code, "pre_auth_code")?;
    let authorizer_appid = required_text(b.authorizer_appid, "authorizer_appid")?;
    let owner = match &scope {
        Scope::Platform => None,
        Scope::Merchant(m) => Some(m.clone()),
    };
    let c = Consent {
        pre_auth_code,
        authorizer_appid,
        func_ids: b.func_ids.unwrap_or_default(),
        take_exclusive: b.take_exclusive.unwrap_or(false),
        redirect_uri: b.redirect_uri.filter(|u| !u.is_empty()),
        owner,
    };
    match consent(app, c).await {
        Ok(redirect) => ok_json(&json!({"redirect": redirect})),
        Err(ConsentError::Internal(e)) => Err(V3Error::internal(e)),
        Err(ConsentError::Refused(list)) => {
            let refused: Vec<_> = list.iter().map(|r| json!({"id": r.id, "reason": r.reason})).collect();
            let text: Vec<String> = list.iter().map(|r| r.reason.clone()).collect();
            Err(V3Error::message(ErrorCode::NoAuth, format!("以下权限集不能授权: {}", text.join("; ")))
                .detail(json!({"refused": refused})))
        }
        Err(e @ (ConsentError::NoAccount(_) | ConsentError::NotOwner)) => {
            Err(V3Error::message(ErrorCode::ResourceNotExists, e.to_string()))
        }
        Err(e @ (ConsentError::NoSets | ConsentError::NoRedirect | ConsentError::BadRedirect)) => {
            Err(V3Error::message(ErrorCode::ParamError, e.to_string()))
        }
        Err(e) => Err(V3Error::message(ErrorCode::InvalidRequest, e.to_string())),
    }
}
