//! The Official Account surface (`/cgi-bin/…`): access tokens, custom
//! menus, user OAuth and the third-party platform (`component`). Its conventions (protocol notes `wechat-mp.md` §1): every answer
//! is HTTP 200, a refusal is `{"errcode": <int>, "errmsg"}`, bodies are
//! JSON whatever the `Content-Type` says, and a wrong method is 43001 or
//! 43002 rather than a 405.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

use koudai_app::mp::{self, MpFailure};
use koudai_protocol::mp::{MpError, CONTENT_TYPE};

mod component;
mod poi;
pub(crate) mod qr;
mod shop;

use crate::layers::InternalCause;
use crate::state::HttpState;

/// Largest body of the mp surface.
const MAX_BODY: usize = 1024 * 1024;

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

/// An answer of the surface: JSON, HTTP 200.
pub struct MpAnswer(Result<Value, MpFailure>);

impl IntoResponse for MpAnswer {
    fn into_response(self) -> Response {
        let (body, cause) = match self.0 {
            Ok(v) => (v.to_string().into_bytes(), None),
            Err(MpFailure::Refused(e)) => (e.body(), None),
            Err(MpFailure::Internal(e)) => (MpError::system().body(), Some(e.to_string())),
        };
        let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        if let Some(cause) = cause {
            resp.extensions_mut().insert(InternalCause(cause));
        }
        resp
    }
}

pub(super) fn ok() -> Value {
    json!({"errcode": 0, "errmsg": "ok"})
}

/// What a handler needs of a request, taken apart before any await (a
/// request body is not `Sync`).
pub(super) struct Call {
    pub(super) method: Method,
    query: Vec<(String, String)>,
    peer: Option<std::net::IpAddr>,
}

impl Call {
    pub(super) fn of(req: Request) -> (Call, axum::body::Body) {
        let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let method = req.method().clone();
        let query = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        (Call { method, query, peer }, req.into_body())
    }

    pub(super) fn param(&self, name: &str) -> String {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    pub(super) fn require(&self, method: Method) -> Result<(), MpFailure> {
        match (self.method == method, method) {
            (true, _) => Ok(()),
            (false, Method::GET) => Err(MpError::require_get().into()),
            (false, _) => Err(MpError::require_post().into()),
        }
    }
}

/// A POST body: its bytes and its JSON (44002 empty, 47001 not JSON).
pub(super) async fn body(b: axum::body::Body) -> Result<(Vec<u8>, Value), MpFailure> {
    let bytes = axum::body::to_bytes(b, MAX_BODY).await.map_err(|_| MpError::data_format())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(MpError::empty_post_data().into());
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| MpError::data_format())?;
    if crate::hygiene::check_json(&value).is_err() {
        return Err(MpError::data_format().into());
    }
    Ok((bytes.to_vec(), value))
}

async fn token(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            let answer = mp::token::fetch_token(
                &state.app,
                &c.param("grant_type"),
                &c.param("appid"),
                &c.param("secret"),
                c.peer,
            )
            .await?;
            Ok(json!(answer))
        }
        .await,
    )
}

async fn stable_token(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, b) = Call::of(req);
            c.require(Method::POST)?;
            let (_, v) = body(b).await?;
            Ok(json!(mp::token::stable_token(&state.app, &v, c.peer).await?))
        }
        .await,
    )
}

/// The account behind the request's `access_token`.
async fn account(state: &HttpState, c: &Call, api: &str) -> Result<koudai_store::MpAccount, MpFailure> {
    mp::token::authenticate(&state.app, Some(c.param("access_token").as_str()), api).await
}

async fn menu_create(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, b) = Call::of(req);
            c.require(Method::POST)?;
            let a = account(&state, &c, "menu/create").await?;
            let (raw, v) = match body(b).await {
                // A body that is not a JSON object is a malformed menu.
                Err(MpFailure::Refused(e)) if e.errcode == 47001 => {
                    return Err(MpError::from(koudai_domain::mp::MenuError::ButtonSize).into())
                }
                other => other?,
            };
            mp::create_menu(&state.app, &a, &raw, &v).await?;
            Ok(ok())
        }
        .await,
    )
}

async fn menu_get(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            let a = account(&state, &c, "menu/get").await?;
            mp::get_menu(&state.app, &a).await
        }
        .await,
    )
}

async fn menu_delete(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            let a = account(&state, &c, "menu/delete").await?;
            mp::delete_menu(&state.app, &a).await?;
            Ok(ok())
        }
        .await,
    )
}

async fn selfmenu_info(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            let a = account(&state, &c, "get_current_selfmenu_info").await?;
            mp::selfmenu_info(&state.app, &a).await
        }
        .await,
    )
}

async fn add_conditional(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, b) = Call::of(req);
            c.require(Method::POST)?;
            let a = account(&state, &c, "menu/addconditional").await?;
            let (raw, v) = body(b).await?;
            Ok(json!({"menuid": mp::add_conditional(&state.app, &a, &raw, &v).await?}))
        }
        .await,
    )
}

async fn del_conditional(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, b) = Call::of(req);
            c.require(Method::POST)?;
            let a = account(&state, &c, "menu/delconditional").await?;
            let (_, v) = body(b).await?;
            mp::del_conditional(&state.app, &a, &v).await?;
            Ok(ok())
        }
        .await,
    )
}

async fn try_match(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, b) = Call::of(req);
            c.require(Method::POST)?;
            let a = account(&state, &c, "menu/trymatch").await?;
            let (_, v) = body(b).await?;
            mp::try_match(&state.app, &a, &v).await
        }
        .await,
    )
}

async fn sns_access_token(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            koudai_app::mp::oauth::exchange_code(
                &state.app,
                &c.param("appid"),
                &c.param("secret"),
                &c.param("code"),
                &c.param("grant_type"),
            )
            .await
        }
        .await,
    )
}

async fn sns_refresh_token(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            koudai_app::mp::oauth::refresh(
                &state.app,
                &c.param("appid"),
                &c.param("refresh_token"),
                &c.param("grant_type"),
            )
            .await
        }
        .await,
    )
}

async fn sns_userinfo(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            koudai_app::mp::oauth::user_info(&state.app, &c.param("access_token"), &c.param("openid")).await
        }
        .await,
    )
}

async fn sns_auth(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            koudai_app::mp::oauth::check(&state.app, &c.param("access_token"), &c.param("openid")).await
        }
        .await,
    )
}
