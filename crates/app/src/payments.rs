//! Payments, shared by the `/v3` surface, the cashier pages and the sandbox
//! API: placing orders, paying them from a wallet, closing them, and the
//! transaction object they are presented (and called back) as.

use koudai_domain::order::{self, FieldError, PREPAY_VALID_S};
use koudai_domain::{ids, BusinessTime, TradeState, TradeType};
use koudai_protocol::times;
use koudai_protocol::wire::{Amount, Payer, SceneInfo, Transaction};
use koudai_store::{CreateOutcome, Merchant, NewOrderRecord, Order, OrderLocator, PayCommand, PayOutcome, Standing};

use crate::outbox::{self, Event};
use crate::{App, Internal};

/// An order as a merchant asks for it, already read from the wire.
#[derive(Debug, Clone)]
pub struct PrepayCommand {
    /// The `mchid` the body names (must be the signer's).
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: i64,
    pub payer_openid: Option<String>,
    pub device_id: Option<String>,
    /// `time_expire` as asked for (business Unix seconds).
    pub time_expire: Option<i64>,
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
    #[error("fee rule {0} is not in the schedule in force")]
    NoFeeRule(String),
    #[error("deposit not paid in full: {due_fen} due, {held_fen} held")]
    DepositMissing { due_fen: i64, held_fen: i64 },
    #[error("amount over the rule's single-payment limit of {max_fen}")]
    RuleLimit { max_fen: i64 },
    #[error("the appid is not bound to the merchant")]
    AppidMchidNotMatch,
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

impl From<koudai_store::StoreError> for PrepayError {
    fn from(e: koudai_store::StoreError) -> Self {
        PrepayError::Internal(e.into())
    }
}

/// Places an order for `merchant` (the signer), or finds the same order
/// placed before.
pub async fn prepay(app: &App, merchant: &Merchant, cmd: PrepayCommand) -> Result<Order, PrepayError> {
    let now = app.clock.business_now();
    let time_expire = order::payable_until(now.unix(), cmd.time_expire).map_err(PrepayError::Invalid)?;
    if cmd.mchid != merchant.mchid {
        return Err(match app.store.merchant(&cmd.mchid).await? {
            None => PrepayError::MchNotExists,
            Some(_) => PrepayError::MchidMismatch,
        });
    }
    let (standing, app_bound) =
        app.store.standing_for_app(&cmd.mchid, &cmd.appid, now.unix()).await?.ok_or(PrepayError::MchNotExists)?;
    check_standing(&standing, cmd.total_fen)?;
    if !app_bound {
        return Err(PrepayError::AppidMchidNotMatch);
    }
    if let Some(openid) = &cmd.payer_openid {
        if !app.store.openid_belongs_to_app(openid, &cmd.appid).await? {
            return Err(PrepayError::OpenidMismatch);
        }
    }
    let record = NewOrderRecord {
        mchid: cmd.mchid,
        appid: cmd.appid,
        out_trade_no: cmd.out_trade_no,
        trade_type: cmd.trade_type,
        description: cmd.description,
        attach: cmd.attach.filter(|a| !a.is_empty()),
        notify_url: cmd.notify_url,
        total_fen: cmd.total_fen,
        payer_openid: cmd.payer_openid,
        device_id: cmd.device_id,
        params_digest: cmd.params_digest,
        time_expire,
        created_at: now.unix(),
        prepay_id: ids::prepay_id(now.datetime(), &app.rng.bytes()),
        prepay_expires_at: now.unix() + PREPAY_VALID_S,
        pay_token: ids::pay_token(&app.rng.bytes()),
    };
    match app.store.create_order(&record).await? {
        CreateOutcome::Created(o) => Ok(o),
        CreateOutcome::Existing(o) => {
            if o.params_digest != record.params_digest {
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

/// `weixin://wxpay/bizpayurl?pr=<token>`, the Native QR code's content.
pub fn code_url(pay_token: &str) -> String {
    format!("weixin://wxpay/bizpayurl?pr={pay_token}")
}

/// A merchant takes payments only with its deposit paid in full and a fee
/// rule the schedule in force knows; the rule may cap single payments.
fn check_standing(standing: &Standing, total_fen: i64) -> Result<(), PrepayError> {
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
    #[error("no such order")]
    OrderNotExist,
    #[error("the order is paid")]
    OrderPaid,
    #[error("the order cannot be closed in state {0}")]
    NotAllowed(TradeState),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Closes an order of `merchant`; `body_mchid` is the `mchid` of the body.
pub async fn close(app: &App, merchant: &Merchant, body_mchid: &str, out_trade_no: &str) -> Result<(), CloseError> {
    if body_mchid != merchant.mchid {
        return Err(CloseError::MchidMismatch);
    }
    match app.store.close_order(&merchant.mchid, out_trade_no, app.clock.business_now().unix()).await {
        Ok(_) => Ok(()),
        Err(koudai_store::CloseError::NotFound) => Err(CloseError::OrderNotExist),
        Err(koudai_store::CloseError::AlreadyPaid) => Err(CloseError::OrderPaid),
        Err(koudai_store::CloseError::NotAllowed(s)) => Err(CloseError::NotAllowed(s)),
        Err(koudai_store::CloseError::Store(e)) => Err(CloseError::Internal(e.into())),
    }
}

/// The transaction object of an order as seen at business time `now`.
pub fn transaction_view(o: &Order, now: BusinessTime) -> Transaction {
    let state = o.state_at(now.unix());
    let paid = matches!(state, TradeState::Success | TradeState::Refund);
    Transaction {
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
        amount: Amount {
            total: o.total_fen,
            payer_total: paid.then_some(o.total_fen),
            currency: "CNY",
            payer_currency: "CNY",
        },
        scene_info: o.device_id.clone().map(|device_id| SceneInfo { device_id }),
        promotion_detail: vec![],
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
            S::NoFeeRule(rule) => PayError::NoFeeRule(rule),
            S::Notification(e) => PayError::Internal(Internal::bug(format!("sealing the notification: {e}"))),
            S::Store(e) => PayError::Internal(e.into()),
        }
    }
}

/// Pays an order as a consumer. On success the `TRANSACTION.SUCCESS`
/// notification is in the outbox and the delivery job has been woken.
pub async fn pay(
    app: &App,
    locator: OrderLocator,
    consumer_login: &str,
    outcome: PayOutcome,
) -> Result<Order, PayError> {
    let order = app.store.order_by_locator(&locator).await?.ok_or(PayError::OrderNotExist)?;
    let merchant = app
        .store
        .merchant(&order.mchid)
        .await?
        .ok_or_else(|| Internal::bug(format!("order {} has no merchant", order.id)))?;
    let now = app.clock.business_now();
    let cmd = PayCommand {
        locator,
        consumer_login: consumer_login.to_owned(),
        now: now.unix(),
        outcome,
        transaction_id: ids::transaction_id(now.datetime(), &app.rng.bytes()),
        fresh_openid: ids::openid(&app.rng.bytes()),
    };
    let paid = app
        .store
        .pay_order(&cmd, |paid| {
            let plaintext = serde_json::to_vec(&transaction_view(paid, now)).map_err(|e| e.to_string())?;
            let event =
                Event { event_type: "TRANSACTION.SUCCESS", summary: "支付成功", original_type: "transaction" };
            outbox::seal(app, &event, &plaintext, &merchant, now, (&paid.out_trade_no, &paid.notify_url))
        })
        .await?;
    app.wake.notify_one();
    Ok(paid)
}
