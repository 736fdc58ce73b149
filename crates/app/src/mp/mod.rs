//! Official accounts (protocol notes `wechat-mp.md`): accounts, daily
//! quotas, and custom menus (default and conditional), with the rest of the
//! context in its children, from the top down: [`qrcode`] (parametric codes
//! and scans), [`push`] (what a consumer sends an account, and following),
//! [`oauth`] (web authorisation), [`token`] (access tokens), [`component`]
//! (the third-party platform) and [`server`] (an account's or a component's
//! server URL and its handshake). Use cases take typed requests and refuse
//! with their own enums; the surface (`crates/http/src/mp/error.rs`) gives
//! each refusal the errcode the real server gives.

pub mod component;
pub mod oauth;
pub mod push;
pub mod qrcode;
pub mod server;
pub mod token;

use serde_json::Value;

use koudai_domain::fees::{business_date, format_date};
use koudai_domain::mp::{self as rules, Button, MatchRule};
use koudai_domain::{ids, WallTime};
use koudai_store::{MpAccount, Store, StoreError};

use crate::{App, Internal, Rng};

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

/// Why a call was not counted against its daily quota.
#[derive(Debug, thiserror::Error)]
pub enum Quota {
    #[error("the account's daily quota for this API is used up")]
    Exceeded,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for Quota {
    fn from(e: StoreError) -> Self {
        Quota::Internal(e.into())
    }
}

/// Counts a call of `api` against the caller's daily quota (an account's
/// or a component's).
pub async fn count_call(app: &App, appid: &str, api: &str) -> Result<(), Quota> {
    let Some(limit) = rules::rules().daily_quota.get(api).copied() else { return Ok(()) };
    let day = format_date(business_date(app.clock.business_now().unix()));
    let calls = app.store.count_mp_call(appid, api, &day).await?;
    if calls > limit {
        return Err(Quota::Exceeded);
    }
    Ok(())
}

/// Whether an id (appid, openid) has only the characters ids have, so that
/// nothing else reaches a query.
pub(crate) fn plain_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_buttons(text: &str) -> Result<Vec<Button>, Internal> {
    serde_json::from_str(text).map_err(|e| Internal::bug(format!("stored menu: {e}")))
}

/// Why a menu call was refused (the body's own faults are the domain's
/// `MenuError` and `MatchRuleError`, found before the call).
#[derive(Debug, thiserror::Error)]
pub enum MenuCallError {
    #[error("the account has no menu")]
    NoMenu,
    #[error("a conditional menu needs a default menu first")]
    NoDefaultMenu,
    #[error("the account has as many conditional menus as it may")]
    MenuLimit,
    #[error("no such menuid")]
    NoSuchMenuid,
    #[error("the user is not a follower of the account")]
    NoSuchUser,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for MenuCallError {
    fn from(e: StoreError) -> Self {
        MenuCallError::Internal(e.into())
    }
}

/// A stored menu.
#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    pub menuid: i64,
    pub buttons: Vec<Button>,
    /// A conditional menu's rule, as stored (JSON); `None` for the default.
    pub matchrule: Option<Value>,
}

/// The account's menus: the default one, and the conditional ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Menus {
    pub default: Menu,
    pub conditional: Vec<Menu>,
}

/// `menu/create`: the (checked) buttons become the default menu.
pub async fn create_menu(app: &App, account: &MpAccount, buttons: &[Button]) -> Result<(), MenuCallError> {
    let text = serde_json::to_string(buttons).map_err(|e| Internal::bug(e.to_string()))?;
    app.store.set_default_menu(&account.appid, &text, app.clock.business_now().unix()).await?;
    Ok(())
}

/// `menu/get`: the default menu and the conditional ones.
pub async fn get_menu(app: &App, account: &MpAccount) -> Result<Menus, MenuCallError> {
    let menus = app.store.mp_menus(&account.appid).await?;
    let Some(default) = menus.iter().find(|m| !m.conditional.0) else {
        return Err(MenuCallError::NoMenu);
    };
    let default = Menu { menuid: default.menuid, buttons: parse_buttons(&default.buttons)?, matchrule: None };
    let conditional = menus
        .iter()
        .filter(|m| m.conditional.0)
        .map(|m| {
            let matchrule = match m.matchrule.as_deref() {
                Some(r) => serde_json::from_str(r).map_err(|e| Internal::bug(format!("stored matchrule: {e}")))?,
                None => Value::Null,
            };
            Ok(Menu { menuid: m.menuid, buttons: parse_buttons(&m.buttons)?, matchrule: Some(matchrule) })
        })
        .collect::<Result<_, Internal>>()?;
    Ok(Menus { default, conditional })
}

/// `get_current_selfmenu_info`: the default menu's buttons, if there is one.
pub async fn selfmenu_info(app: &App, account: &MpAccount) -> Result<Option<Vec<Button>>, MenuCallError> {
    let menus = app.store.mp_menus(&account.appid).await?;
    Ok(match menus.iter().find(|m| !m.conditional.0) {
        Some(m) => Some(parse_buttons(&m.buttons)?),
        None => None,
    })
}

/// `menu/delete`: every menu of the account.
pub async fn delete_menu(app: &App, account: &MpAccount) -> Result<(), MenuCallError> {
    app.store.delete_menus(&account.appid).await?;
    Ok(())
}

/// `menu/addconditional`: the (checked) buttons under the (checked) rule;
/// returns the new `menuid`.
pub async fn add_conditional(
    app: &App,
    account: &MpAccount,
    buttons: &[Button],
    rule: &MatchRule,
) -> Result<i64, MenuCallError> {
    let text = serde_json::to_string(buttons).map_err(|e| Internal::bug(e.to_string()))?;
    let rule_text = serde_json::to_string(rule).map_err(|e| Internal::bug(e.to_string()))?;
    let limit = i64::try_from(rules::rules().conditional_menu_limit).unwrap_or(i64::MAX);
    let now = app.clock.business_now().unix();
    match app.store.add_conditional_menu(&account.appid, &text, &rule_text, limit, now).await {
        Ok(Some(menuid)) => Ok(menuid),
        Ok(None) => Err(MenuCallError::NoDefaultMenu),
        Err(StoreError::Conflict(_)) => Err(MenuCallError::MenuLimit),
        Err(e) => Err(e.into()),
    }
}

/// `menu/delconditional`: `menuid` as the body gave it (`None` when it
/// gave none that reads as one).
pub async fn del_conditional(app: &App, account: &MpAccount, menuid: Option<i64>) -> Result<(), MenuCallError> {
    let menuid = menuid.ok_or(MenuCallError::NoSuchMenuid)?;
    if !app.store.delete_conditional_menu(&account.appid, menuid).await? {
        return Err(MenuCallError::NoSuchMenuid);
    }
    Ok(())
}

/// The platform a follower uses: Koudai's consumers use the web cashier and
/// account pages, which WeChat calls "other" (3). No user tags exist yet.
const FOLLOWER_PLATFORM: &str = "3";

/// The menu a follower sees: the newest matching conditional menu, else
/// the default; none if there is no menu.
async fn menu_seen(app: &App, account: &MpAccount) -> Result<Option<Vec<Button>>, Internal> {
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
        Some(m) => Ok(Some(parse_buttons(&m.buttons)?)),
        None => Ok(None),
    }
}

/// The menu a consumer of the account's page sees (none if there is no
/// menu).
pub async fn menu_for_consumer(app: &App, account: &MpAccount) -> Result<Vec<Button>, Internal> {
    Ok(menu_seen(app, account).await?.unwrap_or_default())
}

/// `menu/trymatch`: the menu the follower `user_id` sees.
pub async fn try_match(app: &App, account: &MpAccount, user_id: &str) -> Result<Vec<Button>, MenuCallError> {
    if !plain_id(user_id) || !app.store.openid_belongs_to_app(user_id, &account.appid).await? {
        return Err(MenuCallError::NoSuchUser);
    }
    menu_seen(app, account).await?.ok_or(MenuCallError::NoMenu)
}
