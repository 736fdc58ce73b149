//! Stores (POI, shop notes §5): an account's stores and their audit. The
//! store API's use cases take typed requests and refuse with their own
//! enums: [`admit`] (the `stores` capability of the e-commerce rules; the
//! surface authenticates first, platforms needing permission set 13),
//! [`add`] (under audit at once, the poi_id final), [`get`] (pending values
//! shown), [`list`], [`update`] (approved stores only, one pending update
//! at a time), [`delete`], [`categories`], and [`store_photo`] for their
//! photos (`media/uploadimg`, the console's form). A store's fields are
//! kept as the API names them and checked by the domain's rules
//! (`koudai_domain::poi`), whose [`PoiError`] is the field rejection the
//! enums carry. The operator approves or rejects a store (or its pending
//! update) with [`audit`], and the account's server gets
//! `poi_check_notify`.

use std::sync::Arc;

use serde_json::{Map, Value};

use koudai_domain::eligibility as eligibility_rules;
use koudai_domain::poi::{self as rules, state, PoiError};
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::{MpAccount, PoiRow, StoreError};

use crate::{App, Internal};

pub use crate::access::eligibility::AdmitError;

/// Whether the (authenticated) account may use the store API now.
pub async fn admit(app: &App, a: &MpAccount) -> Result<(), AdmitError> {
    crate::access::eligibility::admit(app, &a.appid, eligibility_rules::STORES).await
}

/// The store categories there are.
pub fn categories() -> &'static [String] {
    rules::categories()
}

/// Why a photo was not kept.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// Empty, or larger than 1 MB.
    #[error("a photo is at most 1 MB")]
    Size,
    /// Neither a JPG nor a PNG by its content.
    #[error("a photo is a JPG or PNG")]
    NotAnImage,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Keeps a store photo (JPG or PNG by content, at most 1 MB) and answers
/// the URL it is served at, which a store's `photo_list` may name.
pub async fn store_photo(app: &App, a: &MpAccount, data: Vec<u8>) -> Result<String, PhotoError> {
    if data.is_empty() || data.len() > 1024 * 1024 {
        return Err(PhotoError::Size);
    }
    let Some(ct @ ("image/jpeg" | "image/png")) = koudai_protocol::multipart::sniff(&data) else {
        return Err(PhotoError::NotAnImage);
    };
    Ok(crate::commerce::shop::store_image(app, a, ct, data).await?)
}

/// The account's store `poi_id`, if it names one.
async fn own(app: &App, a: &MpAccount, poi_id: &str) -> Result<Option<PoiRow>, StoreError> {
    let plain = !poi_id.is_empty() && poi_id.len() <= 20 && poi_id.bytes().all(|b| b.is_ascii_digit());
    let s = if plain { app.store.poi(poi_id).await? } else { None };
    Ok(s.filter(|s| s.appid == a.appid))
}

/// A new store: its fields (`base_info`), as the API names them.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPoi {
    pub base_info: Map<String, Value>,
}

/// Why a store was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddPoiError {
    /// A field breaks a rule of the store API.
    #[error(transparent)]
    Invalid(PoiError),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for AddPoiError {
    fn from(e: StoreError) -> Self {
        AddPoiError::Internal(e.into())
    }
}

/// `poi/addpoi`: the store, under audit; returns its poi_id.
pub async fn add(app: &App, a: &MpAccount, new: &NewPoi) -> Result<String, AddPoiError> {
    let info = &new.base_info;
    let issued = crate::commerce::shop::issued(app, a).await?;
    rules::validate_new(info, &issued).map_err(AddPoiError::Invalid)?;
    let now = app.clock.business_now().unix();
    let mut row = PoiRow {
        poi_id: String::new(),
        appid: a.appid.clone(),
        sid: info.get("sid").and_then(Value::as_str).unwrap_or_default().to_owned(),
        base_info: Value::Object(info.clone()).to_string(),
        available_state: state::UNDER_AUDIT,
        pending: None,
        reason: String::new(),
        created_at: now,
        updated_at: now,
        prices: String::new(),
    };
    // A poi_id is nine random digits (WeChat's shape): among thousands of
    // stores two can meet, so a taken one is drawn again.
    for _ in 0..POI_ID_TRIES {
        row.poi_id = format!("{}", 400_000_000 + u64::from(u32::from_be_bytes(app.rng.bytes())) % 500_000_000);
        match app.store.create_store(&row).await {
            Ok(()) => return Ok(row.poi_id),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Internal::bug(format!("{POI_ID_TRIES} poi_ids drawn in a row were all taken")).into())
}

/// How many poi_ids [`add`] draws before it gives up.
const POI_ID_TRIES: usize = 8;

/// A store as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Poi {
    pub poi_id: String,
    /// `available_state` (`koudai_domain::poi::state`).
    pub available_state: i64,
    /// Whether an update waits for review.
    pub update_pending: bool,
    /// Its fields: the pending values over the approved ones.
    pub base_info: Map<String, Value>,
}

impl Poi {
    fn of(s: &PoiRow) -> Result<Poi, Internal> {
        let mut info = stored_fields(&s.base_info)?;
        if let Some(p) = s.pending.as_deref() {
            info.extend(stored_fields(p)?);
        }
        Ok(Poi {
            poi_id: s.poi_id.clone(),
            available_state: s.available_state,
            update_pending: s.pending.is_some(),
            base_info: info,
        })
    }
}

/// Why a store was not found.
#[derive(Debug, thiserror::Error)]
pub enum GetPoiError {
    #[error("the account has no such store")]
    NoSuchPoi,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for GetPoiError {
    fn from(e: StoreError) -> Self {
        GetPoiError::Internal(e.into())
    }
}

/// `poi/getpoi`.
pub async fn get(app: &App, a: &MpAccount, poi_id: &str) -> Result<Poi, GetPoiError> {
    let s = own(app, a, poi_id).await?.ok_or(GetPoiError::NoSuchPoi)?;
    Ok(Poi::of(&s)?)
}

/// A page of the account's stores, and how many it has.
#[derive(Debug, Clone, PartialEq)]
pub struct PoiPage {
    pub pois: Vec<Poi>,
    pub total: i64,
}

/// Why a page of stores was not listed.
#[derive(Debug, thiserror::Error)]
pub enum ListPoisError {
    #[error("begin is at least 0 and limit 1 to 50")]
    PageOutOfRange,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ListPoisError {
    fn from(e: StoreError) -> Self {
        ListPoisError::Internal(e.into())
    }
}

/// `poi/getpoilist`: `limit` stores (at most 50) from the `begin`th.
pub async fn list(app: &App, a: &MpAccount, begin: i64, limit: i64) -> Result<PoiPage, ListPoisError> {
    if begin < 0 || !(1..=50).contains(&limit) {
        return Err(ListPoisError::PageOutOfRange);
    }
    let (rows, total) = app.store.pois(&a.appid, begin, limit).await?;
    Ok(PoiPage { pois: rows.iter().map(Poi::of).collect::<Result<_, _>>()?, total })
}

/// An update of a store's fields (only the updatable ones may change).
#[derive(Debug, Clone, PartialEq)]
pub struct PoiUpdate {
    pub poi_id: String,
    pub changes: Map<String, Value>,
}

/// Why a store was not updated.
#[derive(Debug, thiserror::Error)]
pub enum UpdatePoiError {
    #[error("the account has no such store")]
    NoSuchPoi,
    #[error("only an approved store may be updated")]
    NotApproved,
    #[error("the store has an update under review")]
    UpdatePending,
    /// A field breaks a rule of the store API.
    #[error(transparent)]
    Invalid(PoiError),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for UpdatePoiError {
    fn from(e: StoreError) -> Self {
        UpdatePoiError::Internal(e.into())
    }
}

/// `poi/updatepoi`: an approved store's updatable fields, reviewed before
/// they count.
pub async fn update(app: &App, a: &MpAccount, u: &PoiUpdate) -> Result<(), UpdatePoiError> {
    let s = own(app, a, &u.poi_id).await?.ok_or(UpdatePoiError::NoSuchPoi)?;
    if s.available_state != state::APPROVED {
        return Err(UpdatePoiError::NotApproved);
    }
    if s.pending.is_some() {
        return Err(UpdatePoiError::UpdatePending);
    }
    let issued = crate::commerce::shop::issued(app, a).await?;
    let changes = rules::validate_update(&u.changes, &issued).map_err(UpdatePoiError::Invalid)?;
    let now = app.clock.business_now().unix();
    if !app.store.set_poi_pending(&s.poi_id, &Value::Object(changes).to_string(), now).await? {
        return Err(UpdatePoiError::UpdatePending);
    }
    Ok(())
}

/// Why a store was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeletePoiError {
    #[error("the account has no such store")]
    NoSuchPoi,
    #[error("a store under audit cannot be deleted")]
    UnderAudit,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for DeletePoiError {
    fn from(e: StoreError) -> Self {
        DeletePoiError::Internal(e.into())
    }
}

/// `poi/delpoi` (not while under audit).
pub async fn delete(app: &App, a: &MpAccount, poi_id: &str) -> Result<(), DeletePoiError> {
    let s = own(app, a, poi_id).await?.ok_or(DeletePoiError::NoSuchPoi)?;
    if s.available_state == state::UNDER_AUDIT {
        return Err(DeletePoiError::UnderAudit);
    }
    app.store.delete_poi(&s.poi_id, app.clock.business_now().unix()).await?;
    Ok(())
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

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        AuditError::Internal(e.into())
    }
}

/// A store's fields as stored (a JSON object, written only by this module).
fn stored_fields(text: &str) -> Result<Map<String, Value>, Internal> {
    serde_json::from_str(text).map_err(|e| Internal::bug(format!("stored POI fields: {e}")))
}

/// What a decision makes of a store: its new state and fields (`None`:
/// nothing waits for review).
fn decided(s: &PoiRow, approve: bool) -> Result<Option<(i64, String)>, Internal> {
    Ok(match (s.available_state, &s.pending) {
        (state::UNDER_AUDIT, _) => Some((if approve { state::APPROVED } else { state::REJECTED }, s.base_info.clone())),
        (state::APPROVED, Some(p)) => {
            let mut info = stored_fields(&s.base_info)?;
            if approve {
                info.extend(stored_fields(p)?);
            }
            Some((state::APPROVED, Value::Object(info).to_string()))
        }
        _ => None,
    })
}

/// The `poi_check_notify` event telling the account a decision.
fn check_notify(account: &MpAccount, s: &PoiRow, approve: bool, msg: &str, now: i64) -> String {
    mp_xml::build(&[
        Field::Text("ToUserName", &account.original_id),
        Field::Text("FromUserName", "koudai_poi_audit"),
        Field::Number("CreateTime", now),
        Field::Text("MsgType", "event"),
        Field::Text("Event", "poi_check_notify"),
        Field::Text("UniqId", &s.sid),
        Field::Text("PoiId", &s.poi_id),
        Field::Text("Result", if approve { "succ" } else { "fail" }),
        Field::Text("Msg", if msg.is_empty() { "审核通过" } else { msg }),
    ])
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
    let s = if plain { app.store.poi(poi_id).await? } else { None };
    let s = s.ok_or_else(|| AuditError::NoStore(poi_id.to_owned()))?;
    let msg = msg.trim();
    if !approve && msg.is_empty() {
        return Err(AuditError::NoReason);
    }
    let (new_state, info) = decided(&s, approve)?.ok_or_else(|| AuditError::NothingToReview(poi_id.to_owned()))?;
    let now = app.clock.business_now().unix();
    app.store.decide_poi(&s.poi_id, new_state, &info, msg, now).await?;
    let account = app.store.mp_account(&s.appid).await?.ok_or_else(|| Internal::bug("a store of no account"))?;
    let xml = check_notify(&account, &s, approve, msg, now);
    let reference = format!("{}:{now}", s.poi_id);
    let delivered = crate::mp::push::push_system(app, &account, xml, "mp.event.poi_check_notify", &reference).await?;
    let s = app.store.poi(&s.poi_id).await?.ok_or_else(|| Internal::bug("a store vanished"))?;
    Ok((s, delivered))
}
