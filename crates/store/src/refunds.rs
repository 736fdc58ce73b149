//! Refunds: created against a paid order (idempotent on `out_refund_no`),
//! the merchant's money and the fee share moved into refund clearing at
//! once, then finished — `SUCCESS` into the consumer's wallet, `CLOSED` back
//! to the merchant, or `ABNORMAL` left in clearing — each step one
//! transaction with its journal entries and its notification.

use koudai_domain::fees::fee_refund_fen;
use koudai_domain::ledger::{movement, AccountKind, Entry};
use koudai_domain::refund::{self, FundsAccount, RefundRefusal, RefundStatus, MAX_REFUNDS_PER_ORDER, REFUND_WINDOW_S};
use koudai_domain::{trade, TradeState};

use crate::ledger::{lock_accounts, post, PostError};
use crate::money::entry_error;
use crate::notifications::NewNotification;
use crate::orders::Order;
use crate::orders::COLUMNS as ORDER_COLUMNS;
use crate::{Store, StoreError, WriteTx};

const COLUMNS: &str = "id, refund_id, mchid, out_refund_no, order_id, reason, notify_url, refund_fen, fee_refund_fen, \
    funds_account, status, params_digest, created_at, due_at, success_time, closed_at, sp_mchid";

/// A refund as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Refund {
    pub id: i64,
    pub refund_id: String,
    pub mchid: String,
    pub out_refund_no: String,
    pub order_id: i64,
    pub reason: Option<String>,
    pub notify_url: String,
    pub refund_fen: i64,
    pub fee_refund_fen: i64,
    /// Taken from pending (`UNSETTLED`) or available funds.
    #[sqlx(try_from = "String")]
    pub funds_account: FundsAccount,
    #[sqlx(try_from = "String")]
    pub status: RefundStatus,
    pub params_digest: String,
    pub created_at: i64,
    pub due_at: i64,
    pub success_time: Option<i64>,
    pub closed_at: Option<i64>,
    /// The provider that asked for it (partner mode).
    pub sp_mchid: Option<String>,
}

/// How a refund names its order.
#[derive(Debug, Clone)]
pub enum RefundTarget {
    OutTradeNo(String),
    TransactionId(String),
}

/// A refund as the merchant asked for it.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// The merchant whose order it is (the sub-merchant in partner mode).
    pub mchid: String,
    /// The provider asking, in partner mode: only its own orders are found.
    pub sp_mchid: Option<String>,
    pub target: RefundTarget,
    pub out_refund_no: String,
    pub reason: Option<String>,
    /// `None`: the order's `notify_url`.
    pub notify_url: Option<String>,
    pub refund_fen: i64,
    /// `amount.total` as the merchant stated it; must equal the order's.
    pub total_fen: i64,
    pub params_digest: String,
    /// Used if a new refund is created.
    pub refund_id: String,
    pub now: i64,
}

/// The result of asking for a refund.
#[derive(Debug, Clone)]
pub enum RefundCreated {
    Created(Refund, Order),
    /// A refund with this `out_refund_no` existed already; returned as stored.
    Existing(Refund, Order),
}

/// Why a refund was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no such order")]
    OrderNotFound,
    #[error("the order is not paid")]
    NotPaid,
    #[error("amount.total {stated} is not the order's total {actual}")]
    TotalMismatch { stated: i64, actual: i64 },
    #[error("{0}")]
    Refused(RefundRefusal),
    #[error("the order has had {MAX_REFUNDS_PER_ORDER} refunds already")]
    TooMany,
    #[error("the order was paid more than a year ago")]
    TooLate,
    #[error("the merchant's funds do not cover the refund")]
    NotEnough,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::Contention for RefundError {
    fn contended(&self) -> bool {
        matches!(self, RefundError::Store(StoreError::Contended(_)))
    }
}

impl From<sqlx::Error> for RefundError {
    fn from(e: sqlx::Error) -> Self {
        RefundError::Store(e.into())
    }
}

/// Builds the notification of a refund that reached a final state.
pub type RefundNotifier<'a> = dyn Fn(&Refund, &Order) -> Result<NewNotification, String> + Send + Sync + 'a;

fn merchant_account(order: &Order) -> AccountKind {
    if order.settled_on.is_some() {
        AccountKind::MerchantAvailable
    } else {
        AccountKind::MerchantPending
    }
}

impl Store {
    /// Creates a refund, or returns the existing one with this
    /// `out_refund_no` (the caller compares `params_digest`).
    pub async fn create_refund(&self, r: &RefundRequest) -> Result<RefundCreated, RefundError> {
        crate::error::retrying(|| self.create_refund_once(r)).await
    }

    async fn create_refund_once(&self, r: &RefundRequest) -> Result<RefundCreated, RefundError> {
        let mut tx = self.write().await?;
        let order = lock_refunded_order(&mut tx, r).await?;

        // Looked up under the order's lock, so two requests with the same
        // out_refund_no cannot both create.
        let existing: Option<Refund> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM refunds WHERE mchid = $1 AND out_refund_no = $2"))
                .bind(&r.mchid)
                .bind(&r.out_refund_no)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(refund) = existing {
            let of = sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
                .bind(refund.order_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.rollback().await?;
            return Ok(RefundCreated::Existing(refund, of));
        }

        let next = check_refund(&order, r)?;
        let from = merchant_account(&order);
        let fee_back = fee_refund_fen(order.total_fen, order.fee_fen, order.refunded_fen, r.refund_fen);
        post_refund(&mut tx, &order, r, from, fee_back).await?;
        let refund_id = &r.refund_id;

        let pending_change = if from == AccountKind::MerchantPending { r.refund_fen - fee_back } else { 0 };
        // An order's own unsettled money bounds what a refund may take from
        // pending funds (profit shares may have taken part of it).
        if pending_change > order.pending_fen {
            return Err(RefundError::NotEnough);
        }
        let order: Order = sqlx::query_as(&format!(
            "UPDATE orders SET trade_state = $1, refunded_fen = refunded_fen + $2, fee_refunded_fen = fee_refunded_fen + $3, \
             refund_count = refund_count + 1, pending_fen = pending_fen - $4 WHERE id = $5 RETURNING {ORDER_COLUMNS}"
        ))
        .bind(next.as_str())
        .bind(r.refund_fen)
        .bind(fee_back)
        .bind(pending_change)
        .bind(order.id)
        .fetch_one(&mut *tx)
        .await?;
        let funds_account =
            if from == AccountKind::MerchantPending { FundsAccount::Unsettled } else { FundsAccount::Available };
        let refund: Refund = sqlx::query_as(&format!(
            "INSERT INTO refunds (refund_id, mchid, out_refund_no, order_id, reason, notify_url, refund_fen, fee_refund_fen, \
             funds_account, status, params_digest, created_at, due_at, sp_mchid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {COLUMNS}"
        ))
        .bind(refund_id)
        .bind(&r.mchid)
        .bind(&r.out_refund_no)
        .bind(order.id)
        .bind(&r.reason)
        .bind(r.notify_url.as_deref().unwrap_or(&order.notify_url))
        .bind(r.refund_fen)
        .bind(fee_back)
        .bind(funds_account.as_str())
        .bind(RefundStatus::Processing.as_str())
        .bind(&r.params_digest)
        .bind(r.now)
        .bind(r.now + refund::PROCESSING_S)
        .bind(&r.sp_mchid)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RefundCreated::Created(refund, order))
    }

    /// Another merchant that has a refund numbered `out_refund_no`, if any.
    pub async fn refund_owner_elsewhere(&self, out_refund_no: &str, mchid: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(sp_mchid, mchid) FROM refunds WHERE out_refund_no = $1 AND mchid <> $2 ORDER BY id LIMIT 1",
        )
        .bind(out_refund_no)
        .bind(mchid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The provider that asked for a refund (by row id), if any.
    pub async fn refund_provider(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>("SELECT sp_mchid FROM refunds WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    /// A refund by the merchant's `out_refund_no`, with its order.
    pub async fn refund_by_out_refund_no(
        &self,
        mchid: &str,
        out_refund_no: &str,
    ) -> Result<Option<(Refund, Order)>, StoreError> {
        let refund: Option<Refund> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM refunds WHERE mchid = $1 AND out_refund_no = $2"))
                .bind(mchid)
                .bind(out_refund_no)
                .fetch_optional(&self.pool)
                .await?;
        let Some(refund) = refund else { return Ok(None) };
        let order = sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(refund.order_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some((refund, order)))
    }

    /// The refunds of an order, oldest first.
    pub async fn refunds_of_order(&self, order_id: i64) -> Result<Vec<Refund>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY id"))
            .bind(order_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// `(id, mchid)` of `PROCESSING` refunds due at business time `now`.
    pub async fn due_refunds(&self, now: i64, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, mchid FROM refunds WHERE status = $1 AND due_at <= $2 ORDER BY due_at, id LIMIT $3",
        )
        .bind(RefundStatus::Processing.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves a refund to `to`, posting what that means and enqueueing its
    /// notification, in one transaction. Returns `None` when the refund is
    /// not in a state that allows it (another worker finished it first).
    pub async fn finish_refund(
        &self,
        id: i64,
        to: RefundStatus,
        now: i64,
        notification: Box<RefundNotifier<'_>>,
    ) -> Result<Option<(Refund, Order)>, StoreError> {
        crate::error::retrying(|| self.finish_refund_once(id, to, now, &*notification)).await
    }

    async fn finish_refund_once(
        &self,
        id: i64,
        to: RefundStatus,
        now: i64,
        notification: &RefundNotifier<'_>,
    ) -> Result<Option<(Refund, Order)>, StoreError> {
        let mut tx = self.write().await?;
        let refund: Refund = sqlx::query_as(&tx.lock(&format!("SELECT {COLUMNS} FROM refunds WHERE id = $1")))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if refund::transition(refund.status, to).is_err() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut order: Order = sqlx::query_as(&tx.lock(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1")))
            .bind(refund.order_id)
            .fetch_one(&mut *tx)
            .await?;
        let reference = refund.refund_id.as_str();
        let voucher = Some(refund.out_refund_no.as_str());
        match to {
            RefundStatus::Success => {
                let login = order
                    .payer_login
                    .clone()
                    .ok_or_else(|| StoreError::Other(format!("paid order {} has no payer", order.id)))?;
                let e = movement::refund_success(&login, refund.refund_fen).map_err(entry_error)?;
                post(&mut tx, &e, reference, voucher, now).await?;
            }
            RefundStatus::Closed => {
                let to_account = merchant_account(&order);
                let reversal =
                    movement::refund_reversal(&order.mchid, to_account, refund.refund_fen).map_err(entry_error)?;
                let fee_reversal = if refund.fee_refund_fen > 0 {
                    Some(
                        movement::fee_refund_reversal(&order.mchid, to_account, refund.fee_refund_fen)
                            .map_err(entry_error)?,
                    )
                } else {
                    None
                };
                let entries: Vec<&Entry> = std::iter::once(&reversal).chain(fee_reversal.as_ref()).collect();
                lock_accounts(&mut tx, &entries).await?;
                for e in entries {
                    post(&mut tx, e, reference, voucher, now).await?;
                }
                let pending_change = if to_account == AccountKind::MerchantPending {
                    refund.refund_fen - refund.fee_refund_fen
                } else {
                    0
                };
                let state_after =
                    if order.refunded_fen - refund.refund_fen == 0 { TradeState::Success } else { TradeState::Refund };
                order = sqlx::query_as(&format!(
                    "UPDATE orders SET trade_state = $1, refunded_fen = refunded_fen - $2, fee_refunded_fen = fee_refunded_fen - $3, \
                     pending_fen = pending_fen + $4 WHERE id = $5 RETURNING {ORDER_COLUMNS}"
                ))
                .bind(state_after.as_str())
                .bind(refund.refund_fen)
                .bind(refund.fee_refund_fen)
                .bind(pending_change)
                .bind(order.id)
                .fetch_one(&mut *tx)
                .await?;
            }
            RefundStatus::Abnormal | RefundStatus::Processing => {}
        }
        let refund: Refund = sqlx::query_as(&format!(
            "UPDATE refunds SET status = $1, success_time = $2, closed_at = $3 WHERE id = $4 RETURNING {COLUMNS}"
        ))
        .bind(to.as_str())
        .bind((to == RefundStatus::Success).then_some(now))
        .bind((to == RefundStatus::Closed).then_some(now))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if to.event().is_some() {
            let n = notification(&refund, &order).map_err(StoreError::Other)?;
            crate::notifications::enqueue(&mut tx, &n).await?;
        }
        tx.commit().await?;
        Ok(Some((refund, order)))
    }
}

/// Locks the order a refund names (the caller's own: by `out_trade_no` or
/// `transaction_id`, placed by the same provider or directly).
async fn lock_refunded_order(tx: &mut WriteTx, r: &RefundRequest) -> Result<Order, RefundError> {
    let (clause, key) = match &r.target {
        RefundTarget::OutTradeNo(n) => ("out_trade_no = $2", n),
        RefundTarget::TransactionId(t) => ("transaction_id = $2", t),
    };
    let sql = tx.lock(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE mchid = $1 AND {clause} AND COALESCE(sp_mchid, '') = $3"
    ));
    sqlx::query_as(&sql)
        .bind(&r.mchid)
        .bind(key)
        .bind(r.sp_mchid.as_deref().unwrap_or(""))
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(RefundError::OrderNotFound)
}

/// The refund rules of `koudai_domain::refund`, applied to the locked
/// order: paid, the stated total right, within the window and the count,
/// the amount within what is left. Returns the order's next state.
fn check_refund(order: &Order, r: &RefundRequest) -> Result<TradeState, RefundError> {
    let next = trade::refund(order.state_at(r.now)).map_err(|_| RefundError::NotPaid)?;
    if r.total_fen != order.total_fen {
        return Err(RefundError::TotalMismatch { stated: r.total_fen, actual: order.total_fen });
    }
    if order.success_time.is_some_and(|t| r.now - t > REFUND_WINDOW_S) {
        return Err(RefundError::TooLate);
    }
    if order.refund_count >= MAX_REFUNDS_PER_ORDER {
        return Err(RefundError::TooMany);
    }
    refund::check_amount(r.refund_fen, order.total_fen, order.refunded_fen).map_err(RefundError::Refused)?;
    Ok(next)
}

/// Posts the fee share back (first, so the merchant needs only refund −
/// fee share) and the refund into clearing, from the account the order's
/// money is in.
async fn post_refund(
    tx: &mut WriteTx,
    order: &Order,
    r: &RefundRequest,
    from: AccountKind,
    fee_back: i64,
) -> Result<(), RefundError> {
    let voucher = Some(r.out_refund_no.as_str());
    let not_enough = |e: PostError| match e {
        PostError::Insufficient(_) => RefundError::NotEnough,
        PostError::Store(s) => RefundError::Store(s),
    };
    let fee_share = if fee_back > 0 {
        Some(movement::fee_refund(&order.mchid, from, fee_back).map_err(entry_error)?)
    } else {
        None
    };
    let refund_entry = movement::refund(&order.mchid, from, r.refund_fen).map_err(entry_error)?;
    let entries: Vec<&Entry> = fee_share.iter().chain(std::iter::once(&refund_entry)).collect();
    lock_accounts(tx, &entries).await?;
    for e in entries {
        post(tx, e, &r.refund_id, voucher, r.now).await.map_err(not_enough)?;
    }
    Ok(())
}
