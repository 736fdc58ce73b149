//! The Official Account surface (`/cgi-bin/…`, `/sns/…`, `/merchant/…`):
//! here access tokens, custom menus and user OAuth; in the children the
//! third-party platform (`component`), the shop (`shop`), stores (`poi`) and
//! QR codes (`qr`), with `request` (reading a call) and `error` (answers and
//! errcodes) shared by all. Its conventions (protocol notes `wechat-mp.md`
//! §1): every answer is HTTP 200, a refusal is `{"errcode": <int>,
//! "errmsg"}`, bodies are JSON whatever the `Content-Type` says, and a wrong
//! method is 43001 or 43002 rather than a 405.

use axum::extract::{Request, State};
use axum::http::Method;

use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

use koudai_app::mp::token::StableTokenRequest;
use koudai_app::{mp, Internal};
use koudai_domain::mp::{self as rules, Button, MenuError};
use koudai_protocol::mp::MpError;

mod component;
pub(crate) mod error;
mod poi;
pub(crate) mod qr;
mod request;
mod shop;

pub(crate) use error::{ok, Answer, Failure, Reply};
use request::{account, body, Call};

use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/cgi-bin/token", any(token))
        .route("/cgi-bin/stable_token", any(stable_token))
        .route("/cgi-bin/menu/create", any(menu_create))
        .route("/cgi-bin/menu/get", any(menu_get))
        .route("/cgi-bin/menu/delete", any(menu_delete))
        .route("/cgi-bin/get_current_selfmenu_info", any(selfmenu_info))
        .route("/cgi-bin/menu/addconditional", any(add_conditional))
        .route("/cgi-bin/menu/delconditional", any(del_conditional))
        .route("/cgi-bin/menu/trymatch", any(try_match))
        .route("/sns/oauth2/access_token", any(sns_access_token))
        .route("/sns/oauth2/refresh_token", any(sns_refresh_token))
        .route("/sns/userinfo", any(sns_userinfo))
        .route("/sns/auth", any(sns_auth))
        .merge(component::routes())
        .merge(shop::routes())
        .merge(qr::routes())
        .merge(poi::routes())
}

async fn token(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let (grant_type, appid, secret) = (c.param("grant_type"), c.param("appid"), c.param("secret"));
    let answer = mp::token::fetch_token(&state.app, &grant_type, &appid, &secret, c.peer).await?;
    Ok(Answer(json!(answer)))
}

async fn stable_token(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let (_, v) = body(b).await?;
    let text = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default().to_owned();
    let request = StableTokenRequest {
        grant_type: text("grant_type"),
        appid: text("appid"),
        secret: text("secret"),
        force_refresh: v.get("force_refresh").and_then(Value::as_bool).unwrap_or(false),
    };
    Ok(Answer(json!(mp::token::stable_token(&state.app, &request, c.peer).await?)))
}

/// A menu body, checked: its buttons (47001 for a body that is not a JSON
/// object reads as a malformed menu; `\uXXXX` escapes are refused).
async fn menu_body(b: axum::body::Body) -> Result<(Vec<Button>, Value), Failure> {
    let (raw, v) = match body(b).await {
        Err(Failure::Refused(e)) if e.errcode == MpError::data_format().errcode => {
            return Err(MenuError::ButtonSize.into())
        }
        other => other?,
    };
    if rules::has_unicode_escapes(&raw) {
        return Err(MenuError::Charset.into());
    }
    Ok((rules::validate_menu(&v)?, v))
}

/// A button as `menu/get` shows it: every button with a `sub_button` list.
fn echo(b: &Button) -> Result<Value, Failure> {
    let mut v = serde_json::to_value(b).map_err(|e| Internal::bug(format!("a button: {e}")))?;
    v["sub_button"] = Value::Array(b.sub_button.iter().map(echo).collect::<Result<_, _>>()?);
    Ok(v)
}

/// A button as `get_current_selfmenu_info` shows it: a parent's
/// `sub_button` is `{"list": [...]}`.
fn selfmenu(b: &Button) -> Result<Value, Failure> {
    let mut v = serde_json::to_value(b).map_err(|e| Internal::bug(format!("a button: {e}")))?;
    if !b.sub_button.is_empty() {
        v["sub_button"] = json!({"list": b.sub_button.iter().map(selfmenu).collect::<Result<Vec<_>, _>>()?});
    }
    Ok(v)
}

fn echo_all(buttons: &[Button]) -> Result<Vec<Value>, Failure> {
    buttons.iter().map(echo).collect()
}

async fn menu_create(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let a = account(&state, &c, "menu/create").await?;
    let (buttons, _) = menu_body(b).await?;
    mp::create_menu(&state.app, &a, &buttons).await?;
    Ok(ok())
}

async fn menu_get(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let a = account(&state, &c, "menu/get").await?;
    let menus = mp::get_menu(&state.app, &a).await?;
    let mut out = json!({"menu": {"button": echo_all(&menus.default.buttons)?, "menuid": menus.default.menuid}});
    if !menus.conditional.is_empty() {
        let conditional = menus
            .conditional
            .iter()
            .map(|m| Ok(json!({"button": echo_all(&m.buttons)?, "matchrule": m.matchrule, "menuid": m.menuid})))
            .collect::<Result<Vec<_>, Failure>>()?;
        out["conditionalmenu"] = Value::Array(conditional);
    }
    Ok(Answer(out))
}

async fn menu_delete(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let a = account(&state, &c, "menu/delete").await?;
    mp::delete_menu(&state.app, &a).await?;
    Ok(ok())
}

async fn selfmenu_info(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let a = account(&state, &c, "get_current_selfmenu_info").await?;
    Ok(Answer(match mp::selfmenu_info(&state.app, &a).await? {
        Some(buttons) => {
            let shown = buttons.iter().map(selfmenu).collect::<Result<Vec<_>, _>>()?;
            json!({"is_menu_open": 1, "selfmenu_info": {"button": shown}})
        }
        None => json!({"is_menu_open": 0, "selfmenu_info": {"button": []}}),
    }))
}

async fn add_conditional(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let a = account(&state, &c, "menu/addconditional").await?;
    let (raw, v) = body(b).await?;
    if rules::has_unicode_escapes(&raw) {
        return Err(MenuError::Charset.into());
    }
    let buttons = rules::validate_menu(&v)?;
    let rule = rules::validate_matchrule(v.get("matchrule"))?;
    let menuid = mp::add_conditional(&state.app, &a, &buttons, &rule).await?;
    // A string, like the documented reply.
    Ok(Answer(json!({"menuid": menuid.to_string()})))
}

async fn del_conditional(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let a = account(&state, &c, "menu/delconditional").await?;
    let (_, v) = body(b).await?;
    let menuid = match v.get("menuid") {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    mp::del_conditional(&state.app, &a, menuid).await?;
    Ok(ok())
}

async fn try_match(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let a = account(&state, &c, "menu/trymatch").await?;
    let (_, v) = body(b).await?;
    let user = v.get("user_id").and_then(Value::as_str).unwrap_or_default();
    let buttons = mp::try_match(&state.app, &a, user).await?;
    Ok(Answer(json!({"button": echo_all(&buttons)?})))
}

async fn sns_access_token(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let exchange = mp::oauth::CodeExchange {
        appid: c.param("appid"),
        code: c.param("code"),
        grant_type: c.param("grant_type"),
        by: mp::oauth::Exchanger::Account { secret: c.param("secret") },
    };
    Ok(component::oauth_token(&mp::oauth::exchange_code(&state.app, &exchange).await?))
}

async fn sns_refresh_token(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let refresh = mp::oauth::TokenRefresh {
        appid: c.param("appid"),
        refresh_token: c.param("refresh_token"),
        grant_type: c.param("grant_type"),
        on_behalf: None,
    };
    Ok(component::oauth_token(&mp::oauth::refresh(&state.app, &refresh).await?))
}

async fn sns_userinfo(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    let u = mp::oauth::user_info(&state.app, &c.param("access_token"), &c.param("openid")).await?;
    Ok(Answer(json!({"openid": u.openid, "nickname": u.nickname, "sex": 0, "province": "", "city": "", "country": "",
                     "headimgurl": "", "privilege": []})))
}

async fn sns_auth(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    c.require(Method::GET)?;
    mp::oauth::check(&state.app, &c.param("access_token"), &c.param("openid")).await?;
    Ok(ok())
}
