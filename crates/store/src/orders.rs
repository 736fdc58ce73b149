//! Orders: placing (idempotent on `out_trade_no`), finding, closing, paying
//! and expiring them.

use koudai_domain::ledger::{movement, Entry};
use koudai_domain::trade::{self, TransitionError};
use koudai_domain::{TradeState, TradeType};

use crate::ledger::{lock_accounts, post, PostError};
use crate::notifications::NewNotification;
use crate::parties::ensure_openid_in;
use crate::Flag;
use crate::{Store, StoreError, WriteTx};

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Order {
    pub id: i64,
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    #[sqlx(try_from = "String")]
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: i64,
    pub payer_openid: Option<String>,
    pub device_id: Option<String>,
    pub params_digest: String,
    pub time_expire: i64,
    pub created_at: i64,
    /// The state last written (`trade_state`); see [`Order::state_at`].
    #[sqlx(rename = "trade_state", try_from = "String")]
    pub stored_state: TradeState,
    pub transaction_id: Option<String>,
    pub success_time: Option<i64>,
    pub payer_login: Option<String>,
    pub prepay_id: String,
    pub prepay_expires_at: i64,
    pub pay_token: String,
    /// The fee rule, rate and fee taken at payment.
    pub fee_rule: Option<String>,
    pub fee_rate_ppm: Option<i64>,
    pub fee_fen: i64,
    /// Refunds that still stand (not closed), and the fee they returned.
    pub refunded_fen: i64,
    pub fee_refunded_fen: i64,
    pub refund_count: i64,
    /// This order's money still in the merchant's pending account.
    pub pending_fen: i64,
    /// `YYYY-MM-DD`: the business day its funds settle, and the day they did.
    pub settles_on: Option<String>,
    pub settled_on: Option<String>,
    /// Partner mode: the provider that placed it (`mchid` is then the
    /// sub-merchant whose money it is, `appid` the provider's `sp_appid`).
    pub sp_mchid: Option<String>,
    pub sub_appid: Option<String>,
    /// The payer's openid under `sub_appid`.
    pub payer_sub_openid: Option<String>,
    /// Placed with `settle_info.profit_sharing = true`.
    #[sqlx(try_from = "i64")]
    pub profit_sharing: Flag,
    /// While its funds are frozen for profit sharing: when they unfreeze by
    /// themselves (business time).
    pub frozen_until: Option<i64>,
    /// Shared to receivers so far (asked for and not closed).
    pub shared_fen: i64,
    /// Paid at a store's pay code: the store's poi_id, and the
    /// `scene_info.store_info` object (JSON) the transaction shows.
    pub store_id: Option<String>,
    pub store_info: Option<String>,
}

impl Order {
    /// Whether its funds are frozen for profit sharing at business time `now`.
    pub fn is_frozen(&self) -> bool {
        self.frozen_until.is_some() && self.settled_on.is_none()
    }

    /// What may still be shared or unfrozen.
    pub fn unsplit_fen(&self) -> i64 {
        if self.is_frozen() {
            self.pending_fen
        } else {
            0
        }
    }

    /// The state at business time `now`, counting expiry not yet written down.
    pub fn state_at(&self, now: i64) -> TradeState {
        self.stored_state.effective(self.time_expire, now)
    }
}

/// An order to insert.
#[derive(Debug, Clone)]
pub struct NewOrderRecord {
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
    pub params_digest: String,
    pub time_expire: i64,
    pub created_at: i64,
    pub prepay_id: String,
    pub prepay_expires_at: i64,
    pub pay_token: String,
    pub sp_mchid: Option<String>,
    pub sub_appid: Option<String>,
    pub payer_sub_openid: Option<String>,
    pub profit_sharing: bool,
    /// A store payment's poi_id and `store_info` (JSON).
    pub store_id: Option<String>,
    pub store_info: Option<String>,
}

/// How a payment finds its order.
#[derive(Debug, Clone)]
pub enum OrderLocator {
    PrepayId(String),
    PayToken(String),
}

/// What a payment attempt should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayOutcome {
    /// Take the money.
    Success,
    /// The payer's bank refused: record `PAYERROR`, move no money.
    PayError,
}

/// A payment, as the consumer asked for it.
#[derive(Debug, Clone)]
pub struct PayCommand {
    pub locator: OrderLocator,
    pub consumer_login: String,
    pub now: i64,
    pub outcome: PayOutcome,
    /// Used if the payment succeeds.
    pub transaction_id: String,
    /// Used if the consumer has no openid for the order's app yet.
    pub fresh_openid: String,
    /// Likewise for a partner order's `sub_appid`.
    pub fresh_sub_openid: String,
    /// What the payment costs the merchant (decided by the caller under the
    /// merchant's fee rule in force; the payment fails with
    /// [`crate::PayError::RuleChanged`] if the rule changed meanwhile).
    pub charge: koudai_domain::fees::Charge,
    /// Until when a payment for profit sharing stays frozen.
    pub frozen_until: Option<i64>,
}

/// The columns of [`Order`], for queries that select or return a whole order.
pub(crate) const COLUMNS: &str =
    "id, mchid, appid, out_trade_no, trade_type, description, attach, notify_url, total_fen, \
    payer_openid, device_id, params_digest, time_expire, created_at, trade_state, transaction_id, success_time, \
    payer_login, prepay_id, prepay_expires_at, pay_token, fee_rule, fee_rate_ppm, fee_fen, refunded_fen, \
    fee_refunded_fen, refund_count, pending_fen, settles_on, settled_on, sp_mchid, sub_appid, payer_sub_openid, \
    profit_sharing, frozen_until, shared_fen, store_id, store_info";

/// The result of placing an order.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// A new order.
    Created(Order),
    /// An order with this `out_trade_no` already existed; it is returned as
    /// stored, for the caller to compare parameters and state.
    Existing(Order),
}

/// Why a payment did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("no such order")]
    OrderNotFound,
    #[error("no such consumer")]
    ConsumerNotFound,
    #[error("the order is closed")]
    Closed,
    #[error("the order is already paid")]
    AlreadyPaid,
    #[error("the order is for another payer")]
    OpenidMismatch,
    #[error("the wallet balance does not cover the order")]
    NotEnough,
    #[error("the merchant's fee rule changed to {0} since the charge was decided")]
    RuleChanged(String),
    #[error("could not build the notification: {0}")]
    Notification(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::Contention for PayError {
    fn contended(&self) -> bool {
        matches!(self, PayError::Store(StoreError::Contended(_)))
    }
}

impl From<sqlx::Error> for PayError {
    fn from(e: sqlx::Error) -> Self {
        PayError::Store(e.into())
    }
}

/// Why an order could not be closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("no such order")]
    NotFound,
    #[error("the order is already paid")]
    AlreadyPaid,
    #[error("the order cannot be closed in state {0}")]
    NotAllowed(TradeState),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CloseError {
    fn from(e: sqlx::Error) -> Self {
        CloseError::Store(e.into())
    }
}

impl Store {
    /// Inserts an order unless the merchant already has one with this
    /// `out_trade_no`, in which case that one is returned.
    pub async fn create_order(&self, o: &NewOrderRecord) -> Result<CreateOutcome, StoreError> {
        let row: Option<Order> = sqlx::query_as(&insert_order_sql()).bind_order(o).fetch_optional(&self.pool).await?;
        match row {
            Some(o) => Ok(CreateOutcome::Created(o)),
            None => self
                .order_by_out_trade_no(&o.mchid, &o.out_trade_no)
                .await?
                .map(CreateOutcome::Existing)
                .ok_or(StoreError::NotFound),
        }
    }

    /// Gives an order a new `prepay_id` (the old one expired) and returns it.
    pub async fn renew_prepay_id(&self, order_id: i64, prepay_id: &str, expires_at: i64) -> Result<Order, StoreError> {
        Ok(sqlx::query_as(&format!(
            "UPDATE orders SET prepay_id = $1, prepay_expires_at = $2 WHERE id = $3 RETURNING {COLUMNS}"
        ))
        .bind(prepay_id)
        .bind(expires_at)
        .bind(order_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn order_where(&self, clause: &str, a: &str, b: Option<&str>) -> Result<Option<Order>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM orders WHERE {clause}");
        let mut q = sqlx::query_as(&sql).bind(a);
        if let Some(b) = b {
            q = q.bind(b);
        }
        Ok(q.fetch_optional(&self.pool).await?)
    }

    pub async fn order_by_out_trade_no(&self, mchid: &str, out_trade_no: &str) -> Result<Option<Order>, StoreError> {
        self.order_where("mchid = $1 AND out_trade_no = $2", mchid, Some(out_trade_no)).await
    }

    pub async fn order_by_locator(&self, locator: &OrderLocator) -> Result<Option<Order>, StoreError> {
        match locator {
            OrderLocator::PrepayId(p) => self.order_where("prepay_id = $1", p, None).await,
            OrderLocator::PayToken(t) => self.order_where("pay_token = $1", t, None).await,
        }
    }

    /// Closes an unpaid order (closing a closed one again is fine).
    pub async fn close_order(&self, mchid: &str, out_trade_no: &str, now: i64) -> Result<Order, CloseError> {
        let mut tx = self.write().await?;
        let sql = tx.lock(&format!("SELECT {COLUMNS} FROM orders WHERE mchid = $1 AND out_trade_no = $2"));
        let order: Order = sqlx::query_as(&sql)
            .bind(mchid)
            .bind(out_trade_no)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(CloseError::NotFound)?;
        let next = trade::close(order.state_at(now)).map_err(|e| match e {
            TransitionError::AlreadyPaid => CloseError::AlreadyPaid,
            TransitionError::Closed | TransitionError::NotAllowed(_) => CloseError::NotAllowed(order.stored_state),
        })?;
        let closed = sqlx::query_as(&format!("UPDATE orders SET trade_state = $1 WHERE id = $2 RETURNING {COLUMNS}"))
            .bind(next.as_str())
            .bind(order.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(closed)
    }

    /// Pays an order from a consumer's wallet: in one transaction the order
    /// becomes `SUCCESS` with the charge the caller decided, the wallet is
    /// debited and the merchant's pending balance credited (one balanced
    /// journal entry, and one for the fee), `then` runs (the caller's own
    /// step, such as marking a shop order paid), and the notice that
    /// `notice` builds from the paid order enters the outbox. Any failure
    /// leaves nothing behind.
    ///
    /// A transaction that lost a race on PostgreSQL is run again (a few
    /// times), which is why `notice` and `then` may be called more than once.
    pub async fn pay_order<F>(&self, cmd: &PayCommand, notice: F, then: Option<TxStep>) -> Result<Order, PayError>
    where
        F: Fn(&Order) -> Result<Option<NewNotification>, String>,
    {
        crate::error::retrying(|| self.pay_order_once(cmd, &notice, then)).await
    }

    async fn pay_order_once<F>(&self, cmd: &PayCommand, notice: &F, then: Option<TxStep>) -> Result<Order, PayError>
    where
        F: Fn(&Order) -> Result<Option<NewNotification>, String>,
    {
        let mut tx = self.write().await?;
        let (order, login, next) = lock_for_payment(&mut tx, cmd).await?;
        let openid = ensure_openid_in(&mut tx, &login, &order.appid, &cmd.fresh_openid).await?;
        let sub_openid = match &order.sub_appid {
            Some(sub_appid) => Some(ensure_openid_in(&mut tx, &login, sub_appid, &cmd.fresh_sub_openid).await?),
            None => None,
        };
        if next == TradeState::PayError {
            let failed =
                sqlx::query_as(&format!("UPDATE orders SET trade_state = $1 WHERE id = $2 RETURNING {COLUMNS}"))
                    .bind(next.as_str())
                    .bind(order.id)
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            return Ok(failed);
        }
        post_payment(&mut tx, &order, &login, cmd).await?;
        let paid: Order = sqlx::query_as(&format!(
            "UPDATE orders SET trade_state = $1, transaction_id = $2, success_time = $3, payer_login = $4, payer_openid = $5, \
             fee_rule = $6, fee_rate_ppm = $7, fee_fen = $8, pending_fen = $9, settles_on = $10, \
             payer_sub_openid = $11, frozen_until = $12 WHERE id = $13 RETURNING {COLUMNS}"
        ))
        .bind(next.as_str())
        .bind(&cmd.transaction_id)
        .bind(cmd.now)
        .bind(&login)
        .bind(&openid)
        .bind(&cmd.charge.rule_id)
        .bind(cmd.charge.rate_ppm)
        .bind(cmd.charge.fee_fen)
        .bind(order.total_fen - cmd.charge.fee_fen)
        .bind(&cmd.charge.settles_on)
        .bind(&sub_openid)
        .bind(cmd.frozen_until)
        .bind(order.id)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(step) = then {
            step(&mut tx, &paid).await?;
        }
        if let Some(n) = notice(&paid).map_err(PayError::Notification)? {
            crate::notifications::enqueue(&mut tx, &n).await?;
        }
        tx.commit().await?;
        Ok(paid)
    }

    /// Writes down the closure of unpaid orders whose time has passed.
    pub async fn expire_orders(&self, now: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("UPDATE orders SET trade_state = $1 WHERE trade_state IN ($2, $3, $4) AND time_expire <= $5")
            .bind(TradeState::Closed.as_str())
            .bind(TradeState::NotPay.as_str())
            .bind(TradeState::UserPaying.as_str())
            .bind(TradeState::PayError.as_str())
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

fn insert_order_sql() -> String {
    format!(
        "INSERT INTO orders (mchid, appid, out_trade_no, trade_type, description, attach, notify_url, total_fen, \
         payer_openid, device_id, params_digest, time_expire, created_at, trade_state, prepay_id, prepay_expires_at, pay_token, \
         sp_mchid, sub_appid, payer_sub_openid, profit_sharing, store_id, store_info) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) \
         ON CONFLICT (mchid, out_trade_no) DO NOTHING RETURNING {COLUMNS}"
    )
}

trait BindOrder<'q> {
    fn bind_order(self, o: &'q NewOrderRecord) -> Self;
}

impl<'q, DB, O> BindOrder<'q> for sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    fn bind_order(self, o: &'q NewOrderRecord) -> Self {
        self.bind(&o.mchid)
            .bind(&o.appid)
            .bind(&o.out_trade_no)
            .bind(o.trade_type.as_str())
            .bind(&o.description)
            .bind(&o.attach)
            .bind(&o.notify_url)
            .bind(o.total_fen)
            .bind(&o.payer_openid)
            .bind(&o.device_id)
            .bind(&o.params_digest)
            .bind(o.time_expire)
            .bind(o.created_at)
            .bind(TradeState::NotPay.as_str())
            .bind(&o.prepay_id)
            .bind(o.prepay_expires_at)
            .bind(&o.pay_token)
            .bind(&o.sp_mchid)
            .bind(&o.sub_appid)
            .bind(&o.payer_sub_openid)
            .bind(i64::from(o.profit_sharing))
            .bind(&o.store_id)
            .bind(&o.store_info)
    }
}

/// Inserts a payment order inside a transaction (a shop purchase creates
/// it with the shop order and the stock reservation).
pub(crate) async fn insert_order(tx: &mut crate::WriteTx, o: &NewOrderRecord) -> Result<Order, StoreError> {
    let row: Option<Order> = sqlx::query_as(&insert_order_sql()).bind_order(o).fetch_optional(&mut **tx).await?;
    row.ok_or_else(|| StoreError::Conflict(format!("out_trade_no {} exists", o.out_trade_no)))
}

/// A caller's own step inside a payment's transaction, run with the paid
/// order (a shop marks its order paid): a plain function, so that it holds
/// nothing and the payment's future stays `Send`.
pub type TxStep = for<'a> fn(&'a mut WriteTx, &'a Order) -> StepFuture<'a>;
/// What a [`TxStep`] returns.
pub type StepFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Locks the order a payment names and checks who pays: the consumer must
/// exist, the order's state must allow the outcome, and a JSAPI order's
/// named payer must be the consumer. Returns the order, the consumer's
/// login and the state the order moves to.
async fn lock_for_payment(tx: &mut WriteTx, cmd: &PayCommand) -> Result<(Order, String, TradeState), PayError> {
    let (clause, key) = match &cmd.locator {
        OrderLocator::PrepayId(p) => ("prepay_id = $1", p),
        OrderLocator::PayToken(t) => ("pay_token = $1", t),
    };
    let sql = tx.lock(&format!("SELECT {COLUMNS} FROM orders WHERE {clause}"));
    let order: Order =
        sqlx::query_as(&sql).bind(key).fetch_optional(&mut **tx).await?.ok_or(PayError::OrderNotFound)?;
    let consumer: Option<String> = sqlx::query_scalar("SELECT login FROM consumers WHERE login = $1")
        .bind(&cmd.consumer_login)
        .fetch_optional(&mut **tx)
        .await?;
    let login = consumer.ok_or(PayError::ConsumerNotFound)?;
    let transition = match cmd.outcome {
        PayOutcome::Success => trade::pay(order.state_at(cmd.now)),
        PayOutcome::PayError => trade::fail_payment(order.state_at(cmd.now)),
    };
    let next = transition.map_err(|e| match e {
        TransitionError::AlreadyPaid => PayError::AlreadyPaid,
        TransitionError::Closed | TransitionError::NotAllowed(_) => PayError::Closed,
    })?;
    // A JSAPI order names its payer (by its openid under the order's
    // appid, or in partner mode possibly under `sub_appid`); anyone else
    // is refused. Other orders are paid by whoever scans or opens them.
    let named = match (&order.payer_openid, &order.payer_sub_openid, &order.sub_appid) {
        (Some(openid), _, _) => Some((openid, &order.appid)),
        (None, Some(openid), Some(sub_appid)) => Some((openid, sub_appid)),
        _ => None,
    };
    if let Some((openid, appid)) = named {
        let owner: Option<String> = sqlx::query_scalar("SELECT login FROM openids WHERE openid = $1 AND appid = $2")
            .bind(openid)
            .bind(appid)
            .fetch_optional(&mut **tx)
            .await?;
        if owner.as_deref() != Some(login.as_str()) {
            return Err(PayError::OpenidMismatch);
        }
    }
    Ok((order, login, next))
}

/// Posts a payment and its fee to the ledger, after checking that the
/// merchant's fee rule is still the one the charge was decided under.
async fn post_payment(tx: &mut WriteTx, order: &Order, login: &str, cmd: &PayCommand) -> Result<(), PayError> {
    let rule_id: String = sqlx::query_scalar("SELECT fee_rule FROM merchants WHERE mchid = $1")
        .bind(&order.mchid)
        .fetch_one(&mut **tx)
        .await?;
    if rule_id != cmd.charge.rule_id {
        return Err(PayError::RuleChanged(rule_id));
    }
    let insufficient = |e| match e {
        PostError::Insufficient(_) => PayError::NotEnough,
        PostError::Store(s) => PayError::Store(s),
    };
    let voucher = Some(order.out_trade_no.as_str());
    let fee = cmd.charge.fee_fen;
    let payment = movement::payment(login, &order.mchid, order.total_fen).map_err(crate::money::entry_error)?;
    let fee_entry =
        if fee > 0 { Some(movement::fee(&order.mchid, fee).map_err(crate::money::entry_error)?) } else { None };
    let entries: Vec<&Entry> = std::iter::once(&payment).chain(fee_entry.as_ref()).collect();
    lock_accounts(tx, &entries).await?;
    for entry in entries {
        post(tx, entry, &cmd.transaction_id, voucher, cmd.now).await.map_err(insufficient)?;
    }
    Ok(())
}
