//! The e-commerce rules applied: each account's facts gathered from the
//! store, evaluated under the newest published rule set (or the shipped
//! default), and the verdicts kept per account. The events that change a
//! fact (a deposit paid or released, a privilege granted or revoked, a
//! violation opened or closed, verification, a new rule set) call
//! [`refresh`] for the accounts they touch, so a capability follows at once
//! and every change is logged with its cause; a periodic sweep repairs
//! anything missed. Gates read the kept verdicts ([`check`]).

use std::collections::BTreeSet;

use koudai_domain::eligibility::{self as rules, Facts, RuleError, RuleSet, Verdict};
use koudai_domain::provider;
use koudai_store::{CapabilityRow, Flag, PublishedRules, Store, StoreError};

use crate::{App, Internal};

/// The rules in force: the newest published set, or the shipped default.
pub async fn current_rules(store: &Store) -> Result<RuleSet, StoreError> {
    match store.latest_rules().await? {
        // A published set was checked when published; if it no longer
        // reads (a newer Koudai removed a fact), fall back to the default
        // and say so.
        Some(p) => Ok(RuleSet::parse(&p.document).unwrap_or_else(|e| {
            tracing::error!(version = p.version, error = %e, "the published e-commerce rules do not read; using the default");
            RuleSet::default_rules().clone()
        })),
        None => Ok(RuleSet::default_rules().clone()),
    }
}

/// An account's facts now (business time `now`).
pub async fn facts(store: &Store, appid: &str, now: i64) -> Result<Option<Facts>, StoreError> {
    let Some(account) = store.mp_account(appid).await? else { return Ok(None) };
    let Some(owner) = store.merchant(&account.owner_mchid).await? else { return Ok(None) };
    let deposit_paid = store.standing(&owner.mchid, now).await?.is_some_and(|s| s.deposit_missing_fen() == 0);
    // A sub-merchant's interfaces come from its provider's privileges; a
    // provider's own account from its own; a direct merchant's payment
    // interface is the platform's to open, and it is open.
    let privileges_of = |sp: String| async move {
        let events = store.privilege_events(&sp).await?;
        Ok::<BTreeSet<String>, StoreError>(provider::held_at(&events, now).into_keys().collect())
    };
    let (payment_live, provider_privileges) = if let Some(sp) = owner.sp_mchid.clone() {
        let held = privileges_of(sp).await?;
        (held.contains(provider::keys::PAYMENT_INTERFACE), held)
    } else if store.provider(&owner.mchid).await?.is_some() {
        let held = privileges_of(owner.mchid.clone()).await?;
        (held.contains(provider::keys::PAYMENT_INTERFACE), held)
    } else {
        (true, BTreeSet::new())
    };
    Ok(Some(Facts {
        payment_live,
        deposit_paid,
        account_verified: account.verified.0,
        account_type: account.service_type,
        category: owner.fee_rule,
        provider_privileges,
        open_violations: store.open_violations(appid).await?,
    }))
}

/// Evaluates an account under `rules` now (none if it is not an account).
pub async fn evaluate(
    store: &Store,
    rules: &RuleSet,
    appid: &str,
    now: i64,
) -> Result<Option<Vec<Verdict>>, StoreError> {
    Ok(facts(store, appid, now).await?.map(|f| rules::evaluate(rules, &f)))
}

/// Re-evaluates accounts and keeps their verdicts; a change of a
/// capability is logged with `cause`. Returns how many capabilities
/// changed.
pub async fn refresh(store: &Store, appids: &[String], now: i64, cause: &str) -> Result<usize, StoreError> {
    let rules = current_rules(store).await?;
    let mut changed = 0;
    for appid in appids {
        let Some(verdicts) = evaluate(store, &rules, appid, now).await? else { continue };
        let kept = store.capabilities_of(appid).await?;
        for v in &verdicts {
            let unmet = serde_json::to_string(&v.unmet).unwrap_or_else(|_| "[]".into());
            let before = kept.iter().find(|k| k.capability == v.name);
            if before.is_some_and(|b| b.granted.0 == v.granted && b.unmet == unmet && b.rule_version == rules.version) {
                continue;
            }
            let flipped = before.is_none_or(|b| b.granted.0 != v.granted);
            let row = CapabilityRow {
                appid: appid.clone(),
                capability: v.name.clone(),
                granted: Flag(v.granted),
                unmet,
                rule_version: rules.version,
                updated_at: now,
            };
            store.save_capability(&row, flipped.then_some(cause)).await?;
            if flipped {
                changed += 1;
                tracing::info!(appid = %appid, capability = %v.name, granted = v.granted, cause, "a capability changed");
            }
        }
        for k in kept.iter().filter(|k| !verdicts.iter().any(|v| v.name == k.capability)) {
            store.drop_capability(appid, &k.capability).await?;
        }
    }
    Ok(changed)
}

/// The accounts a merchant's facts reach: its own, and if it is a
/// provider, its sub-merchants'.
pub async fn accounts_of(store: &Store, mchid: &str) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = store.mp_accounts_of(mchid).await?.into_iter().map(|a| a.appid).collect();
    for sub in store.sub_merchants(mchid).await? {
        out.extend(store.mp_accounts_of(&sub.mchid).await?.into_iter().map(|a| a.appid));
    }
    Ok(out)
}

/// [`refresh`] for the accounts of a merchant (and a provider's
/// sub-merchants), logging failures rather than failing the event that
/// caused it (the periodic sweep retries).
pub async fn refresh_for(store: &Store, mchid: &str, now: i64, cause: &str) {
    let result = async { refresh(store, &accounts_of(store, mchid).await?, now, cause).await }.await;
    if let Err(e) = result {
        tracing::warn!(mchid, error = %e, cause, "re-evaluating capabilities failed; the sweep will retry");
    }
}

/// Re-evaluates every account (the periodic sweep and a new rule set).
pub async fn refresh_all(store: &Store, now: i64, cause: &str) -> Result<usize, StoreError> {
    refresh(store, &store.mp_appids().await?, now, cause).await
}

/// Why an account may not use a capability now.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The e-commerce rules in force do not grant it (why not: the unmet
    /// requirements).
    #[error("{0}")]
    NotAllowed(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Whether the rules in force let the account `appid` use `capability`
/// (one of `koudai_domain::eligibility::USED_CAPABILITIES`) now: the gate
/// of the shop and store APIs and pages.
pub async fn admit(app: &App, appid: &str, capability: &str) -> Result<(), AdmitError> {
    let now = app.clock.business_now().unix();
    check(&app.store, appid, capability, now).await.map_err(Internal::from)?.map_err(AdmitError::NotAllowed)
}

/// Whether an account holds a capability, from the kept verdicts
/// (evaluated first if it never was); `Err` carries the explanation.
pub async fn check(store: &Store, appid: &str, capability: &str, now: i64) -> Result<Result<(), String>, StoreError> {
    let mut kept = store.capabilities_of(appid).await?;
    if kept.is_empty() {
        refresh(store, &[appid.to_owned()], now, "first evaluation").await?;
        kept = store.capabilities_of(appid).await?;
    }
    match kept.iter().find(|k| k.capability == capability) {
        Some(k) if k.granted.0 => Ok(Ok(())),
        Some(k) => {
            let unmet: Vec<rules::Unmet> = serde_json::from_str(&k.unmet).unwrap_or_default();
            let text: Vec<String> = unmet.iter().map(ToString::to_string).collect();
            Ok(Err(format!("capability {capability} not granted: {}", text.join("; "))))
        }
        None => Ok(Err(format!("capability {capability} is not granted by the rules in force"))),
    }
}

/// One account's change under a proposed rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub appid: String,
    pub capability: String,
    pub now: bool,
    pub proposed: bool,
}

/// What publishing `text` would change: every account and capability whose
/// verdict differs between the rules in force and the proposal.
pub async fn preview(store: &Store, text: &str, now: i64) -> Result<Result<Vec<Change>, RuleError>, StoreError> {
    let proposed = match RuleSet::parse(text) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let current = current_rules(store).await?;
    let mut out = Vec::new();
    for appid in store.mp_appids().await? {
        let Some(f) = facts(store, &appid, now).await? else { continue };
        let before = rules::evaluate(&current, &f);
        let after = rules::evaluate(&proposed, &f);
        let names: BTreeSet<&str> = before.iter().chain(&after).map(|v| v.name.as_str()).collect();
        for name in names {
            let was = rules::verdict(&before, name).is_some_and(|v| v.granted);
            let will = rules::verdict(&after, name).is_some_and(|v| v.granted);
            if was != will {
                out.push(Change { appid: appid.clone(), capability: name.to_owned(), now: was, proposed: will });
            }
        }
    }
    Ok(Ok(out))
}

/// Why a publication was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Invalid(#[from] RuleError),
    #[error("version {0} must be greater than the version in force ({1})")]
    Version(i64, i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Publishes a rule set (its version above the one in force) and applies
/// it to every account at once.
pub async fn publish(store: &Store, text: &str, by: &str, now: i64) -> Result<i64, PublishError> {
    let proposed = RuleSet::parse(text)?;
    let current = current_rules(store).await?;
    let published = store.latest_rules().await?.map(|p| p.version).unwrap_or(0).max(current.version);
    if proposed.version <= published {
        return Err(PublishError::Version(proposed.version, published));
    }
    store
        .publish_rules(&PublishedRules {
            version: proposed.version,
            document: text.to_owned(),
            published_by: by.to_owned(),
            published_at: now,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => PublishError::Version(proposed.version, published),
            other => PublishError::Store(other),
        })?;
    refresh_all(store, now, &format!("rule set version {} published by {by}", proposed.version)).await?;
    Ok(proposed.version)
}

/// Records a violation against an account (its capabilities follow).
pub async fn open_violation(
    store: &Store,
    appid: &str,
    reason: &str,
    by: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    if store.mp_account(appid).await?.is_none() {
        return Ok(None);
    }
    let id = store.open_violation(appid, reason, by, now).await?;
    refresh(store, &[appid.to_owned()], now, &format!("violation {id} opened by {by}: {reason}")).await?;
    Ok(Some(id))
}

/// Closes a violation; returns whether it was open.
pub async fn close_violation(store: &Store, id: i64, by: &str, now: i64) -> Result<bool, StoreError> {
    let Some(appid) = store.close_violation(id, by, now).await? else { return Ok(false) };
    refresh(store, &[appid], now, &format!("violation {id} closed by {by}")).await?;
    Ok(true)
}

/// Marks an account verified or not (its capabilities follow).
pub async fn set_verified(store: &Store, appid: &str, verified: bool, by: &str, now: i64) -> Result<bool, StoreError> {
    if !store.set_mp_verified(appid, verified).await? {
        return Ok(false);
    }
    let cause = format!("account {} by {by}", if verified { "verified" } else { "unverified" });
    refresh(store, &[appid.to_owned()], now, &cause).await?;
    Ok(true)
}

/// The kept verdicts of an account, as the console and the sandbox show
/// them (evaluated first if they never were); none if it is not an account.
pub async fn explanation(store: &Store, appid: &str, now: i64) -> Result<Option<Vec<Verdict>>, StoreError> {
    if store.mp_account(appid).await?.is_none() {
        return Ok(None);
    }
    let mut kept = store.capabilities_of(appid).await?;
    if kept.is_empty() {
        refresh(store, &[appid.to_owned()], now, "first evaluation").await?;
        kept = store.capabilities_of(appid).await?;
    }
    let rules = current_rules(store).await?;
    // In the rule set's order, with its titles.
    Ok(Some(
        rules
            .capabilities
            .iter()
            .filter_map(|c| kept.iter().find(|k| k.capability == c.name).map(|k| (c, k)))
            .map(|(c, k)| Verdict {
                name: c.name.clone(),
                title: c.title.clone(),
                granted: k.granted.0,
                unmet: serde_json::from_str(&k.unmet).unwrap_or_default(),
            })
            .collect(),
    ))
}
