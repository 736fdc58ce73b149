//! Service providers, their sub-merchants, the privileges the operator
//! grants them, and console users. Used by the operator console, the
//! sandbox API, `koudai admin …` and the demo world.

use koudai_domain::provider::{self, GrantAction, ProviderKind};
use koudai_domain::{BusinessTime, WallTime};
use koudai_store::{ConsoleRole, KeyMode, NewPrivilegeRecord, Store};

use crate::parties::{self, CreatedMerchant, MerchantSpec, PartyError};
use crate::{PlatformKeys, Rng};

/// What a new provider is.
pub struct ProviderSpec<'a> {
    pub sp_mchid: Option<String>,
    pub name: &'a str,
    pub kind: ProviderKind,
    pub key_mode: KeyMode,
    /// Its app; made if missing.
    pub sp_appid: Option<String>,
    /// Where it hears of profit shares it receives as commission.
    pub service_notify_url: Option<&'a str>,
}

/// A provider just created: its merchant identity and its app.
#[derive(Debug, Clone)]
pub struct CreatedProvider {
    pub merchant: CreatedMerchant,
    pub sp_appid: String,
}

/// Creates a provider: a merchant of its own (keys, APIv3 key), bound to
/// its `sp_appid`. It holds no privileges until the operator grants them.
pub async fn create_provider(
    store: &Store,
    rng: &Rng,
    platform: &PlatformKeys,
    spec: ProviderSpec<'_>,
    now: WallTime,
) -> Result<CreatedProvider, PartyError> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(PartyError::Invalid("a provider's name is 1 to 128 characters".into()));
    }
    let merchant = parties::create_merchant(
        store,
        rng,
        platform,
        MerchantSpec { mchid: spec.sp_mchid, name, key_mode: spec.key_mode, certificate_pem: None },
        now,
    )
    .await?;
    let sp_appid =
        parties::create_app(store, rng, spec.sp_appid, &format!("{name} (服务商)"), &merchant.mchid, now).await?;
    store.create_provider(&merchant.mchid, spec.kind, &sp_appid, now.unix()).await?;
    if let Some(url) = spec.service_notify_url.filter(|u| !u.is_empty()) {
        store.set_service_notify_url(&merchant.mchid, Some(url)).await?;
    }
    Ok(CreatedProvider { merchant, sp_appid })
}

/// What a new sub-merchant is.
pub struct SubMerchantSpec<'a> {
    pub mchid: Option<String>,
    pub sp_mchid: &'a str,
    /// The full registered name (what a `MERCHANT_ID` receiver must give).
    pub name: &'a str,
    /// Fee rule (category or `settlement_id`); the schedule's default if `None`.
    pub fee_rule: Option<&'a str>,
    /// Its own app, if it has one (made if missing).
    pub sub_appid: Option<String>,
    pub bank_account: Option<&'a str>,
}

/// A sub-merchant just created.
#[derive(Debug, Clone)]
pub struct CreatedSubMerchant {
    pub mchid: String,
    pub sub_appid: Option<String>,
}

// (The sub-merchant's own keys come back as the `CreatedMerchant` beside
// it: it may sign requests, and is refused what only its provider may do.)

/// Creates a sub-merchant of provider `sp_mchid`, with its own fee rule,
/// deposit, bank account and ledger accounts, and optionally its own app.
/// It has keys like every merchant, but takes payments only through its
/// provider.
pub async fn create_sub_merchant(
    store: &Store,
    rng: &Rng,
    platform: &PlatformKeys,
    spec: SubMerchantSpec<'_>,
    now: WallTime,
    business_now: BusinessTime,
) -> Result<(CreatedSubMerchant, CreatedMerchant), PartyError> {
    let provider = store
        .provider(spec.sp_mchid)
        .await?
        .ok_or_else(|| PartyError::NotFound(format!("provider {}", spec.sp_mchid)))?;
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(PartyError::Invalid("a sub-merchant's name is 1 to 128 characters".into()));
    }
    if let Some(rule) = spec.fee_rule {
        let schedule = store
            .fee_schedule_at(business_now.unix())
            .await?
            .ok_or_else(|| PartyError::Invalid("no fee schedule is in force".into()))?;
        if schedule.rule(rule).is_none() {
            return Err(PartyError::Invalid(format!("no fee rule {rule} in the schedule in force")));
        }
    }
    let created = parties::create_merchant(
        store,
        rng,
        platform,
        MerchantSpec { mchid: spec.mchid, name, key_mode: KeyMode::PublicKey, certificate_pem: None },
        now,
    )
    .await?;
    store.attach_sub_merchant(&created.mchid, &provider.sp_mchid).await?;
    if let Some(rule) = spec.fee_rule {
        store.set_fee_rule(&created.mchid, rule, business_now.unix()).await?;
    }
    if let Some(account) = spec.bank_account.filter(|a| !a.is_empty()) {
        store.set_bank_account(&created.mchid, account).await?;
    }
    let sub_appid = match spec.sub_appid {
        Some(appid) => Some(parties::create_app(store, rng, Some(appid), name, &created.mchid, now).await?),
        None => None,
    };
    Ok((CreatedSubMerchant { mchid: created.mchid.clone(), sub_appid }, created))
}

/// A grant or revocation as asked for.
pub struct GrantCommand<'a> {
    pub sp_mchid: &'a str,
    pub privilege: &'a str,
    pub action: GrantAction,
    /// `operator:<login>`, `sandbox`, `admin`.
    pub actor: &'a str,
    pub reason: &'a str,
    pub expires_at: Option<i64>,
}

/// Logs a grant or revocation; returns whether the provider holds the
/// privilege afterwards.
pub async fn change_privilege(store: &Store, cmd: GrantCommand<'_>, now: BusinessTime) -> Result<bool, PartyError> {
    provider::check_grant(cmd.privilege, cmd.reason, cmd.expires_at, now.unix())
        .map_err(|e| PartyError::Invalid(e.to_string()))?;
    if store.provider(cmd.sp_mchid).await?.is_none() {
        return Err(PartyError::NotFound(format!("provider {}", cmd.sp_mchid)));
    }
    let expires_at = if cmd.action == GrantAction::Grant { cmd.expires_at } else { None };
    store
        .append_privilege_record(&NewPrivilegeRecord {
            sp_mchid: cmd.sp_mchid,
            privilege: cmd.privilege,
            action: cmd.action,
            actor: cmd.actor,
            reason: cmd.reason.trim(),
            expires_at,
            now: now.unix(),
        })
        .await?;
    let cause = format!("privilege {} {} by {}", cmd.privilege, cmd.action.as_str(), cmd.actor);
    crate::access::eligibility::refresh_for(store, cmd.sp_mchid, now.unix(), &cause).await;
    let events = store.privilege_events(cmd.sp_mchid).await?;
    Ok(provider::held_at(&events, now.unix()).contains_key(cmd.privilege))
}

/// Creates a console user: an operator, a provider's user (`party` is its
/// sp_mchid) or a merchant's user (`party` is its mchid).
pub async fn create_console_user(
    store: &Store,
    rng: &Rng,
    login: &str,
    password: &str,
    role: ConsoleRole,
    party: Option<&str>,
    now: WallTime,
) -> Result<(), PartyError> {
    if login.is_empty() || login.len() > 64 || !login.chars().all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c)) {
        return Err(PartyError::Invalid("a login is 1 to 64 letters, digits or _-.@".into()));
    }
    if password.chars().count() < 10 {
        return Err(PartyError::Invalid("a console password has at least 10 characters".into()));
    }
    match (role, party) {
        (ConsoleRole::Operator, None) => {}
        (ConsoleRole::Merchant, Some(m)) => {
            if store.merchant(m).await?.is_none() {
                return Err(PartyError::NotFound(format!("merchant {m}")));
            }
            if store.provider(m).await?.is_some() {
                return Err(PartyError::Invalid(format!("{m} is a provider: give it a provider user")));
            }
        }
        (ConsoleRole::Merchant, None) => return Err(PartyError::Invalid("a merchant user needs --mchid".into())),
        (ConsoleRole::Provider, Some(sp)) => {
            if store.provider(sp).await?.is_none() {
                return Err(PartyError::NotFound(format!("provider {sp}")));
            }
        }
        (ConsoleRole::Operator, Some(_)) => {
            return Err(PartyError::Invalid("an operator belongs to no provider".into()))
        }
        (ConsoleRole::Provider, None) => return Err(PartyError::Invalid("a provider user needs --sp-mchid".into())),
    }
    let hash = parties::hash_password(rng, password)?;
    store.create_console_user(login, &hash, role, party, now.unix()).await?;
    Ok(())
}
