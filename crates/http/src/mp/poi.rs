//! Stores (POI) on the wire (shop notes §5.1): `/cgi-bin/poi/*`, the
//! category list on both paths and methods, and `media/uploadimg`. Each
//! handler authenticates the call, reads the body into the use case's
//! typed request (`koudai_app::o2o::poi`) and writes its answer; refusals
//! become errcodes in `error/o2o.rs`. Replies use `errmsg: "ok"`; `poi_id`
//! is always a string.

use axum::extract::{Path, Request, State};
use axum::http::{header, Method};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Map, Value};

use koudai_app::o2o::poi::{self, NewPoi, Poi, PoiUpdate};
use koudai_app::App;
use koudai_protocol::mp::MpError;
use koudai_store::MpAccount;

use super::error::{ok, Answer, Failure, Reply};
use super::request::{account, body, Call};
use crate::state::HttpState;

/// The largest upload read (the handler refuses above 1 MB with 40009).
const MAX_UPLOAD: usize = 2 * 1024 * 1024;

/// The store calls under `/cgi-bin/poi/` that take a body.
const OPS: [&str; 5] = ["addpoi", "getpoi", "getpoilist", "updatepoi", "delpoi"];

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/cgi-bin/poi/{op}", any(dispatch))
        .route("/cgi-bin/api_getwxcategory", any(categories))
        .route("/cgi-bin/media/uploadimg", any(upload))
}

/// `{"errcode": 0, "errmsg": "ok", …fields}`.
fn ok_with(fields: Value) -> Answer {
    let mut answer = ok();
    if let (Some(o), Value::Object(fields)) = (answer.0.as_object_mut(), fields) {
        o.extend(fields);
    }
    answer
}

async fn dispatch(State(state): State<HttpState>, Path(op): Path<String>, req: Request) -> Reply {
    if op == "getwxcategory" {
        return categories(State(state), req).await;
    }
    if !OPS.contains(&op.as_str()) {
        return Err(MpError::invalid_url().into());
    }
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let a = account(&state, &c, &format!("poi/{op}")).await?;
    poi::admit(&state.app, &a).await?;
    let (_, v) = body(b).await?;
    if !v.is_object() {
        return Err(MpError::data_format().into());
    }
    let app = &state.app;
    match op.as_str() {
        "addpoi" => add(app, &a, &v).await,
        "getpoi" => get(app, &a, &v).await,
        "getpoilist" => list(app, &a, &v).await,
        "updatepoi" => update(app, &a, &v).await,
        "delpoi" => delete(app, &a, &v).await,
        _ => Err(MpError::invalid_url().into()),
    }
}

/// The body's `business.base_info`.
fn base_info(v: &Value) -> Result<Map<String, Value>, Failure> {
    let info = v.get("business").and_then(|b| b.get("base_info")).and_then(Value::as_object).cloned();
    info.ok_or_else(|| MpError::invalid_args_hint("the body is {\"business\": {\"base_info\": {…}}}").into())
}

/// A `poi_id` as given (a string or a number; empty otherwise).
fn poi_id_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A store's `base_info` as `getpoi` shows it: its fields, with the id and
/// the states.
fn shown(p: &Poi) -> Value {
    let mut info = p.base_info.clone();
    info.insert("poi_id".into(), json!(p.poi_id));
    info.insert("available_state".into(), json!(p.available_state));
    info.insert("update_status".into(), json!(i64::from(p.update_pending)));
    Value::Object(info)
}

async fn add(app: &App, a: &MpAccount, v: &Value) -> Reply {
    let new = NewPoi { base_info: base_info(v)? };
    let poi_id = poi::add(app, a, &new).await?;
    Ok(ok_with(json!({"poi_id": poi_id})))
}

async fn get(app: &App, a: &MpAccount, v: &Value) -> Reply {
    let p = poi::get(app, a, &poi_id_of(v.get("poi_id"))).await?;
    Ok(ok_with(json!({"business": {"base_info": shown(&p)}})))
}

/// `begin` (0) and `limit` (20 by default).
async fn list(app: &App, a: &MpAccount, v: &Value) -> Reply {
    let begin = v.get("begin").and_then(Value::as_i64).unwrap_or(0);
    let limit = v.get("limit").and_then(Value::as_i64).unwrap_or(20);
    let page = poi::list(app, a, begin, limit).await?;
    let list: Vec<Value> = page.pois.iter().map(|p| json!({"base_info": shown(p)})).collect();
    Ok(ok_with(json!({"business_list": list, "total_count": page.total})))
}

/// The store is named inside `base_info`, beside the changes.
async fn update(app: &App, a: &MpAccount, v: &Value) -> Reply {
    let mut changes = base_info(v)?;
    let poi_id = poi_id_of(changes.remove("poi_id").as_ref());
    poi::update(app, a, &PoiUpdate { poi_id, changes }).await?;
    Ok(ok())
}

async fn delete(app: &App, a: &MpAccount, v: &Value) -> Reply {
    poi::delete(app, a, &poi_id_of(v.get("poi_id"))).await?;
    Ok(ok())
}

/// The category list (any method; no store capability needed).
async fn categories(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, _) = Call::of(req);
    account(&state, &c, "poi/getwxcategory").await?;
    Ok(ok_with(json!({"category_list": poi::categories()})))
}

/// One image file part (any field name), JPG or PNG, at most 1 MB; answers
/// `{"url"}` served by this server.
async fn upload(State(state): State<HttpState>, req: Request) -> Reply {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let a = account(&state, &c, "media/uploadimg").await?;
    let bytes = axum::body::to_bytes(b, MAX_UPLOAD).await.map_err(|_| MpError::invalid_image_size())?;
    let parts = koudai_protocol::multipart::parse(content_type.as_deref(), &bytes).unwrap_or_default();
    let data = parts.into_iter().find(|p| p.filename.is_some() || !p.data.is_empty()).map(|p| p.data);
    let data = data.ok_or_else(MpError::media_data_missing)?;
    Ok(Answer(json!({"url": poi::store_photo(&state.app, &a, data).await?})))
}
