//! The third-party platform's API (`/cgi-bin/component/…`, protocol notes
//! `wechat-mp.md` §6.2): every call is a POST of JSON; the token is the
//! `component_access_token` query parameter (the newer docs call it
//! `access_token`; both are read). Web OAuth on an account's behalf
//! (`/sns/oauth2/component/…`, §5.5) is here too.
//!
//! This module owns the wire of those calls: it reads each body into the
//! use case's typed request (an absent or non-string field reads as empty,
//! so the use case refuses it as the real server does) and writes each
//! answer's JSON (a user token's too, for the account's own
//! `/sns/oauth2/…` as well); the refusals become errcodes in
//! `error/platform.rs`.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

use koudai_app::mp::component::{
    self, AuthorizerTokenRequest, ComponentTokenRequest, GrantedSet, SetOptionRequest, StartPushTicketRequest,
};
use koudai_app::mp::oauth::{self, CodeExchange, Exchanger, OnBehalf, TokenRefresh, UserTokenGrant};
use koudai_protocol::mp::MpError;
use koudai_store::Component;

use super::error::{ok, Answer, Failure, Reply};
use super::request::{body, Call};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/cgi-bin/component/api_component_token", any(component_token))
        .route("/cgi-bin/component/api_start_push_ticket", any(start_push_ticket))
        .route("/cgi-bin/component/api_create_preauthcode", any(create_preauthcode))
        .route("/cgi-bin/component/api_query_auth", any(query_auth))
        .route("/cgi-bin/component/api_authorizer_token", any(authorizer_token))
        .route("/cgi-bin/component/api_get_authorizer_info", any(authorizer_info))
        .route("/cgi-bin/component/api_get_authorizer_list", any(authorizer_list))
        .route("/cgi-bin/component/api_get_authorizer_option", any(get_option))
        .route("/cgi-bin/component/api_set_authorizer_option", any(set_option))
        .route("/sns/oauth2/component/access_token", any(sns_access_token))
        .route("/sns/oauth2/component/refresh_token", any(sns_refresh_token))
}

/// A body's text field (absent or not a string: empty).
fn text(body: &Value, field: &str) -> String {
    body.get(field).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The POST body of a call without a token.
async fn open_call(req: Request) -> Result<Value, Failure> {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    Ok(body(b).await?.1)
}

/// The component behind the call's token, and the body.
async fn token_call(state: &HttpState, req: Request) -> Result<(Component, Value), Failure> {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let mut token = c.param("component_access_token");
    if token.is_empty() {
        token = c.param("access_token");
    }
    // The token is checked first: a call without one is refused as such,
    // whatever its body.
    if token.is_empty() {
        return Err(MpError::access_token_missing().into());
    }
    let (_, v) = body(b).await?;
    let comp = component::authenticate(&state.app, &token, &text(&v, "component_appid")).await?;
    Ok((comp, v))
}

/// `func_info`: a set, and for an exclusive one its confirmation.
fn func_info(sets: &[GrantedSet]) -> Value {
    Value::Array(
        sets.iter()
            .map(|s| {
                let mut v = json!({"funcscope_category": {"id": s.id}});
                if s.exclusive {
                    v["confirm_info"] = json!({"need_confirm": 0, "already_confirm": 1, "can_confirm": 0});
                }
                v
            })
            .collect(),
    )
}

async fn component_token(State(state): State<HttpState>, req: Request) -> Reply {
    let v = open_call(req).await?;
    let request = ComponentTokenRequest {
        component_appid: text(&v, "component_appid"),
        component_appsecret: text(&v, "component_appsecret"),
        component_verify_ticket: text(&v, "component_verify_ticket"),
    };
    let t = component::component_token(&state.app, &request).await?;
    Ok(Answer(json!({"component_access_token": t.component_access_token, "expires_in": t.expires_in})))
}

async fn start_push_ticket(State(state): State<HttpState>, req: Request) -> Reply {
    let v = open_call(req).await?;
    let request = StartPushTicketRequest {
        component_appid: text(&v, "component_appid"),
        component_secret: text(&v, "component_secret"),
    };
    component::start_push_ticket(&state.app, &request).await?;
    Ok(ok())
}

async fn create_preauthcode(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = token_call(&state, req).await?;
    let code = component::create_pre_auth_code(&state.app, &c).await?;
    Ok(Answer(json!({"pre_auth_code": code.pre_auth_code, "expires_in": code.expires_in})))
}

async fn query_auth(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, v) = token_call(&state, req).await?;
    let a = component::query_auth(&state.app, &c, &text(&v, "authorization_code")).await?;
    Ok(Answer(json!({"authorization_info": {
        "authorizer_appid": a.authorizer_appid,
        "authorizer_access_token": a.authorizer_access_token,
        "expires_in": a.expires_in,
        "authorizer_refresh_token": a.authorizer_refresh_token,
        "func_info": func_info(&a.func_info),
    }})))
}

async fn authorizer_token(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, v) = token_call(&state, req).await?;
    let request = AuthorizerTokenRequest {
        authorizer_appid: text(&v, "authorizer_appid"),
        authorizer_refresh_token: text(&v, "authorizer_refresh_token"),
    };
    let t = component::authorizer_token(&state.app, &c, &request).await?;
    Ok(Answer(json!({"authorizer_access_token": t.authorizer_access_token, "expires_in": t.expires_in,
                     "authorizer_refresh_token": t.authorizer_refresh_token})))
}

async fn authorizer_info(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, v) = token_call(&state, req).await?;
    let i = component::authorizer_info(&state.app, &c, &text(&v, "authorizer_appid")).await?;
    Ok(Answer(json!({
        "authorizer_info": {
            "nick_name": i.nick_name,
            "head_img": "",
            "service_type_info": {"id": 2},
            "verify_type_info": {"id": 0},
            "user_name": i.user_name,
            "alias": "",
            "principal_name": i.principal_name,
            "qrcode_url": "",
            "business_info": {"open_pay": 1, "open_shake": 0, "open_scan": 0, "open_card": 0, "open_store": 0},
        },
        "authorization_info": {
            "authorizer_appid": i.authorizer_appid,
            "authorizer_refresh_token": i.authorizer_refresh_token,
            "func_info": func_info(&i.func_info),
        },
    })))
}

async fn authorizer_list(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, v) = token_call(&state, req).await?;
    // Absent or not an integer: 0 (refused as a page of nothing).
    let number = |f: &str| v.get(f).and_then(Value::as_i64).unwrap_or(0);
    let page = component::authorizer_list(&state.app, &c, number("offset"), number("count")).await?;
    let list: Vec<Value> = page
        .list
        .iter()
        .map(|a| json!({"authorizer_appid": a.authorizer_appid, "refresh_token": a.refresh_token, "auth_time": a.auth_time}))
        .collect();
    Ok(Answer(json!({"total_count": page.total_count, "list": list})))
}

async fn get_option(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, v) = token_call(&state, req).await?;
    let (appid, name) = (text(&v, "authorizer_appid"), text(&v, "option_name"));
    let o = component::get_option(&state.app, &c, &appid, &name).await?;
    Ok(Answer(json!({"authorizer_appid": o.authorizer_appid, "option_name": o.option_name,
                     "option_value": o.option_value})))
}

async fn set_option(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, v) = token_call(&state, req).await?;
    let option_value = match v.get("option_value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let request = SetOptionRequest {
        authorizer_appid: text(&v, "authorizer_appid"),
        option_name: text(&v, "option_name"),
        option_value,
    };
    component::set_option(&state.app, &c, &request).await?;
    Ok(ok())
}

/// A user access token as the OAuth calls answer it (here and in the
/// account's own `/sns/oauth2/…`).
pub(super) fn oauth_token(t: &UserTokenGrant) -> Answer {
    Answer(json!({"access_token": t.access_token, "expires_in": t.expires_in, "refresh_token": t.refresh_token,
                  "openid": t.openid, "scope": t.scope}))
}

/// The component acting for the account, as the query names it.
fn on_behalf(c: &Call) -> OnBehalf {
    OnBehalf { component_appid: c.param("component_appid"), component_access_token: c.param("component_access_token") }
}

async fn sns_access_token(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let exchange = CodeExchange {
        appid: c.param("appid"),
        code: c.param("code"),
        grant_type: c.param("grant_type"),
        by: Exchanger::Component(on_behalf(&c)),
    };
    Ok(oauth_token(&oauth::exchange_code(&state.app, &exchange).await?))
}

async fn sns_refresh_token(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let refresh = TokenRefresh {
        appid: c.param("appid"),
        refresh_token: c.param("refresh_token"),
        grant_type: c.param("grant_type"),
        on_behalf: Some(on_behalf(&c)),
    };
    Ok(oauth_token(&oauth::refresh(&state.app, &refresh).await?))
}
