//! Profit sharing: receivers, sharing orders with their per-receiver
//! results, unfreezing, and returns. Money moves as `koudai_domain::ledger::
//! sharing` says: a share leaves the merchant's pending funds into sharing
//! clearing when asked for, in the same transaction that records it, and
//! reaches its receiver (or comes back) when the job finishes it.

use koudai_domain::ledger::{sharing as entries, AccountKind, MovementKind, ShareTarget};
use koudai_domain::sharing::{
    ReceiverResult, ReceiverType, ReturnResult, SharingKind, SharingState, MAX_REQUESTS_PER_ORDER,
};

use crate::ledger::{lock_accounts, post, PostError};
use crate::money::entry_error;
use crate::notifications::NewNotification;
use crate::orders::Order;
use crate::orders::COLUMNS as ORDER_COLUMNS;
use crate::{Store, StoreError, WriteTx};

/// A receiver a merchant added.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Receiver {
    pub mchid: String,
    #[sqlx(try_from = "String")]
    pub receiver_type: ReceiverType,
    pub account: String,
    pub appid: String,
    pub name: Option<String>,
    pub relation_type: String,
    pub custom_relation: Option<String>,
    pub created_at: i64,
}

/// A sharing order (a share, or an unfreeze).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SharingOrder {
    pub id: i64,
    pub order_id: String,
    pub mchid: String,
    pub sp_mchid: Option<String>,
    pub payment_id: i64,
    pub out_order_no: String,
    #[sqlx(try_from = "String")]
    pub kind: SharingKind,
    #[sqlx(try_from = "String")]
    pub state: SharingState,
    #[sqlx(try_from = "i64")]
    pub unfreeze_unsplit: crate::Flag,
    pub params_digest: String,
    pub created_at: i64,
    pub due_at: i64,
    pub finished_at: Option<i64>,
}

/// One receiver's part of a sharing order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SharingResult {
    pub id: i64,
    pub sharing_order_id: i64,
    pub detail_id: String,
    #[sqlx(try_from = "String")]
    pub receiver_type: ReceiverType,
    pub account: String,
    pub amount_fen: i64,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub result: ReceiverResult,
    pub fail_reason: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A return of shared money.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SharingReturn {
    pub id: i64,
    pub return_id: String,
    pub mchid: String,
    pub sp_mchid: Option<String>,
    pub sharing_order_id: i64,
    pub out_return_no: String,
    pub return_mchid: String,
    pub amount_fen: i64,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub result: ReturnResult,
    pub fail_reason: Option<String>,
    pub params_digest: String,
    pub created_at: i64,
    pub due_at: i64,
    pub finished_at: Option<i64>,
}

/// One receiver of a share request.
#[derive(Debug, Clone)]
pub struct ShareLine {
    pub receiver_type: ReceiverType,
    pub account: String,
    pub amount_fen: i64,
    pub description: String,
    pub detail_id: String,
}

/// A share or unfreeze request, checked on the wire already.
#[derive(Debug, Clone)]
pub struct SharingRequest {
    /// The merchant whose money it is (sub-merchant in partner mode).
    pub mchid: String,
    /// The provider acting, in partner mode.
    pub sp_mchid: Option<String>,
    pub transaction_id: String,
    pub out_order_no: String,
    pub kind: SharingKind,
    /// Empty for an unfreeze.
    pub lines: Vec<ShareLine>,
    pub unfreeze_unsplit: bool,
    pub order_id: String,
    /// The detail id of an unfreeze's single line.
    pub unfreeze_detail_id: String,
    /// Description of an unfreeze.
    pub unfreeze_description: String,
    pub params_digest: String,
    pub now: i64,
    pub due_at: i64,
}

/// A return request.
#[derive(Debug, Clone)]
pub struct ReturnRequest {
    pub mchid: String,
    pub sp_mchid: Option<String>,
    /// The sharing order, by `out_order_no` or `order_id`.
    pub out_order_no: Option<String>,
    pub order_id: Option<String>,
    pub out_return_no: String,
    pub return_mchid: String,
    pub amount_fen: i64,
    pub description: String,
    pub return_id: String,
    pub params_digest: String,
    pub now: i64,
    pub due_at: i64,
}

/// Why a share, unfreeze or return was refused.
#[derive(Debug, thiserror::Error)]
pub enum SharingError {
    #[error("no such order")]
    OrderNotFound,
    #[error("the order was not placed for profit sharing")]
    NotSharingOrder,
    #[error("the order's funds are no longer frozen")]
    NotFrozen,
    #[error("the order has had the most sharing requests allowed")]
    TooMany,
    #[error("receiver {0} has not been added")]
    NoRelation(String),
    #[error("shares of {asked} fen exceed the {left} fen the max ratio still allows")]
    OverRatio { asked: i64, left: i64 },
    #[error("the order's unsplit funds ({left} fen) do not cover {asked} fen")]
    NotEnough { asked: i64, left: i64 },
    #[error("no such sharing order")]
    SharingOrderNotFound,
    #[error("{0} did not receive that much from this sharing order")]
    ReturnTooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::Contention for SharingError {
    fn contended(&self) -> bool {
        matches!(self, SharingError::Store(StoreError::Contended(_)))
    }
}

impl From<sqlx::Error> for SharingError {
    fn from(e: sqlx::Error) -> Self {
        SharingError::Store(e.into())
    }
}

/// A sharing order with its results, and the payment it shares.
#[derive(Debug, Clone)]
pub struct SharingView {
    pub order: SharingOrder,
    pub results: Vec<SharingResult>,
    pub payment: Order,
}

/// The result of asking for a share, unfreeze or return.
#[derive(Debug, Clone)]
pub enum Asked<T> {
    Created(T),
    /// One with this number existed; returned as stored.
    Existing(T),
}

/// Builds the notification of a share that reached its receiver, if that
/// receiver is to hear of it.
pub type ShareNotifier<'a> =
    dyn Fn(&SharingOrder, &SharingResult, &Order) -> Result<Option<NewNotification>, String> + Send + Sync + 'a;

const SHARING_COLUMNS: &str =
    "id, order_id, mchid, sp_mchid, payment_id, out_order_no, kind, state, unfreeze_unsplit, \
    params_digest, created_at, due_at, finished_at";
const RESULT_COLUMNS: &str =
    "id, sharing_order_id, detail_id, receiver_type, account, amount_fen, description, result, \
    fail_reason, created_at, finished_at";
const RETURN_COLUMNS: &str =
    "id, return_id, mchid, sp_mchid, sharing_order_id, out_return_no, return_mchid, amount_fen, \
    description, result, fail_reason, params_digest, created_at, due_at, finished_at";
const RECEIVER_COLUMNS: &str = "mchid, receiver_type, account, appid, name, relation_type, custom_relation, created_at";

/// `''` for a direct merchant, so one clause matches both modes.
fn sp(sp_mchid: &Option<String>) -> &str {
    sp_mchid.as_deref().unwrap_or("")
}

impl Store {
    /// Adds a receiver, or updates the one with this type and account.
    pub async fn add_receiver(&self, r: &Receiver) -> Result<Receiver, StoreError> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO sharing_receivers ({RECEIVER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (mchid, receiver_type, account) DO UPDATE SET appid = $4, name = $5, relation_type = $6, \
             custom_relation = $7 RETURNING {RECEIVER_COLUMNS}"
        ))
        .bind(&r.mchid)
        .bind(r.receiver_type.as_str())
        .bind(&r.account)
        .bind(&r.appid)
        .bind(&r.name)
        .bind(&r.relation_type)
        .bind(&r.custom_relation)
        .bind(r.created_at)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Deletes a receiver; whether there was one.
    pub async fn delete_receiver(&self, mchid: &str, t: ReceiverType, account: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM sharing_receivers WHERE mchid = $1 AND receiver_type = $2 AND account = $3")
            .bind(mchid)
            .bind(t.as_str())
            .bind(account)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Records a share or an unfreeze of a frozen order; the shared money
    /// leaves the merchant's pending funds in the same transaction.
    pub async fn create_sharing(&self, r: &SharingRequest) -> Result<Asked<SharingView>, SharingError> {
        crate::error::retrying(|| self.create_sharing_once(r)).await
    }

    async fn create_sharing_once(&self, r: &SharingRequest) -> Result<Asked<SharingView>, SharingError> {
        let mut tx = self.write().await?;
        let sql = tx.lock(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE mchid = $1 AND COALESCE(sp_mchid, '') = $2 AND transaction_id = $3"
        ));
        let payment: Order = sqlx::query_as(&sql)
            .bind(&r.mchid)
            .bind(sp(&r.sp_mchid))
            .bind(&r.transaction_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(SharingError::OrderNotFound)?;
        if let Some(existing) = sharing_in(&mut tx, &r.mchid, &r.out_order_no).await? {
            let view = view_in(&mut tx, existing).await?;
            tx.rollback().await?;
            return Ok(Asked::Existing(view));
        }
        if !payment.profit_sharing.0 {
            return Err(SharingError::NotSharingOrder);
        }
        if !payment.is_frozen() {
            return Err(SharingError::NotFrozen);
        }
        let requests: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sharing_orders WHERE payment_id = $1")
            .bind(payment.id)
            .fetch_one(&mut *tx)
            .await?;
        if requests >= MAX_REQUESTS_PER_ORDER {
            return Err(SharingError::TooMany);
        }
        let sharing_id: i64 = sqlx::query_scalar(
            "INSERT INTO sharing_orders (order_id, mchid, sp_mchid, payment_id, out_order_no, kind, state, unfreeze_unsplit, \
             params_digest, created_at, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&r.order_id)
        .bind(&r.mchid)
        .bind(&r.sp_mchid)
        .bind(payment.id)
        .bind(&r.out_order_no)
        .bind(r.kind.as_str())
        .bind(SharingState::Processing.as_str())
        .bind(i64::from(r.unfreeze_unsplit || r.kind == SharingKind::Unfreeze))
        .bind(&r.params_digest)
        .bind(r.now)
        .bind(r.due_at)
        .fetch_one(&mut *tx)
        .await?;

        match r.kind {
            SharingKind::Share => {
                let asked: i64 = r.lines.iter().map(|l| l.amount_fen).sum();
                let max_ratio: i64 = sqlx::query_scalar("SELECT max_ratio FROM merchants WHERE mchid = $1")
                    .bind(&r.mchid)
                    .fetch_one(&mut *tx)
                    .await?;
                let left = koudai_domain::sharing::shareable_fen(payment.total_fen, payment.shared_fen, max_ratio);
                if asked > left {
                    return Err(SharingError::OverRatio { asked, left });
                }
                if asked > payment.pending_fen {
                    return Err(SharingError::NotEnough { asked, left: payment.pending_fen });
                }
                for l in &r.lines {
                    let known: Option<String> = sqlx::query_scalar(
                        "SELECT account FROM sharing_receivers WHERE mchid = $1 AND receiver_type = $2 AND account = $3",
                    )
                    .bind(&r.mchid)
                    .bind(l.receiver_type.as_str())
                    .bind(&l.account)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if known.is_none() {
                        return Err(SharingError::NoRelation(l.account.clone()));
                    }
                    insert_result(&mut tx, sharing_id, l, r.now).await?;
                    let entry = entries::share(&r.mchid, l.amount_fen).map_err(entry_error)?;
                    lock_accounts(&mut tx, &[&entry]).await?;
                    post(&mut tx, &entry, &l.detail_id, Some(&r.out_order_no), r.now).await.map_err(|e| match e {
                        PostError::Insufficient(_) => SharingError::NotEnough { asked, left: payment.pending_fen },
                        PostError::Store(s) => SharingError::Store(s),
                    })?;
                }
                sqlx::query(
                    "UPDATE orders SET pending_fen = pending_fen - $1, shared_fen = shared_fen + $1 WHERE id = $2",
                )
                .bind(asked)
                .bind(payment.id)
                .execute(&mut *tx)
                .await?;
            }
            SharingKind::Unfreeze => {
                // The rest is the merchant's own: it unfreezes now (settled
                // at the next business-day boundary), shown as one line to
                // the merchant itself.
                let line = ShareLine {
                    receiver_type: ReceiverType::MerchantId,
                    account: r.mchid.clone(),
                    amount_fen: payment.pending_fen,
                    description: r.unfreeze_description.clone(),
                    detail_id: r.unfreeze_detail_id.clone(),
                };
                if line.amount_fen > 0 {
                    insert_result(&mut tx, sharing_id, &line, r.now).await?;
                }
                sqlx::query("UPDATE orders SET frozen_until = NULL WHERE id = $1")
                    .bind(payment.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let created = sharing_by_id(&mut tx, sharing_id).await?;
        let view = view_in(&mut tx, created).await?;
        tx.commit().await?;
        Ok(Asked::Created(view))
    }

    /// A sharing order of `mchid` by `out_order_no`.
    pub async fn sharing_order(&self, mchid: &str, out_order_no: &str) -> Result<Option<SharingView>, StoreError> {
        let mut tx = self.read().await?;
        let found: Option<SharingOrder> = sqlx::query_as(&format!(
            "SELECT {SHARING_COLUMNS} FROM sharing_orders WHERE mchid = $1 AND out_order_no = $2"
        ))
        .bind(mchid)
        .bind(out_order_no)
        .fetch_optional(&mut *tx)
        .await?;
        let out = match found {
            Some(o) => {
                let results = results_of(&mut tx, o.id).await?;
                let payment = sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
                    .bind(o.payment_id)
                    .fetch_one(&mut *tx)
                    .await?;
                Some(SharingView { order: o, results, payment })
            }
            None => None,
        };
        tx.finish().await?;
        Ok(out)
    }

    /// Sharing orders still processing at `now`, oldest first.
    pub async fn due_sharing_orders(&self, now: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM sharing_orders WHERE state = $1 AND due_at <= $2 ORDER BY id LIMIT $3")
            .bind(SharingState::Processing.as_str())
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The results of a sharing order (for a notifier to know whom to tell).
    pub async fn sharing_results(&self, sharing_id: i64) -> Result<Vec<SharingResult>, StoreError> {
        let mut tx = self.read().await?;
        let out = results_of(&mut tx, sharing_id).await?;
        tx.finish().await?;
        Ok(out)
    }

    /// Finishes a processing sharing order: each pending share reaches its
    /// receiver (a merchant's available funds, a consumer's wallet), or, if
    /// the receiver was deleted or cannot be found, is closed and its money
    /// goes back to the merchant. An unfreeze just finishes. Then the
    /// order's rest unfreezes if the request asked for it. Returns whether
    /// anything was finished (another node may have done it).
    pub async fn finish_sharing(
        &self,
        sharing_id: i64,
        now: i64,
        notify: &ShareNotifier<'_>,
    ) -> Result<bool, StoreError> {
        crate::error::retrying(|| self.finish_sharing_once(sharing_id, now, notify)).await
    }

    async fn finish_sharing_once(
        &self,
        sharing_id: i64,
        now: i64,
        notify: &ShareNotifier<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let so: SharingOrder =
            sqlx::query_as(&tx.lock(&format!("SELECT {SHARING_COLUMNS} FROM sharing_orders WHERE id = $1")))
                .bind(sharing_id)
                .fetch_one(&mut *tx)
                .await?;
        if so.state != SharingState::Processing {
            tx.rollback().await?;
            return Ok(false);
        }
        let payment: Order = sqlx::query_as(&tx.lock(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1")))
            .bind(so.payment_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut returned = 0i64;
        for res in results_of(&mut tx, so.id).await? {
            if res.result != ReceiverResult::Pending {
                continue;
            }
            if so.kind == SharingKind::Unfreeze {
                set_result(&mut tx, res.id, ReceiverResult::Success, None, now).await?;
                continue;
            }
            let target = share_target(&mut tx, &so.mchid, &res).await?;
            match target {
                Ok(target) => {
                    let entry = entries::share_success(&target, res.amount_fen).map_err(entry_error)?;
                    lock_accounts(&mut tx, &[&entry]).await?;
                    post(&mut tx, &entry, &res.detail_id, Some(&so.out_order_no), now).await?;
                    let done = set_result(&mut tx, res.id, ReceiverResult::Success, None, now).await?;
                    if let Some(n) = notify(&so, &done, &payment).map_err(StoreError::Other)? {
                        crate::notifications::enqueue(&mut tx, &n).await?;
                    }
                }
                Err(reason) => {
                    let to = if payment.settled_on.is_some() {
                        AccountKind::MerchantAvailable
                    } else {
                        AccountKind::MerchantPending
                    };
                    let entry = entries::share_reversal(&so.mchid, to, res.amount_fen).map_err(entry_error)?;
                    lock_accounts(&mut tx, &[&entry]).await?;
                    post(&mut tx, &entry, &res.detail_id, Some(&so.out_order_no), now).await?;
                    set_result(&mut tx, res.id, ReceiverResult::Closed, Some(reason), now).await?;
                    if to == AccountKind::MerchantPending {
                        returned += res.amount_fen;
                    }
                    sqlx::query("UPDATE orders SET shared_fen = shared_fen - $1 WHERE id = $2")
                        .bind(res.amount_fen)
                        .bind(payment.id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        if returned > 0 {
            sqlx::query("UPDATE orders SET pending_fen = pending_fen + $1 WHERE id = $2")
                .bind(returned)
                .bind(payment.id)
                .execute(&mut *tx)
                .await?;
        }
        if so.unfreeze_unsplit.0 {
            sqlx::query("UPDATE orders SET frozen_until = NULL WHERE id = $1")
                .bind(payment.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE sharing_orders SET state = $1, finished_at = $2 WHERE id = $3")
            .bind(SharingState::Finished.as_str())
            .bind(now)
            .bind(so.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Unfreezes orders frozen for longer than allowed; returns how many.
    pub async fn auto_unfreeze(&self, now: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("UPDATE orders SET frozen_until = NULL WHERE frozen_until IS NOT NULL AND frozen_until <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Records a return from `return_mchid` to the merchant; the money leaves
    /// the receiver's available funds now, or the return fails at once if
    /// they do not cover it.
    pub async fn create_return(&self, r: &ReturnRequest) -> Result<Asked<SharingReturn>, SharingError> {
        crate::error::retrying(|| self.create_return_once(r)).await
    }

    async fn create_return_once(&self, r: &ReturnRequest) -> Result<Asked<SharingReturn>, SharingError> {
        let mut tx = self.write().await?;
        let (clause, key) = match (&r.out_order_no, &r.order_id) {
            (Some(no), _) => ("out_order_no = $3", no),
            (None, Some(id)) => ("order_id = $3", id),
            (None, None) => return Err(SharingError::SharingOrderNotFound),
        };
        let so: SharingOrder = sqlx::query_as(&tx.lock(&format!(
            "SELECT {SHARING_COLUMNS} FROM sharing_orders WHERE mchid = $1 AND COALESCE(sp_mchid, '') = $2 AND {clause}"
        )))
        .bind(&r.mchid)
        .bind(sp(&r.sp_mchid))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(SharingError::SharingOrderNotFound)?;
        let existing: Option<SharingReturn> = sqlx::query_as(&format!(
            "SELECT {RETURN_COLUMNS} FROM sharing_returns WHERE mchid = $1 AND out_return_no = $2"
        ))
        .bind(&r.mchid)
        .bind(&r.out_return_no)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(e) = existing {
            tx.rollback().await?;
            return Ok(Asked::Existing(e));
        }
        let received: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM sharing_results \
             WHERE sharing_order_id = $1 AND receiver_type = $2 AND account = $3 AND result = $4",
        )
        .bind(so.id)
        .bind(ReceiverType::MerchantId.as_str())
        .bind(&r.return_mchid)
        .bind(ReceiverResult::Success.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let returned: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM sharing_returns \
             WHERE sharing_order_id = $1 AND return_mchid = $2 AND result <> $3",
        )
        .bind(so.id)
        .bind(&r.return_mchid)
        .bind(ReturnResult::Failed.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if so.kind != SharingKind::Share || r.amount_fen > received - returned {
            return Err(SharingError::ReturnTooLarge(r.return_mchid.clone()));
        }
        let entry = entries::share_return(&r.return_mchid, r.amount_fen).map_err(entry_error)?;
        lock_accounts(&mut tx, &[&entry]).await?;
        // The receiver's balance is read under the write lock: a return it
        // cannot cover is recorded FAILED and moves nothing.
        let balance: Option<i64> =
            sqlx::query_scalar(&tx.lock("SELECT balance_fen FROM ledger_accounts WHERE kind = $1 AND owner = $2"))
                .bind(AccountKind::MerchantAvailable.as_str())
                .bind(&r.return_mchid)
                .fetch_optional(&mut *tx)
                .await?;
        let (result, fail_reason) = if balance.unwrap_or(0) >= r.amount_fen {
            post(&mut tx, &entry, &r.return_id, Some(&r.out_return_no), r.now).await.map_err(StoreError::from)?;
            (ReturnResult::Processing, None)
        } else {
            (ReturnResult::Failed, Some("BALANCE_NOT_ENOUGH"))
        };
        let created: SharingReturn = sqlx::query_as(&format!(
            "INSERT INTO sharing_returns (return_id, mchid, sp_mchid, sharing_order_id, out_return_no, return_mchid, amount_fen, \
             description, result, fail_reason, params_digest, created_at, due_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {RETURN_COLUMNS}"
        ))
        .bind(&r.return_id)
        .bind(&r.mchid)
        .bind(&r.sp_mchid)
        .bind(so.id)
        .bind(&r.out_return_no)
        .bind(&r.return_mchid)
        .bind(r.amount_fen)
        .bind(&r.description)
        .bind(result.as_str())
        .bind(fail_reason)
        .bind(&r.params_digest)
        .bind(r.now)
        .bind(r.due_at)
        .bind((result == ReturnResult::Failed).then_some(r.now))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Asked::Created(created))
    }

    /// A return of `mchid` by `out_return_no`, with its sharing order's
    /// `out_order_no` and `order_id`.
    pub async fn sharing_return(
        &self,
        mchid: &str,
        out_return_no: &str,
    ) -> Result<Option<(SharingReturn, SharingOrder)>, StoreError> {
        let found: Option<SharingReturn> = sqlx::query_as(&format!(
            "SELECT {RETURN_COLUMNS} FROM sharing_returns WHERE mchid = $1 AND out_return_no = $2"
        ))
        .bind(mchid)
        .bind(out_return_no)
        .fetch_optional(&self.pool)
        .await?;
        let Some(ret) = found else { return Ok(None) };
        let so = sqlx::query_as(&format!("SELECT {SHARING_COLUMNS} FROM sharing_orders WHERE id = $1"))
            .bind(ret.sharing_order_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some((ret, so)))
    }

    /// Returns still processing at `now`.
    pub async fn due_returns(&self, now: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM sharing_returns WHERE result = $1 AND due_at <= $2 ORDER BY id LIMIT $3")
            .bind(ReturnResult::Processing.as_str())
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Finishes a processing return: the money reaches the merchant's
    /// available funds.
    pub async fn finish_return(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        crate::error::retrying(|| async {
            let mut tx = self.write().await?;
            let ret: SharingReturn =
                sqlx::query_as(&tx.lock(&format!("SELECT {RETURN_COLUMNS} FROM sharing_returns WHERE id = $1")))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if ret.result != ReturnResult::Processing {
                tx.rollback().await?;
                return Ok(false);
            }
            let entry = entries::return_success(&ret.mchid, ret.amount_fen).map_err(entry_error)?;
            lock_accounts(&mut tx, &[&entry]).await?;
            post(&mut tx, &entry, &ret.return_id, Some(&ret.out_return_no), now).await?;
            sqlx::query("UPDATE sharing_returns SET result = $1, finished_at = $2 WHERE id = $3")
                .bind(ReturnResult::Success.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// The sharing entries the ledger must hold, as `(reference, kind,
    /// amount)`, for `ledger verify`.
    pub(crate) async fn sharing_expectations(&self) -> Result<Vec<(String, MovementKind, i64)>, StoreError> {
        let mut out = Vec::new();
        let shares: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT r.detail_id, r.amount_fen, r.result FROM sharing_results r \
             JOIN sharing_orders s ON s.id = r.sharing_order_id WHERE s.kind = $1",
        )
        .bind(SharingKind::Share.as_str())
        .fetch_all(&self.pool)
        .await?;
        for (detail_id, amount, result) in shares {
            let result = ReceiverResult::try_from(result)?;
            out.push((detail_id.clone(), MovementKind::ProfitShare, amount));
            let success = if result == ReceiverResult::Success { amount } else { 0 };
            let closed = if result == ReceiverResult::Closed { amount } else { 0 };
            out.push((detail_id.clone(), MovementKind::ProfitShareSuccess, success));
            out.push((detail_id, MovementKind::ProfitShareReversal, closed));
        }
        let returns: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT return_id, amount_fen, result FROM sharing_returns").fetch_all(&self.pool).await?;
        for (return_id, amount, result) in returns {
            let result = ReturnResult::try_from(result)?;
            out.push((
                return_id.clone(),
                MovementKind::ProfitShareReturn,
                if result == ReturnResult::Failed { 0 } else { amount },
            ));
            out.push((
                return_id,
                MovementKind::ProfitShareReturnSuccess,
                if result == ReturnResult::Success { amount } else { 0 },
            ));
        }
        Ok(out)
    }

    /// Sharing clearing holds exactly the shares and returns in flight, and
    /// each order's `shared_fen` is the sum of its standing shares.
    pub(crate) async fn sharing_problems(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        let pending: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(r.amount_fen), 0) AS BIGINT) FROM sharing_results r \
             JOIN sharing_orders s ON s.id = r.sharing_order_id WHERE s.kind = $1 AND r.result = $2",
        )
        .bind(SharingKind::Share.as_str())
        .bind(ReceiverResult::Pending.as_str())
        .fetch_one(&self.pool)
        .await?;
        let returning: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM sharing_returns WHERE result = $1",
        )
        .bind(ReturnResult::Processing.as_str())
        .fetch_one(&self.pool)
        .await?;
        let clearing = self.balance(&koudai_domain::ledger::AccountRef::platform(AccountKind::SharingClearing)).await?;
        if clearing != pending + returning {
            problems.push(format!(
                "sharing_clearing is {clearing} fen but shares and returns in flight total {}",
                pending + returning
            ));
        }
        let off: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT o.out_trade_no, o.shared_fen, CAST(COALESCE(SUM(r.amount_fen), 0) AS BIGINT) FROM orders o \
             JOIN sharing_orders s ON s.payment_id = o.id AND s.kind = $1 \
             LEFT JOIN sharing_results r ON r.sharing_order_id = s.id AND r.result <> $2 \
             GROUP BY o.id, o.out_trade_no, o.shared_fen HAVING o.shared_fen <> COALESCE(SUM(r.amount_fen), 0)",
        )
        .bind(SharingKind::Share.as_str())
        .bind(ReceiverResult::Closed.as_str())
        .fetch_all(&self.pool)
        .await?;
        for (no, shared, sum) in off {
            problems.push(format!("order {no} says {shared} fen shared but its standing shares total {sum}"));
        }
        Ok(())
    }
}

async fn insert_result(tx: &mut WriteTx, sharing_id: i64, l: &ShareLine, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sharing_results (sharing_order_id, detail_id, receiver_type, account, amount_fen, description, result, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(sharing_id)
    .bind(&l.detail_id)
    .bind(l.receiver_type.as_str())
    .bind(&l.account)
    .bind(l.amount_fen)
    .bind(&l.description)
    .bind(ReceiverResult::Pending.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn set_result(
    tx: &mut WriteTx,
    id: i64,
    result: ReceiverResult,
    fail_reason: Option<&str>,
    now: i64,
) -> Result<SharingResult, StoreError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE sharing_results SET result = $1, fail_reason = $2, finished_at = $3 WHERE id = $4 RETURNING {RESULT_COLUMNS}"
    ))
    .bind(result.as_str())
    .bind(fail_reason)
    .bind(now)
    .bind(id)
    .fetch_one(&mut **tx)
    .await?)
}

/// Where a share goes, or why it cannot: the receiver must still be added,
/// and an openid must still name a consumer.
async fn share_target(
    tx: &mut WriteTx,
    mchid: &str,
    res: &SharingResult,
) -> Result<Result<ShareTarget, &'static str>, StoreError> {
    let known: Option<String> = sqlx::query_scalar(
        "SELECT account FROM sharing_receivers WHERE mchid = $1 AND receiver_type = $2 AND account = $3",
    )
    .bind(mchid)
    .bind(res.receiver_type.as_str())
    .bind(&res.account)
    .fetch_optional(&mut **tx)
    .await?;
    if known.is_none() {
        return Ok(Err("NO_RELATION"));
    }
    Ok(match res.receiver_type {
        ReceiverType::MerchantId => {
            let m: Option<String> = sqlx::query_scalar("SELECT mchid FROM merchants WHERE mchid = $1")
                .bind(&res.account)
                .fetch_optional(&mut **tx)
                .await?;
            m.map(ShareTarget::Merchant).ok_or("ACCOUNT_ABNORMAL")
        }
        ReceiverType::PersonalOpenid | ReceiverType::PersonalSubOpenid => {
            let login: Option<String> = sqlx::query_scalar("SELECT login FROM openids WHERE openid = $1")
                .bind(&res.account)
                .fetch_optional(&mut **tx)
                .await?;
            login.map(ShareTarget::Consumer).ok_or("ACCOUNT_ABNORMAL")
        }
    })
}

async fn sharing_in(tx: &mut WriteTx, mchid: &str, out_order_no: &str) -> Result<Option<SharingOrder>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {SHARING_COLUMNS} FROM sharing_orders WHERE mchid = $1 AND out_order_no = $2"))
        .bind(mchid)
        .bind(out_order_no)
        .fetch_optional(&mut **tx)
        .await?)
}

async fn sharing_by_id(tx: &mut WriteTx, id: i64) -> Result<SharingOrder, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {SHARING_COLUMNS} FROM sharing_orders WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?)
}

async fn results_of(conn: &mut sqlx::AnyConnection, sharing_id: i64) -> Result<Vec<SharingResult>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {RESULT_COLUMNS} FROM sharing_results WHERE sharing_order_id = $1 ORDER BY id"))
        .bind(sharing_id)
        .fetch_all(&mut *conn)
        .await?)
}

async fn view_in(tx: &mut WriteTx, order: SharingOrder) -> Result<SharingView, StoreError> {
    let results = results_of(tx, order.id).await?;
    let payment = sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(order.payment_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(SharingView { order, results, payment })
}
