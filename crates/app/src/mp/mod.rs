//! Official accounts (protocol notes `wechat-mp.md`): accounts, daily
//! quotas, and custom menus (default and conditional), with the rest of the
//! context in its children, from the top down: [`qrcode`] (parametric codes
//! and scans), [`push`] (what a consumer sends an account, and following),
//! [`oauth`] (web authorisation), [`token`] (access tokens), [`component`]
//! (the third-party platform) and [`server`] (an account's or a component's
//! server URL and its handshake). Every refusal is an [`MpError`]: the
//! errcode the real server gives.

pub mod component;
pub mod oauth;
pub mod push;
pub mod qrcode;
pub mod server;
pub mod token;

use serde_json::{json, Value};

use koudai_domain::fees::{business_date, format_date};
use koudai_domain::mp::{self as rules, Button, MatchRule};
use koudai_domain::{ids, WallTime};
use koudai_protocol::mp::MpError;
use koudai_store::{MpAccount, Store, StoreError};

use crate::{App, Internal, Rng};

/// An mp refusal, or our own failure.
#[derive(Debug, thiserror::Error)]
pub enum MpFailure {
    #[error("errcode {}: {}", .0.errcode, .0.errmsg)]
    Refused(MpError),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<MpError> for MpFailure {
    fn from(e: MpError) -> Self {
        MpFailure::Refused(e)
    }
}

impl From<StoreError> for MpFailure {
    fn from(e: StoreError) -> Self {
        MpFailure::Internal(e.into())
    }
}

/// Makes `appid` (an existing app) an official account of `owner_mchid`,
/// with a fresh secret, Token and EncodingAESKey.
pub async fn create_account(
    store: &Store,
    rng: &Rng,
    appid: &str,
    owner_mchid: &str,
    name: &str,
    now: WallTime,
) -> Result<MpAccount, StoreError> {
    let account = MpAccount {
        appid: appid.to_owned(),
        owner_mchid: owner_mchid.to_owned(),
        original_id: format!("gh_{}", ids::upper_hex(&rng.bytes::<6>()).to_ascii_lowercase()),
        name: name.to_owned(),
        secret: ids::upper_hex(&rng.bytes::<16>()).to_ascii_lowercase(),
        token: rng.token(32),
        encoding_aes_key: rng.token(43),
        server_url: None,
        message_mode: "plain".into(),
        ip_allowlist: String::new(),
        next_menuid: 100,
        created_at: now.unix(),
        service_type: "service".into(),
        // Verification is the operator's to grant (`koudai admin mp-verify`).
        verified: koudai_store::Flag(false),
    };
    store.create_mp_account(&account).await?;
    crate::access::eligibility::refresh(store, std::slice::from_ref(&account.appid), now.unix(), "account created")
        .await?;
    Ok(account)
}

/// Counts a call of `api` against the account's daily quota (45009 past it).
pub async fn count_call(app: &App, appid: &str, api: &str) -> Result<(), MpFailure> {
    let Some(limit) = rules::rules().daily_quota.get(api).copied() else { return Ok(()) };
    let day = format_date(business_date(app.clock.business_now().unix()));
    let calls = app.store.count_mp_call(appid, api, &day).await?;
    if calls > limit {
        return Err(MpError::daily_quota().into());
    }
    Ok(())
}

/// Whether an id (appid, openid) has only the characters ids have, so that
/// nothing else reaches a query.
pub(crate) fn plain_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A button as `menu/get` shows it: every button with a `sub_button` list.
fn echo(b: &Button) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or_default();
    v["sub_button"] = Value::Array(b.sub_button.iter().map(echo).collect());
    v
}

/// A button as `get_current_selfmenu_info` shows it: a parent's
/// `sub_button` is `{"list": [...]}`.
fn selfmenu(b: &Button) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or_default();
    if !b.sub_button.is_empty() {
        v["sub_button"] = json!({"list": b.sub_button.iter().map(selfmenu).collect::<Vec<_>>()});
    }
    v
}

fn parse_buttons(text: &str) -> Result<Vec<Button>, Internal> {
    serde_json::from_str(text).map_err(|e| Internal::bug(format!("stored menu: {e}")))
}

/// `menu/create`: the body is checked and becomes the default menu.
pub async fn create_menu(app: &App, account: &MpAccount, raw: &[u8], body: &Value) -> Result<(), MpFailure> {
    count_call(app, &account.appid, "menu/create").await?;
    if rules::has_unicode_escapes(raw) {
        return Err(MpError::from(rules::MenuError::Charset).into());
    }
    let buttons = rules::validate_menu(body).map_err(MpError::from)?;
    let text = serde_json::to_string(&buttons).map_err(|e| Internal::bug(e.to_string()))?;
    app.store.set_default_menu(&account.appid, &text, app.clock.business_now().unix()).await?;
    Ok(())
}

/// `menu/get`: the default menu and the conditional ones (46003 if none).
pub async fn get_menu(app: &App, account: &MpAccount) -> Result<Value, MpFailure> {
    count_call(app, &account.appid, "menu/get").await?;
    let menus = app.store.mp_menus(&account.appid).await?;
    let Some(default) = menus.iter().find(|m| !m.conditional.0) else {
        return Err(MpError::menu_no_exist().into());
    };
    let mut out = json!({"menu": {"button": parse_buttons(&default.buttons)?.iter().map(echo).collect::<Vec<_>>(), "menuid": default.menuid}});
    let conditional: Vec<Value> = menus
        .iter()
        .filter(|m| m.conditional.0)
        .map(|m| {
            Ok(json!({
                "button": parse_buttons(&m.buttons)?.iter().map(echo).collect::<Vec<_>>(),
                "matchrule": m.matchrule.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()).unwrap_or_default(),
                "menuid": m.menuid,
            }))
        })
        .collect::<Result<_, Internal>>()?;
    if !conditional.is_empty() {
        out["conditionalmenu"] = Value::Array(conditional);
    }
    Ok(out)
}

/// `get_current_selfmenu_info`.
pub async fn selfmenu_info(app: &App, account: &MpAccount) -> Result<Value, MpFailure> {
    count_call(app, &account.appid, "get_current_selfmenu_info").await?;
    let menus = app.store.mp_menus(&account.appid).await?;
    Ok(match menus.iter().find(|m| !m.conditional.0) {
        Some(m) => {
            json!({"is_menu_open": 1, "selfmenu_info": {"button": parse_buttons(&m.buttons)?.iter().map(selfmenu).collect::<Vec<_>>()}})
        }
        None => json!({"is_menu_open": 0, "selfmenu_info": {"button": []}}),
    })
}

/// `menu/delete`: every menu of the account.
pub async fn delete_menu(app: &App, account: &MpAccount) -> Result<(), MpFailure> {
    count_call(app, &account.appid, "menu/delete").await?;
    app.store.delete_menus(&account.appid).await?;
    Ok(())
}

/// `menu/addconditional`: returns the new `menuid` (as a string, like the
/// documented reply).
pub async fn add_conditional(app: &App, account: &MpAccount, raw: &[u8], body: &Value) -> Result<String, MpFailure> {
    count_call(app, &account.appid, "menu/addconditional").await?;
    if rules::has_unicode_escapes(raw) {
        return Err(MpError::from(rules::MenuError::Charset).into());
    }
    let buttons = rules::validate_menu(body).map_err(MpError::from)?;
    let rule = rules::validate_matchrule(body.get("matchrule")).map_err(MpError::from)?;
    let text = serde_json::to_string(&buttons).map_err(|e| Internal::bug(e.to_string()))?;
    let rule_text = serde_json::to_string(&rule).map_err(|e| Internal::bug(e.to_string()))?;
    let limit = i64::try_from(rules::rules().conditional_menu_limit).unwrap_or(i64::MAX);
    let now = app.clock.business_now().unix();
    match app.store.add_conditional_menu(&account.appid, &text, &rule_text, limit, now).await {
        Ok(Some(menuid)) => Ok(menuid.to_string()),
        Ok(None) => Err(MpError::no_default_menu().into()),
        Err(StoreError::Conflict(_)) => Err(MpError::menu_count_limit().into()),
        Err(e) => Err(e.into()),
    }
}

/// `menu/delconditional`.
pub async fn del_conditional(app: &App, account: &MpAccount, body: &Value) -> Result<(), MpFailure> {
    count_call(app, &account.appid, "menu/delconditional").await?;
    let menuid = match body.get("menuid") {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(MpError::no_such_menuid)?;
    if !app.store.delete_conditional_menu(&account.appid, menuid).await? {
        return Err(MpError::no_such_menuid().into());
    }
    Ok(())
}

/// The platform a follower uses: Koudai's consumers use the web cashier and
/// account pages, which WeChat calls "other" (3). No user tags exist yet.
const FOLLOWER_PLATFORM: &str = "3";

/// The menu a consumer of the account's page sees (the newest matching
/// conditional menu, else the default; none if there is no menu).
pub async fn menu_for_consumer(app: &App, account: &MpAccount) -> Result<Vec<Button>, MpFailure> {
    let menus = app.store.mp_menus(&account.appid).await?;
    let chosen = menus
        .iter()
        .filter(|m| m.conditional.0)
        .find(|m| {
            m.matchrule
                .as_deref()
                .and_then(|r| serde_json::from_str::<MatchRule>(r).ok())
                .is_some_and(|r| rules::rule_matches(&r, FOLLOWER_PLATFORM, &[]))
        })
        .or_else(|| menus.iter().find(|m| !m.conditional.0));
    match chosen {
        Some(m) => Ok(parse_buttons(&m.buttons)?),
        None => Ok(vec![]),
    }
}

/// `menu/trymatch`: the menu a follower sees (the newest matching
/// conditional menu, else the default).
pub async fn try_match(app: &App, account: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    count_call(app, &account.appid, "menu/trymatch").await?;
    let user = body.get("user_id").and_then(Value::as_str).unwrap_or_default();
    if !plain_id(user) || !app.store.openid_belongs_to_app(user, &account.appid).await? {
        return Err(MpError::no_such_user().into());
    }
    let menus = app.store.mp_menus(&account.appid).await?;
    let chosen = menus
        .iter()
        .filter(|m| m.conditional.0)
        .find(|m| {
            m.matchrule
                .as_deref()
                .and_then(|r| serde_json::from_str::<MatchRule>(r).ok())
                .is_some_and(|r| rules::rule_matches(&r, FOLLOWER_PLATFORM, &[]))
        })
        .or_else(|| menus.iter().find(|m| !m.conditional.0))
        .ok_or_else(MpError::menu_no_exist)?;
    Ok(json!({"button": parse_buttons(&chosen.buttons)?.iter().map(echo).collect::<Vec<_>>()}))
}
