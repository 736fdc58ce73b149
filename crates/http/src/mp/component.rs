//! The third-party platform's API (`/cgi-bin/component/…`, protocol notes
//! `wechat-mp.md` §6.2): every call is a POST of JSON; the token is the
//! `component_access_token` query parameter (the newer docs call it
//! `access_token`; both are read). Web OAuth on an account's behalf
//! (`/sns/oauth2/component/…`, §5.5) is here too.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::routing::any;
use axum::Router;
use serde_json::Value;

use koudai_app::mp::component;
use koudai_app::mp::MpFailure;
use koudai_store::Component;

use super::{body, ok, Call, MpAnswer};
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

/// The POST body of a call without a token.
async fn open_call(req: Request) -> Result<Value, MpFailure> {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    Ok(body(b).await?.1)
}

/// The component behind the call's token, and the body.
async fn token_call(state: &HttpState, req: Request) -> Result<(Component, Value), MpFailure> {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let mut token = c.param("component_access_token");
    if token.is_empty() {
        token = c.param("access_token");
    }
    // The token is checked first: a call without one is refused as such,
    // whatever its body.
    if token.is_empty() {
        return Err(koudai_protocol::mp::MpError::access_token_missing().into());
    }
    let (_, v) = body(b).await?;
    let comp = component::authenticate(&state.app, &token, &v).await?;
    Ok((comp, v))
}

async fn component_token(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(async { component::component_token(&state.app, &open_call(req).await?).await }.await)
}

async fn start_push_ticket(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            component::start_push_ticket(&state.app, &open_call(req).await?).await?;
            Ok(ok().0)
        }
        .await,
    )
}

async fn create_preauthcode(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = token_call(&state, req).await?;
            component::create_pre_auth_code(&state.app, &c).await
        }
        .await,
    )
}

async fn query_auth(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, v) = token_call(&state, req).await?;
            component::query_auth(&state.app, &c, &v).await
        }
        .await,
    )
}

async fn authorizer_token(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, v) = token_call(&state, req).await?;
            component::authorizer_token(&state.app, &c, &v).await
        }
        .await,
    )
}

async fn authorizer_info(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, v) = token_call(&state, req).await?;
            component::authorizer_info(&state.app, &c, &v).await
        }
        .await,
    )
}

async fn authorizer_list(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, v) = token_call(&state, req).await?;
            component::authorizer_list(&state.app, &c, &v).await
        }
        .await,
    )
}

async fn get_option(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, v) = token_call(&state, req).await?;
            component::get_option(&state.app, &c, &v).await
        }
        .await,
    )
}

async fn set_option(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, v) = token_call(&state, req).await?;
            component::set_option(&state.app, &c, &v).await?;
            Ok(ok().0)
        }
        .await,
    )
}

async fn sns_access_token(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            c.require(Method::GET)?;
            koudai_app::mp::oauth::exchange_code_component(
                &state.app,
                &c.param("appid"),
                &c.param("code"),
                &c.param("grant_type"),
                &c.param("component_appid"),
                &c.param("component_access_token"),
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
            koudai_app::mp::oauth::refresh_component(
                &state.app,
                &c.param("appid"),
                &c.param("refresh_token"),
                &c.param("grant_type"),
                &c.param("component_appid"),
                &c.param("component_access_token"),
            )
            .await
        }
        .await,
    )
}
