//! Stores (POI, shop notes §5): `addpoi` (under audit at once, the poi_id
//! final), `getpoi` (pending values shown), `getpoilist`, `updatepoi`
//! (approved stores only, one pending update at a time: 65106/65107),
//! `delpoi`, the category list, and `media/uploadimg` for their photos.
//! The operator approves or rejects a store (or its pending update) and
//! the account's server gets `poi_check_notify`. Accounts need the `stores`
//! capability of the e-commerce rules; platforms permission set 13.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use koudai_domain::eligibility as eligibility_rules;
use koudai_domain::poi::{self as rules, state, PoiError};
use koudai_protocol::mp::MpError;
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::{MpAccount, PoiRow};

use crate::mp::MpFailure;
use crate::{App, Internal};

impl From<PoiError> for MpFailure {
    fn from(e: PoiError) -> Self {
        MpFailure::Refused(e.into())
    }
}

fn ok(extra: Value) -> Value {
    let mut out = json!({"errcode": 0, "errmsg": "ok"});
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    out
}

/// The account behind a store call: its token (set 13 for a platform),
/// then the `stores` capability (48001 with the reason).
pub async fn gate(app: &App, token: Option<&str>, api: &str) -> Result<MpAccount, MpFailure> {
    let account = crate::mp::token::authenticate(app, token, api).await?;
    let now = app.clock.business_now().unix();
    match crate::access::eligibility::check(&app.store, &account.appid, eligibility_rules::STORES, now).await? {
        Ok(()) => Ok(account),
        Err(why) => Err(MpError::api_unauthorized_because(&why).into()),
    }
}

/// `media/uploadimg`: one image file part (any field name), JPG or PNG, at
/// most 1 MB; answers `{"url"}` served by this server.
pub async fn upload_image(
    app: &App,
    a: &MpAccount,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Value, MpFailure> {
    let parts = koudai_protocol::multipart::parse(content_type, body).unwrap_or_default();
    let data = parts.into_iter().find(|p| p.filename.is_some() || !p.data.is_empty()).map(|p| p.data);
    let data = data.ok_or_else(|| MpError::media_data_missing())?;
    Ok(json!({"url": store_photo(app, a, data).await?}))
}

/// Keeps a store photo (JPG or PNG by content, at most 1 MB) and answers
/// the URL it is served at, which a store's `photo_list` may name.
pub async fn store_photo(app: &App, a: &MpAccount, data: Vec<u8>) -> Result<String, MpFailure> {
    if data.is_empty() || data.len() > 1024 * 1024 {
        return Err(MpError::invalid_image_size().into());
    }
    let Some(ct @ ("image/jpeg" | "image/png")) = koudai_protocol::multipart::sniff(&data) else {
        return Err(MpError::invalid_file_type().into());
    };
    crate::commerce::shop::store_image(app, a, ct, data).await
}

fn poi_id_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

async fn own(app: &App, a: &MpAccount, poi_id: &str) -> Result<PoiRow, MpFailure> {
    let plain = !poi_id.is_empty() && poi_id.len() <= 20 && poi_id.bytes().all(|b| b.is_ascii_digit());
    let s = if plain { app.store.poi(poi_id).await? } else { None };
    s.filter(|s| s.appid == a.appid).ok_or_else(|| MpError::invalid_poi_id().into())
}

fn base_info(body: &Value) -> Result<Map<String, Value>, MpFailure> {
    body.get("business")
        .and_then(|b| b.get("base_info"))
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| MpError::invalid_args_hint("the body is {\"business\": {\"base_info\": {…}}}").into())
}

/// `poi/addpoi`.
pub async fn add(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let info = base_info(body)?;
    let issued = crate::commerce::shop::issued(app, a).await?;
    rules::validate_new(&info, &issued)?;
    let now = app.clock.business_now().unix();
    let poi_id = format!("{}", 400_000_000 + u64::from(u32::from_be_bytes(app.rng.bytes())) % 500_000_000);
    let row = PoiRow {
        poi_id: poi_id.clone(),
        appid: a.appid.clone(),
        sid: info.get("sid").and_then(Value::as_str).unwrap_or_default().to_owned(),
        base_info: Value::Object(info).to_string(),
        available_state: state::UNDER_AUDIT,
        pending: None,
        reason: String::new(),
        created_at: now,
        updated_at: now,
        prices: String::new(),
    };
    app.store.create_store(&row).await?;
    Ok(ok(json!({"poi_id": poi_id})))
}

/// The base_info as `getpoi` shows it: pending values over the approved
/// ones, with the id and the states.
fn shown(s: &PoiRow) -> Value {
    let mut info: Map<String, Value> = serde_json::from_str(&s.base_info).unwrap_or_default();
    if let Some(p) = s.pending.as_deref().and_then(|p| serde_json::from_str::<Map<String, Value>>(p).ok()) {
        info.extend(p);
    }
    info.insert("poi_id".into(), json!(s.poi_id));
    info.insert("available_state".into(), json!(s.available_state));
    info.insert("update_status".into(), json!(i64::from(s.pending.is_some())));
    Value::Object(info)
}

/// `poi/getpoi`.
pub async fn get(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let s = own(app, a, &poi_id_of(body.get("poi_id"))).await?;
    Ok(ok(json!({"business": {"base_info": shown(&s)}})))
}

/// `poi/getpoilist`: `begin`, `limit` (at most 50, 20 by default).
pub async fn list(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let begin = body.get("begin").and_then(Value::as_i64).unwrap_or(0);
    let limit = body.get("limit").and_then(Value::as_i64).unwrap_or(20);
    if begin < 0 || !(1..=50).contains(&limit) {
        return Err(MpError::invalid_args_hint("begin ≥ 0, limit 1 to 50").into());
    }
    let (rows, total) = app.store.pois(&a.appid, begin, limit).await?;
    let list: Vec<Value> = rows.iter().map(|s| json!({"base_info": shown(s)})).collect();
    Ok(ok(json!({"business_list": list, "total_count": total})))
}

/// `poi/updatepoi`: an approved store's updatable fields, reviewed before
/// they count.
pub async fn update(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let info = base_info(body)?;
    let s = own(app, a, &poi_id_of(info.get("poi_id"))).await?;
    if s.available_state != state::APPROVED {
        return Err(MpError::poi_not_approved().into());
    }
    if s.pending.is_some() {
        return Err(MpError::poi_not_modifiable().into());
    }
    let issued = crate::commerce::shop::issued(app, a).await?;
    let changes = rules::validate_update(&info, &issued)?;
    if !app
        .store
        .set_poi_pending(&s.poi_id, &Value::Object(changes).to_string(), app.clock.business_now().unix())
        .await?
    {
        return Err(MpError::poi_not_modifiable().into());
    }
    Ok(ok(json!({})))
}

/// `poi/delpoi` (not while under audit).
pub async fn delete(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let s = own(app, a, &poi_id_of(body.get("poi_id"))).await?;
    if s.available_state == state::UNDER_AUDIT {
        return Err(MpError::poi_not_approved().into());
    }
    app.store.delete_poi(&s.poi_id, app.clock.business_now().unix()).await?;
    Ok(ok(json!({})))
}

/// The category list.
pub fn categories() -> Value {
    ok(json!({"category_list": rules::categories()}))
}

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("no store {0}")]
    NoStore(String),
    #[error("store {0} has nothing waiting for review")]
    NothingToReview(String),
    #[error("a rejection needs a reason")]
    NoReason,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The operator's decision on a store under audit or on its pending update;
/// pushes `poi_check_notify` to the account's server. Returns the store
/// and whether the push was delivered (`None` with no server).
pub async fn audit(
    app: &Arc<App>,
    poi_id: &str,
    approve: bool,
    msg: &str,
) -> Result<(PoiRow, Option<bool>), AuditError> {
    let plain = !poi_id.is_empty() && poi_id.len() <= 20 && poi_id.bytes().all(|b| b.is_ascii_digit());
    let s = if plain { app.store.poi(poi_id).await.map_err(Internal::from)? } else { None };
    let s = s.ok_or_else(|| AuditError::NoStore(poi_id.to_owned()))?;
    if !approve && msg.trim().is_empty() {
        return Err(AuditError::NoReason);
    }
    let (new_state, info) = match (s.available_state, &s.pending) {
        (state::UNDER_AUDIT, _) => (if approve { state::APPROVED } else { state::REJECTED }, s.base_info.clone()),
        (state::APPROVED, Some(p)) => {
            let mut info: Map<String, Value> = serde_json::from_str(&s.base_info).unwrap_or_default();
            if approve {
                info.extend(serde_json::from_str::<Map<String, Value>>(p).unwrap_or_default());
            }
            (state::APPROVED, Value::Object(info).to_string())
        }
        _ => return Err(AuditError::NothingToReview(poi_id.to_owned())),
    };
    let now = app.clock.business_now().unix();
    app.store.decide_poi(&s.poi_id, new_state, &info, msg.trim(), now).await.map_err(Internal::from)?;
    let account = app
        .store
        .mp_account(&s.appid)
        .await
        .map_err(Internal::from)?
        .ok_or_else(|| Internal::bug("a store of no account"))?;
    let xml = mp_xml::build(&[
        Field::Text("ToUserName", &account.original_id),
        Field::Text("FromUserName", "koudai_poi_audit"),
        Field::Number("CreateTime", now),
        Field::Text("MsgType", "event"),
        Field::Text("Event", "poi_check_notify"),
        Field::Text("UniqId", &s.sid),
        Field::Text("PoiId", &s.poi_id),
        Field::Text("Result", if approve { "succ" } else { "fail" }),
        Field::Text("Msg", if msg.trim().is_empty() { "审核通过" } else { msg.trim() }),
    ]);
    let delivered =
        crate::mp::push::push_system(app, &account, xml, "mp.event.poi_check_notify", &format!("{}:{now}", s.poi_id))
            .await?;
    let s = app.store.poi(&s.poi_id).await.map_err(Internal::from)?.ok_or_else(|| Internal::bug("a store vanished"))?;
    Ok((s, delivered))
}
