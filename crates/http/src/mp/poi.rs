//! Stores (POI) on the wire (shop notes §5.1): `/cgi-bin/poi/*`, the
//! category list on both paths and methods, and `media/uploadimg`.
//! Replies use `errmsg: "ok"`; `poi_id` is always a string.

use axum::extract::{Path, Request, State};
use axum::http::{header, Method};
use axum::routing::any;
use axum::Router;
use serde_json::Value;

use koudai_app::mp::MpFailure;
use koudai_app::o2o::poi;
use koudai_protocol::mp::MpError;

use super::{body, Call, MpAnswer};
use crate::state::HttpState;

/// The largest upload read (the handler refuses above 1 MB with 40009).
const MAX_UPLOAD: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/cgi-bin/poi/{op}", any(dispatch))
        .route("/cgi-bin/api_getwxcategory", any(categories))
        .route("/cgi-bin/media/uploadimg", any(upload))
}

async fn dispatch(State(state): State<HttpState>, Path(op): Path<String>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            if op == "getwxcategory" {
                let (c, _) = Call::of(req);
                koudai_app::mp::token::authenticate(
                    &state.app,
                    Some(c.param("access_token").as_str()),
                    "poi/getwxcategory",
                )
                .await?;
                return Ok(poi::categories());
            }
            if !["addpoi", "getpoi", "getpoilist", "updatepoi", "delpoi"].contains(&op.as_str()) {
                return Err(MpError::invalid_url().into());
            }
            let (c, b) = Call::of(req);
            c.require(Method::POST)?;
            let a = poi::gate(&state.app, Some(c.param("access_token").as_str()), &format!("poi/{op}")).await?;
            let (_, v): (_, Value) = body(b).await?;
            if !v.is_object() {
                return Err(MpError::data_format().into());
            }
            let app = &state.app;
            match op.as_str() {
                "addpoi" => poi::add(app, &a, &v).await,
                "getpoi" => poi::get(app, &a, &v).await,
                "getpoilist" => poi::list(app, &a, &v).await,
                "updatepoi" => poi::update(app, &a, &v).await,
                _ => poi::delete(app, &a, &v).await,
            }
        }
        .await,
    )
}

async fn categories(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let (c, _) = Call::of(req);
            koudai_app::mp::token::authenticate(
                &state.app,
                Some(c.param("access_token").as_str()),
                "poi/getwxcategory",
            )
            .await?;
            Ok::<Value, MpFailure>(poi::categories())
        }
        .await,
    )
}

async fn upload(State(state): State<HttpState>, req: Request) -> MpAnswer {
    MpAnswer(
        async {
            let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let (c, b) = Call::of(req);
            c.require(Method::POST)?;
            let a = koudai_app::mp::token::authenticate(
                &state.app,
                Some(c.param("access_token").as_str()),
                "media/uploadimg",
            )
            .await?;
            let bytes = axum::body::to_bytes(b, MAX_UPLOAD).await.map_err(|_| MpError::invalid_image_size())?;
            poi::upload_image(&state.app, &a, content_type.as_deref(), &bytes).await
        }
        .await,
    )
}
