//! The payment core, shared by the `/v3` surface, the cashier pages, the
//! sandbox API, store pay codes and shop purchases: placing orders
//! ([`prepay`] for a merchant's own, [`place`] for those the platform places
//! for an account's owner), paying them ([`pay_with`], the one door every
//! payment goes through: it decides the charge and hands the store one
//! transaction), closing them, and the transaction object they are
//! presented (and called back) as. Around it: [`refunds`], profit
//! [`sharing`], [`settlement`] (pending → available, payouts, the fee
//! schedule, `ledger verify`) and the [`bills`].

pub mod bills;
pub mod refunds;
pub mod settlement;
pub mod sharing;

use koudai_domain::fees::{self, Charge};
use koudai_domain::order::{self, FieldError, PREPAY_VALID_S};
use koudai_domain::sharing::{AUTO_UNFREEZE_DAYS, DAY_S};
use koudai_domain::{ids, BusinessTime, TradeState, TradeType};
use koudai_protocol::times;
use koudai_protocol::wire::{
    Amount, PartnerPayer, PartnerTransaction, Payer, SceneInfo, StoreInfo, Transaction, TransactionView,
};
use koudai_store::{
    CreateOutcome, Merchant, NewNotification, NewOrderRecord, Order, OrderLocator, PayCommand, PayOutcome, Standing,
    TxStep,
};

use crate::access::authz::{self, Action, Denied, Refused, Scope};
use crate::outbox::{self, Event};
use crate::{App, Internal};

/// Who an order is for: a direct merchant and its app, or a provider
/// acting for one of its sub-merchants (§8).
#[derive(Debug, Clone)]
pub enum OrderParties {
    Direct { mchid: String, appid: String },
    Partner { sp_mchid: String, sp_appid: String, sub_mchid: String, sub_appid: Option<String> },
}

/// How a JSAPI order names its payer.
#[derive(Debug, Clone)]
pub enum PayerId {
    /// `payer.openid` (direct) or `payer.sp_openid` (partner, under `sp_appid`).
    Openid(String),
    /// `payer.sub_openid` (partner, under `sub_appid`).
    SubOpenid(String),
}

/// An order as a merchant or provider asks for it, already read from the wire.
#[derive(Debug, Clone)]
pub struct PrepayCommand {
    pub parties: OrderParties,
    pub out_trade_no: String,
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: i64,
    pub payer: Option<PayerId>,
    pub device_id: Option<String>,
    /// `time_expire` as asked for (business Unix seconds).
    pub time_expire: Option<i64>,
    /// `settle_info.profit_sharing`: the funds stay frozen for sharing.
    pub profit_sharing: bool,
    /// `scene_info.store_info`: the store the payment is made at.
    pub store: Option<StoreInfo>,
    /// Digest of endpoint and canonical body: the same digest means "the same
    /// order again".
    pub params_digest: String,
}

/// Why an order was not placed.
#[derive(Debug, thiserror::Error)]
pub enum PrepayError {
    #[error("field {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("the body's mchid is not the signer's")]
    MchidMismatch,
    #[error("no such merchant")]
    MchNotExists,
    #[error("{0}")]
    Refused(Refused),
    #[error("fee rule {0} is not in the schedule in force")]
    NoFeeRule(String),
    #[error("deposit not paid in full: {due_fen} due, {held_fen} held")]
    DepositMissing { due_fen: i64, held_fen: i64 },
    #[error("amount over the rule's single-payment limit of {max_fen}")]
    RuleLimit { max_fen: i64 },
    #[error("the appid is not bound to the merchant")]
    AppidMchidNotMatch,
    #[error("the sub_appid is not bound to the sub-merchant")]
    SubAppidNotMatch,
    #[error("the payer's openid does not belong to the appid")]
    OpenidMismatch,
    #[error("out_trade_no used before with other parameters")]
    OutTradeNoUsed,
    #[error("the order is closed")]
    OrderClosed,
    #[error("the order is paid")]
    OrderPaid,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<Denied> for PrepayError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::MchidMismatch(_) => PrepayError::MchidMismatch,
            Denied::Refused(r) => PrepayError::Refused(r),
            Denied::Internal(e) => PrepayError::Internal(e),
        }
    }
}

impl From<koudai_store::StoreError> for PrepayError {
    fn from(e: koudai_store::StoreError) -> Self {
        PrepayError::Internal(e.into())
    }
}

/// Places an order for `caller` (the signer) or, in partner mode, for the
/// sub-merchant it names; or finds the same order placed before. One core
/// for both modes: partner mode differs only in who is allowed, which apps
/// must be bound, and whose notification key seals the callback.
pub async fn prepay(app: &App, caller: &Merchant, cmd: PrepayCommand) -> Result<Order, PrepayError> {
    let now = app.clock.business_now();
    let time_expire = order::payable_until(now.unix(), cmd.time_expire).map_err(PrepayError::Invalid)?;
    let action = if cmd.profit_sharing { Action::PrepayForSharing } else { Action::Prepay };
    let (named, sub_mchid) = match &cmd.parties {
        OrderParties::Direct { mchid, .. } => (mchid, None),
        OrderParties::Partner { sp_mchid, sub_mchid, .. } => (sp_mchid, Some(sub_mchid.as_str())),
    };
    if *named != caller.mchid && sub_mchid.is_none() && app.store.merchant(named).await?.is_none() {
        return Err(PrepayError::MchNotExists);
    }
    let scope = authz::authorize(app, caller, Some(named), sub_mchid, action).await?;
    let (appid, sub_appid) = match &cmd.parties {
        OrderParties::Direct { appid, .. } => (appid.clone(), None),
        OrderParties::Partner { sp_appid, sub_appid, .. } => (sp_appid.clone(), sub_appid.clone()),
    };
    let owner = &scope.owner.mchid;
    // The owner's standing, and the appid bound to the signer (the merchant
    // itself, in the same statement; or the provider) and a sub_appid to
    // the sub-merchant.
    let (standing, bound) =
        app.store.standing_for_app(owner, &appid, now.unix()).await?.ok_or(PrepayError::MchNotExists)?;
    check_standing(&standing, cmd.total_fen)?;
    let bound = if scope.provider.is_some() { app.store.is_app_bound(&appid, &caller.mchid).await? } else { bound };
    if !bound {
        return Err(PrepayError::AppidMchidNotMatch);
    }
    if let Some(sub_appid) = &sub_appid {
        if !app.store.is_app_bound(sub_appid, owner).await? {
            return Err(PrepayError::SubAppidNotMatch);
        }
    }
    let (payer_openid, payer_sub_openid) = match cmd.payer {
        Some(PayerId::Openid(o)) => (Some(o), None),
        Some(PayerId::SubOpenid(o)) => (None, Some(o)),
        None => (None, None),
    };
    if let Some(openid) = &payer_openid {
        if !app.store.openid_belongs_to_app(openid, &appid).await? {
            return Err(PrepayError::OpenidMismatch);
        }
    }
    if let (Some(openid), Some(sub_appid)) = (&payer_sub_openid, &sub_appid) {
        if !app.store.openid_belongs_to_app(openid, sub_appid).await? {
            return Err(PrepayError::OpenidMismatch);
        }
    }
    let record = NewOrderRecord {
        mchid: owner.clone(),
        appid,
        out_trade_no: cmd.out_trade_no,
        trade_type: cmd.trade_type,
        description: cmd.description,
        attach: cmd.attach.filter(|a| !a.is_empty()),
        notify_url: cmd.notify_url,
        total_fen: cmd.total_fen,
        payer_openid,
        device_id: cmd.device_id,
        params_digest: cmd.params_digest,
        time_expire,
        created_at: now.unix(),
        prepay_id: ids::prepay_id(now.datetime(), &app.rng.bytes()),
        prepay_expires_at: now.unix() + PREPAY_VALID_S,
        pay_token: ids::pay_token(&app.rng.bytes()),
        sp_mchid: scope.sp_mchid(),
        sub_appid,
        payer_sub_openid,
        profit_sharing: cmd.profit_sharing,
        store_id: cmd.store.as_ref().map(|s| s.id.clone()),
        store_info: match &cmd.store {
            Some(s) => Some(serde_json::to_string(s).map_err(|e| Internal::bug(format!("store_info: {e}")))?),
            None => None,
        },
    };
    match app.store.create_order(&record).await? {
        CreateOutcome::Created(o) => Ok(o),
        CreateOutcome::Existing(o) => {
            if o.params_digest != record.params_digest || o.sp_mchid != record.sp_mchid {
                return Err(PrepayError::OutTradeNoUsed);
            }
            match o.state_at(now.unix()) {
                TradeState::Closed | TradeState::Revoked => Err(PrepayError::OrderClosed),
                TradeState::Success | TradeState::Refund => Err(PrepayError::OrderPaid),
                TradeState::NotPay | TradeState::UserPaying | TradeState::PayError
                    if o.prepay_expires_at <= now.unix() =>
                {
                    let prepay_id = ids::prepay_id(now.datetime(), &app.rng.bytes());
                    Ok(app.store.renew_prepay_id(o.id, &prepay_id, now.unix() + PREPAY_VALID_S).await?)
                }
                TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => Ok(o),
            }
        }
    }
}

/// How a query names an order.
#[derive(Debug, Clone)]
pub enum OrderKey {
    OutTradeNo(String),
    TransactionId(String),
}

/// Finds an order in `scope`: the owner's, placed directly (no provider) or
/// by the scope's provider. An order found that belongs to someone else is
/// logged as a refusal and reported as missing, like one that does not
/// exist.
pub async fn find_order(
    app: &App,
    caller: &Merchant,
    scope: &Scope,
    key: &OrderKey,
    action: Action,
) -> Result<Option<Order>, Internal> {
    let found = match key {
        OrderKey::OutTradeNo(no) => app.store.order_by_out_trade_no(&scope.owner.mchid, no).await?,
        OrderKey::TransactionId(id) => app.store.order_by_transaction_id_anywhere(id).await?,
    };
    match found {
        Some(o) if o.mchid == scope.owner.mchid && o.sp_mchid == scope.sp_mchid() => Ok(Some(o)),
        Some(o) => {
            let target = match key {
                OrderKey::OutTradeNo(no) => format!("out_trade_no:{no}"),
                OrderKey::TransactionId(id) => format!("transaction_id:{id}"),
            };
            let owner = match &o.sp_mchid {
                Some(sp) => format!("{} (provider {sp})", o.mchid),
                None => o.mchid.clone(),
            };
            authz::hidden(app, caller, action, &target, &owner).await?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// `weixin://wxpay/bizpayurl?pr=<token>`, the Native QR code's content.
pub fn code_url(pay_token: &str) -> String {
    format!("weixin://wxpay/bizpayurl?pr={pay_token}")
}

/// A merchant takes payments only with its deposit paid in full and a fee
/// rule the schedule in force knows; the rule may cap single payments.
pub(crate) fn check_standing(standing: &Standing, total_fen: i64) -> Result<(), PrepayError> {
    let Some(rule) = &standing.rule else {
        return Err(PrepayError::NoFeeRule(standing.fee_rule_id.clone()));
    };
    if standing.deposit_missing_fen() > 0 {
        return Err(PrepayError::DepositMissing { due_fen: rule.deposit_fen, held_fen: standing.deposit_held_fen });
    }
    if let Some(max_fen) = rule.max_single_fen.filter(|max| total_fen > *max) {
        return Err(PrepayError::RuleLimit { max_fen });
    }
    Ok(())
}

/// Why an order was not closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("the body's mchid is not the signer's")]
    MchidMismatch,
    #[error("{0}")]
    Refused(Refused),
    #[error("no such order")]
    OrderNotExist,
    #[error("the order is paid")]
    OrderPaid,
    #[error("the order cannot be closed in state {0}")]
    NotAllowed(TradeState),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<Denied> for CloseError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::MchidMismatch(_) => CloseError::MchidMismatch,
            Denied::Refused(r) => CloseError::Refused(r),
            Denied::Internal(e) => CloseError::Internal(e),
        }
    }
}

/// Closes an order. `named` is the body's `mchid` (direct) or `sp_mchid`
/// (partner, with `sub_mchid`).
pub async fn close(
    app: &App,
    caller: &Merchant,
    named: &str,
    sub_mchid: Option<&str>,
    out_trade_no: &str,
) -> Result<(), CloseError> {
    let scope = authz::authorize(app, caller, Some(named), sub_mchid, Action::CloseOrder).await?;
    let key = OrderKey::OutTradeNo(out_trade_no.to_owned());
    if find_order(app, caller, &scope, &key, Action::CloseOrder).await?.is_none() {
        return Err(CloseError::OrderNotExist);
    }
    match app.store.close_order(&scope.owner.mchid, out_trade_no, app.clock.business_now().unix()).await {
        Ok(_) => Ok(()),
        Err(koudai_store::CloseError::NotFound) => Err(CloseError::OrderNotExist),
        Err(koudai_store::CloseError::AlreadyPaid) => Err(CloseError::OrderPaid),
        Err(koudai_store::CloseError::NotAllowed(s)) => Err(CloseError::NotAllowed(s)),
        Err(koudai_store::CloseError::Store(e)) => Err(CloseError::Internal(e.into())),
    }
}

/// Why a query found nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the query's mchid is not the signer's")]
    MchidMismatch,
    #[error("{0}")]
    Refused(Refused),
    #[error("no such order")]
    OrderNotExist,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<Denied> for QueryError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::MchidMismatch(_) => QueryError::MchidMismatch,
            Denied::Refused(r) => QueryError::Refused(r),
            Denied::Internal(e) => QueryError::Internal(e),
        }
    }
}

/// Queries an order (direct: `named` = `mchid`; partner: `named` =
/// `sp_mchid` and `sub_mchid`).
pub async fn query(
    app: &App,
    caller: &Merchant,
    named: &str,
    sub_mchid: Option<&str>,
    key: &OrderKey,
) -> Result<TransactionView, QueryError> {
    let scope = authz::authorize(app, caller, Some(named), sub_mchid, Action::QueryOrder).await?;
    let order = find_order(app, caller, &scope, key, Action::QueryOrder).await?.ok_or(QueryError::OrderNotExist)?;
    Ok(transaction_view(&order, app.clock.business_now()))
}

/// The transaction object of an order as seen at business time `now`: the
/// direct shape, or the partner one with `sp_*`/`sub_*` identities.
pub fn transaction_view(o: &Order, now: BusinessTime) -> TransactionView {
    let state = o.state_at(now.unix());
    let paid = matches!(state, TradeState::Success | TradeState::Refund);
    let amount =
        Amount { total: o.total_fen, payer_total: paid.then_some(o.total_fen), currency: "CNY", payer_currency: "CNY" };
    let store_info: Option<StoreInfo> = o.store_info.as_deref().and_then(|j| serde_json::from_str(j).ok());
    let scene_info = match (&o.device_id, store_info) {
        (None, None) => None,
        (device_id, store_info) => Some(SceneInfo { device_id: device_id.clone().unwrap_or_default(), store_info }),
    };
    match &o.sp_mchid {
        None => TransactionView::Direct(Transaction {
            appid: o.appid.clone(),
            mchid: o.mchid.clone(),
            out_trade_no: o.out_trade_no.clone(),
            transaction_id: o.transaction_id.clone(),
            trade_type: paid.then_some(o.trade_type.as_str()),
            trade_state: state.as_str(),
            trade_state_desc: state.description(),
            bank_type: paid.then_some("OTHERS"),
            attach: o.attach.clone(),
            success_time: o.success_time.map(times::format_rfc3339),
            payer: if paid { o.payer_openid.clone().map(|openid| Payer { openid }) } else { None },
            amount,
            scene_info,
            promotion_detail: vec![],
        }),
        Some(sp_mchid) => TransactionView::Partner(PartnerTransaction {
            sp_appid: o.appid.clone(),
            sp_mchid: sp_mchid.clone(),
            sub_appid: o.sub_appid.clone(),
            sub_mchid: o.mchid.clone(),
            out_trade_no: o.out_trade_no.clone(),
            transaction_id: o.transaction_id.clone(),
            trade_type: paid.then_some(o.trade_type.as_str()),
            trade_state: state.as_str(),
            trade_state_desc: state.description(),
            bank_type: paid.then_some("OTHERS"),
            attach: o.attach.clone(),
            success_time: o.success_time.map(times::format_rfc3339),
            payer: match (&o.payer_openid, paid) {
                (Some(sp_openid), true) => {
                    Some(PartnerPayer { sp_openid: sp_openid.clone(), sub_openid: o.payer_sub_openid.clone() })
                }
                _ => None,
            },
            amount,
            scene_info,
            promotion_detail: vec![],
        }),
    }
}

/// Why a consumer's payment failed.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("no such order")]
    OrderNotExist,
    #[error("no such consumer")]
    ConsumerNotFound,
    #[error("the order is closed")]
    Closed,
    #[error("the order is paid")]
    AlreadyPaid,
    #[error("the order is for another payer")]
    PayerMismatch,
    #[error("the wallet balance does not cover the order")]
    NotEnough,
    #[error("fee rule {0} is not in the schedule in force")]
    NoFeeRule(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<koudai_store::StoreError> for PayError {
    fn from(e: koudai_store::StoreError) -> Self {
        PayError::Internal(e.into())
    }
}

impl From<koudai_store::PayError> for PayError {
    fn from(e: koudai_store::PayError) -> Self {
        use koudai_store::PayError as S;
        match e {
            S::OrderNotFound => PayError::OrderNotExist,
            S::ConsumerNotFound => PayError::ConsumerNotFound,
            S::Closed => PayError::Closed,
            S::AlreadyPaid => PayError::AlreadyPaid,
            S::OpenidMismatch => PayError::PayerMismatch,
            S::NotEnough => PayError::NotEnough,
            S::RuleChanged(rule) => {
                PayError::Internal(Internal::bug(format!("the fee rule kept changing (now {rule})")))
            }
            S::Notification(e) => PayError::Internal(Internal::bug(format!("sealing the notification: {e}"))),
            S::Store(e) => PayError::Internal(e.into()),
        }
    }
}

/// What a payment sends when it succeeds.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The APIv3 `TRANSACTION.SUCCESS` callback to the order's
    /// `notify_url`, sealed for whoever placed it.
    Callback,
    /// Another notice, built by the caller (a shop order's `merchant_order`
    /// push), or none.
    Instead(Option<NewNotification>),
}

/// Pays an order as a consumer with the `TRANSACTION.SUCCESS` callback. On
/// success the notification is in the outbox and the delivery job has been
/// woken.
pub async fn pay(
    app: &App,
    locator: OrderLocator,
    consumer_login: &str,
    outcome: PayOutcome,
) -> Result<Order, PayError> {
    pay_with(app, locator, consumer_login, outcome, Notice::Callback, None).await
}

/// How many times a payment is tried again when the merchant's fee rule
/// changed between deciding the charge and paying.
const CHARGE_TRIES: u32 = 3;

/// Pays an order as a consumer: the one door every payment goes through.
/// The charge (fee rule in force, fee, settlement day) is decided here;
/// `notice` says what the payment announces; `then` is the caller's own
/// step inside the payment's transaction (a shop marks its order paid).
pub async fn pay_with(
    app: &App,
    locator: OrderLocator,
    consumer_login: &str,
    outcome: PayOutcome,
    notice: Notice,
    then: Option<TxStep>,
) -> Result<Order, PayError> {
    let order = app.store.order_by_locator(&locator).await?.ok_or(PayError::OrderNotExist)?;
    // The callback goes to whoever placed the order: the merchant, or the
    // provider (sealed with its APIv3 key, signed per its key mode).
    let recipient = order.sp_mchid.as_deref().unwrap_or(&order.mchid);
    let merchant = app
        .store
        .merchant(recipient)
        .await?
        .ok_or_else(|| Internal::bug(format!("order {} has no merchant {recipient}", order.id)))?;
    let mut tries = 0;
    loop {
        tries += 1;
        let now = app.clock.business_now();
        let cmd = PayCommand {
            locator: locator.clone(),
            consumer_login: consumer_login.to_owned(),
            now: now.unix(),
            outcome,
            transaction_id: ids::transaction_id(now.datetime(), &app.rng.bytes()),
            fresh_openid: ids::openid(&app.rng.bytes()),
            fresh_sub_openid: ids::openid(&app.rng.bytes()),
            charge: charge(app, &order, now).await?,
            frozen_until: order.profit_sharing.0.then_some(now.unix() + AUTO_UNFREEZE_DAYS * DAY_S),
        };
        let build = |paid: &Order| match &notice {
            Notice::Callback => {
                let plaintext = serde_json::to_vec(&transaction_view(paid, now)).map_err(|e| e.to_string())?;
                let event =
                    Event { event_type: "TRANSACTION.SUCCESS", summary: "支付成功", original_type: "transaction" };
                outbox::seal(app, &event, &plaintext, &merchant, now, (&paid.out_trade_no, &paid.notify_url)).map(Some)
            }
            Notice::Instead(n) => Ok(n.clone()),
        };
        match app.store.pay_order(&cmd, build, then).await {
            Ok(paid) => {
                app.wake.delivery();
                return Ok(paid);
            }
            Err(koudai_store::PayError::RuleChanged(_)) if tries < CHARGE_TRIES => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The charge on `order` if paid now: the owner's fee rule in the schedule
/// in force decides the fee and the settlement day.
async fn charge(app: &App, order: &Order, now: BusinessTime) -> Result<Charge, PayError> {
    let standing = app
        .store
        .standing(&order.mchid, now.unix())
        .await?
        .ok_or_else(|| Internal::bug(format!("order {} has no merchant {}", order.id, order.mchid)))?;
    let rule = standing.rule.ok_or(PayError::NoFeeRule(standing.fee_rule_id))?;
    Ok(fees::charge(order.total_fen, &rule, now.unix()))
}

/// An order the platform places itself, for the owner of an official
/// account (a store payment, a shop purchase): the payment core builds
/// every order.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    /// The account's owner: a direct merchant, or a sub-merchant (then the
    /// order is a partner order of its provider, the account its
    /// `sub_appid`).
    pub owner: Merchant,
    /// The official account the sale is made under.
    pub account_appid: String,
    pub out_trade_no: String,
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: i64,
    /// The consumer's openid under the account, when the order names its
    /// payer (JSAPI).
    pub payer: Option<String>,
    pub store: Option<StoreInfo>,
    /// How long it may be paid (business seconds from now).
    pub payable_s: i64,
    /// What makes a second placing "the same order again".
    pub params_digest: String,
}

/// The record of a placed order, for a caller that inserts it in its own
/// transaction (a shop purchase reserves stock with it).
pub async fn placed_record(app: &App, p: PlacedOrder) -> Result<NewOrderRecord, Internal> {
    let now = app.clock.business_now();
    // A sub-merchant's sale is a partner payment: the provider's app, the
    // account as sub_appid.
    let (appid, sub_appid, payer_openid, payer_sub_openid) = match &p.owner.sp_mchid {
        Some(sp) => {
            let provider =
                app.store.provider(sp).await?.ok_or_else(|| Internal::bug("a sub-merchant of no provider"))?;
            (provider.sp_appid, Some(p.account_appid), None, p.payer)
        }
        None => (p.account_appid, None, p.payer, None),
    };
    let store_info = match &p.store {
        Some(s) => Some(serde_json::to_string(s).map_err(|e| Internal::bug(format!("store_info: {e}")))?),
        None => None,
    };
    Ok(NewOrderRecord {
        mchid: p.owner.mchid.clone(),
        appid,
        out_trade_no: p.out_trade_no,
        trade_type: p.trade_type,
        description: p.description,
        attach: p.attach,
        notify_url: p.notify_url,
        total_fen: p.total_fen,
        payer_openid,
        device_id: None,
        params_digest: p.params_digest,
        time_expire: now.unix() + p.payable_s,
        created_at: now.unix(),
        prepay_id: ids::prepay_id(now.datetime(), &app.rng.bytes()),
        prepay_expires_at: now.unix() + PREPAY_VALID_S,
        pay_token: ids::pay_token(&app.rng.bytes()),
        sp_mchid: p.owner.sp_mchid.clone(),
        sub_appid,
        payer_sub_openid,
        profit_sharing: false,
        store_id: p.store.as_ref().map(|s| s.id.clone()),
        store_info,
    })
}

/// Places an order for an account's owner, or finds the one placed before
/// under the same `out_trade_no`.
pub async fn place(app: &App, p: PlacedOrder) -> Result<CreateOutcome, Internal> {
    let record = placed_record(app, p).await?;
    Ok(app.store.create_order(&record).await?)
}
