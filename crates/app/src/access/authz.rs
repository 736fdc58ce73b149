//! Authorisation: who may act for whose money, in one place. Every partner
//! endpoint asks [`act_for`] with the caller, the sub-merchant it names and
//! the action; every refusal, including a lookup that found someone else's
//! order (answered as "not found" so that nothing leaks), is written to the
//! refusal log the operator reads.

use koudai_domain::provider::{self, keys};
use koudai_store::{Merchant, Provider};

use crate::{App, Internal};

/// What a caller asks to do; the privilege it needs in partner mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Prepay,
    /// A prepay with `settle_info.profit_sharing = true`.
    PrepayForSharing,
    QueryOrder,
    CloseOrder,
    Refund,
    QueryRefund,
    TradeBill,
    ProfitSharing,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Prepay => "prepay",
            Action::PrepayForSharing => "prepay_profit_sharing",
            Action::QueryOrder => "query_order",
            Action::CloseOrder => "close_order",
            Action::Refund => "refund",
            Action::QueryRefund => "query_refund",
            Action::TradeBill => "trade_bill",
            Action::ProfitSharing => "profit_sharing",
        }
    }

    /// The privileges a provider needs for it.
    fn privileges(self) -> &'static [&'static str] {
        match self {
            Action::PrepayForSharing => &[keys::PAYMENT_INTERFACE, keys::PROFIT_SHARING],
            Action::ProfitSharing => &[keys::PROFIT_SHARING],
            Action::Prepay
            | Action::QueryOrder
            | Action::CloseOrder
            | Action::Refund
            | Action::QueryRefund
            | Action::TradeBill => &[keys::PAYMENT_INTERFACE],
        }
    }
}

/// Whose money a call is about, once allowed.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The merchant whose orders, refunds and funds these are: the caller
    /// itself (direct) or the sub-merchant (partner).
    pub owner: Merchant,
    /// The provider acting for it, in partner mode.
    pub provider: Option<Provider>,
}

impl Scope {
    /// `sp_mchid` of the orders in scope (`None`: direct orders only).
    pub fn sp_mchid(&self) -> Option<String> {
        self.provider.as_ref().map(|p| p.sp_mchid.clone())
    }
}

/// A refusal, already in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// Told to the caller (`NO_AUTH`'s message).
    pub message: String,
}

/// The principal of an API caller as the logs name it.
pub fn principal(m: &Merchant) -> String {
    format!("merchant:{}", m.mchid)
}

/// Writes a refusal to the log and returns it.
pub async fn refuse(
    app: &App,
    principal: &str,
    action: &str,
    target: &str,
    message: String,
) -> Result<Refused, Internal> {
    app.store.record_refusal(principal, action, target, &message, app.clock.business_now().unix()).await?;
    tracing::info!(principal, action, target, reason = %message, "refused");
    Ok(Refused { message })
}

/// Logs an attempt on someone else's object that the caller is told does
/// not exist.
pub async fn hidden(app: &App, caller: &Merchant, action: Action, target: &str, owner: &str) -> Result<(), Internal> {
    refuse(app, &principal(caller), action.as_str(), target, format!("belongs to merchant {owner}")).await?;
    Ok(())
}

/// Decides whether `caller` may do `action` for `sub_mchid` (partner) or
/// for itself (direct, `sub_mchid` = `None`).
pub async fn act_for(
    app: &App,
    caller: &Merchant,
    sub_mchid: Option<&str>,
    action: Action,
) -> Result<Result<Scope, Refused>, Internal> {
    let who = principal(caller);
    let Some(sub_mchid) = sub_mchid else {
        if caller.is_sub_merchant() && matches!(action, Action::Prepay | Action::PrepayForSharing) {
            let message = "特约商户不能直连下单，请由服务商以服务商模式下单".to_owned();
            return Ok(Err(refuse(app, &who, action.as_str(), &format!("mchid:{}", caller.mchid), message).await?));
        }
        return Ok(Ok(Scope { owner: caller.clone(), provider: None }));
    };
    let target = format!("sub_mchid:{sub_mchid}");
    let Some(provider) = app.store.provider(&caller.mchid).await? else {
        let message = format!("商户号{}不是服务商，不能以服务商模式调用", caller.mchid);
        return Ok(Err(refuse(app, &who, action.as_str(), &target, message).await?));
    };
    // Missing and belonging to another provider are told alike.
    let sub = app.store.merchant(sub_mchid).await?.filter(|m| m.sp_mchid.as_deref() == Some(&caller.mchid));
    let Some(sub) = sub else {
        let message = format!("特约商户号{sub_mchid}与服务商商户号{}不存在受理关系", caller.mchid);
        return Ok(Err(refuse(app, &who, action.as_str(), &target, message).await?));
    };
    let held = held_privileges(app, &provider.sp_mchid).await?;
    for need in action.privileges() {
        if !held.contains_key(*need) {
            let title = provider::privilege(need).map(|p| p.title.as_str()).unwrap_or(need);
            let message = format!("服务商未获得权限 {need}（{title}），请联系平台运营方开通");
            return Ok(Err(refuse(app, &who, action.as_str(), &target, message).await?));
        }
    }
    Ok(Ok(Scope { owner: sub, provider: Some(provider) }))
}

/// The privileges a provider holds now, by key.
pub async fn held_privileges(
    app: &App,
    sp_mchid: &str,
) -> Result<std::collections::BTreeMap<String, provider::Held>, Internal> {
    let events = app.store.privilege_events(sp_mchid).await?;
    Ok(provider::held_at(&events, app.clock.business_now().unix()))
}

/// Why a call was not allowed to go on.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// The body or query names another merchant than the signer.
    #[error("the request names merchant {0}, not the signer")]
    MchidMismatch(String),
    #[error("{0}")]
    Refused(Refused),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The whole check of a call: `named` (the `mchid` or `sp_mchid` the
/// request carries, if the protocol has one there) must be the signer, then
/// [`act_for`]. Both kinds of refusal are logged.
pub async fn authorize(
    app: &App,
    caller: &Merchant,
    named: Option<&str>,
    sub_mchid: Option<&str>,
    action: Action,
) -> Result<Scope, Denied> {
    if let Some(named) = named.filter(|n| *n != caller.mchid) {
        let target = format!("mchid:{named}");
        refuse(app, &principal(caller), action.as_str(), &target, "the request names another merchant".into()).await?;
        return Err(Denied::MchidMismatch(named.to_owned()));
    }
    act_for(app, caller, sub_mchid, action).await?.map_err(Denied::Refused)
}
