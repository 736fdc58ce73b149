//! What bills are made of: a merchant's payments and refunds of a business
//! day, the postings of one of its accounts, the bill snapshots once made,
//! their download tokens, and the ledger's own totals that a bill must match.

use sqlx::{FromRow, Row};

use koudai_domain::ledger::{AccountKind, MovementKind};
use koudai_domain::refund::RefundStatus;
use koudai_domain::TradeType;

use crate::{Store, StoreError};

/// A payment or refund line of a trade bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeLine {
    /// Payment: `success_time`; refund: when it was applied for.
    pub time: i64,
    pub appid: String,
    /// The merchant whose money it is (the sub-merchant in partner mode).
    pub mchid: String,
    /// The provider that placed a partner order.
    pub sp_mchid: Option<String>,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub openid: String,
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub total_fen: i64,
    pub fee_rate_ppm: i64,
    /// The fee of the payment, or the fee share a refund returned.
    pub fee_fen: i64,
    pub refund: Option<RefundLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundLine {
    pub refund_id: String,
    pub out_refund_no: String,
    pub refund_fen: i64,
    pub status: RefundStatus,
    pub created_at: i64,
    pub success_time: Option<i64>,
}

/// One posting to a merchant account, for the fund-flow bill.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FlowLine {
    #[sqlx(rename = "id")]
    pub posting_id: i64,
    /// When its journal entry was made.
    #[sqlx(rename = "created_at")]
    pub time: i64,
    #[sqlx(rename = "kind", try_from = "String")]
    pub entry_kind: MovementKind,
    pub reference: String,
    pub voucher: Option<String>,
    pub amount_fen: i64,
    pub balance_after_fen: Option<i64>,
}

/// The ledger's own totals for one merchant and business day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub payments: i64,
    pub payment_count: i64,
    pub refunds: i64,
    pub refund_count: i64,
    /// Fees charged less fee shares returned (reversals counted back).
    pub net_fees: i64,
}

/// Whose payments a trade bill lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeScope {
    /// Every order whose money is this merchant's (direct, or placed for it
    /// by its provider).
    Merchant(String),
    /// Orders a provider placed: for one sub-merchant, or all of them (then
    /// with the provider's own direct orders).
    Provider { sp_mchid: String, sub_mchid: Option<String> },
}

impl TradeScope {
    /// The `WHERE` condition on `o` with its two parameters `$1`, `$2`.
    fn clause(&self) -> (&'static str, &str, &str) {
        match self {
            TradeScope::Merchant(mchid) => ("o.mchid = $1 AND $2 = ''", mchid, ""),
            TradeScope::Provider { sp_mchid, sub_mchid: Some(sub) } => {
                ("o.sp_mchid = $1 AND o.mchid = $2", sp_mchid, sub)
            }
            TradeScope::Provider { sp_mchid, sub_mchid: None } => {
                ("(o.sp_mchid = $1 OR (o.mchid = $1 AND o.sp_mchid IS NULL)) AND $2 = ''", sp_mchid, "")
            }
        }
    }
}

/// A bill snapshot to save.
#[derive(Debug, Clone, Copy)]
pub struct NewBill<'a> {
    pub mchid: &'a str,
    pub kind: &'a str,
    pub date: &'a str,
    pub bill_type: &'a str,
    pub content: &'a str,
    pub sha1: &'a str,
}

/// A bill snapshot.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredBill {
    pub id: i64,
    pub mchid: String,
    pub bill_kind: String,
    pub bill_date: String,
    pub bill_type: String,
    pub content: String,
    pub sha1: String,
}

const BILL_COLUMNS: &str = "b.id, b.mchid, b.bill_kind, b.bill_date, b.bill_type, b.content, b.sha1";

const ORDER_FIELDS: &str =
    "o.appid, o.mchid, o.sp_mchid, o.transaction_id, o.out_trade_no, o.payer_openid, o.trade_type, \
    o.description, o.attach, o.total_fen, o.fee_rate_ppm, o.fee_fen";

fn trade_line(row: &sqlx::any::AnyRow, time: i64, fee_fen: i64) -> Result<TradeLine, StoreError> {
    Ok(TradeLine {
        time,
        appid: row.try_get("appid")?,
        mchid: row.try_get("mchid")?,
        sp_mchid: row.try_get("sp_mchid")?,
        transaction_id: row.try_get::<Option<String>, _>("transaction_id")?.unwrap_or_default(),
        out_trade_no: row.try_get("out_trade_no")?,
        openid: row.try_get::<Option<String>, _>("payer_openid")?.unwrap_or_default(),
        trade_type: TradeType::try_from(row.try_get::<String, _>("trade_type")?)?,
        description: row.try_get("description")?,
        attach: row.try_get("attach")?,
        total_fen: row.try_get("total_fen")?,
        fee_rate_ppm: row.try_get::<Option<i64>, _>("fee_rate_ppm")?.unwrap_or(0),
        fee_fen,
        refund: None,
    })
}

impl Store {
    /// Payments whose `success_time` falls in `[from, to)`, then refunds
    /// applied for in it, each in time order.
    pub async fn trade_lines(&self, scope: &TradeScope, from: i64, to: i64) -> Result<Vec<TradeLine>, StoreError> {
        let mut out = Vec::new();
        let (clause, a, b) = scope.clause();
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_FIELDS}, o.success_time FROM orders o \
             WHERE {clause} AND o.success_time >= $3 AND o.success_time < $4 ORDER BY o.success_time, o.id"
        ))
        .bind(a)
        .bind(b)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let fee: i64 = row.try_get("fee_fen")?;
            out.push(trade_line(row, row.try_get("success_time")?, fee)?);
        }
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_FIELDS}, r.refund_id, r.out_refund_no, r.refund_fen, r.fee_refund_fen, r.status, \
             r.created_at AS refund_created_at, r.success_time AS refund_success_time \
             FROM refunds r JOIN orders o ON o.id = r.order_id \
             WHERE {clause} AND r.created_at >= $3 AND r.created_at < $4 ORDER BY r.created_at, r.id"
        ))
        .bind(a)
        .bind(b)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let created: i64 = row.try_get("refund_created_at")?;
            let fee_back: i64 = row.try_get("fee_refund_fen")?;
            let mut line = trade_line(row, created, -fee_back)?;
            line.refund = Some(RefundLine {
                refund_id: row.try_get("refund_id")?,
                out_refund_no: row.try_get("out_refund_no")?,
                refund_fen: row.try_get("refund_fen")?,
                status: RefundStatus::try_from(row.try_get::<String, _>("status")?)?,
                created_at: created,
                success_time: row.try_get("refund_success_time")?,
            });
            out.push(line);
        }
        Ok(out)
    }

    /// Postings to one of a merchant's accounts in `[from, to)`, in order.
    pub async fn flow_lines(
        &self,
        mchid: &str,
        account: AccountKind,
        from: i64,
        to: i64,
    ) -> Result<Vec<FlowLine>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT p.id, e.created_at, e.kind, e.reference, e.voucher, p.amount_fen, p.balance_after_fen \
             FROM postings p JOIN journal_entries e ON e.id = p.entry_id JOIN ledger_accounts a ON a.id = p.account_id \
             WHERE a.kind = $1 AND a.owner = $2 AND e.created_at >= $3 AND e.created_at < $4 ORDER BY p.id",
        )
        .bind(account.as_str())
        .bind(mchid)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The ledger's totals for a merchant over `[from, to)`, from postings
    /// alone (independent of the order and refund tables bills are made of).
    pub async fn day_totals(&self, mchid: &str, from: i64, to: i64) -> Result<DayTotals, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT e.kind, CAST(SUM(p.amount_fen) AS BIGINT), COUNT(DISTINCT e.reference) \
             FROM postings p JOIN journal_entries e ON e.id = p.entry_id JOIN ledger_accounts a ON a.id = p.account_id \
             WHERE a.owner = $1 AND a.kind IN ($2, $3) AND e.created_at >= $4 AND e.created_at < $5 GROUP BY e.kind",
        )
        .bind(mchid)
        .bind(AccountKind::MerchantPending.as_str())
        .bind(AccountKind::MerchantAvailable.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut t = DayTotals::default();
        for (kind, sum, count) in rows {
            match MovementKind::try_from(kind)? {
                MovementKind::Payment => {
                    t.payments = sum;
                    t.payment_count = count;
                }
                MovementKind::Refund => {
                    t.refunds = -sum;
                    t.refund_count = count;
                }
                MovementKind::Fee | MovementKind::FeeRefund => t.net_fees -= sum,
                // Named one by one, so that a new kind must be placed here.
                MovementKind::TopUp
                | MovementKind::RefundSuccess
                | MovementKind::RefundReversal
                | MovementKind::FeeRefundReversal
                | MovementKind::Settlement
                | MovementKind::Payout
                | MovementKind::PayoutConfirmed
                | MovementKind::DepositPaid
                | MovementKind::DepositReleased
                | MovementKind::ProfitShare
                | MovementKind::ProfitShareSuccess
                | MovementKind::ProfitShareReversal
                | MovementKind::ProfitShareReturn
                | MovementKind::ProfitShareReturnSuccess => {}
            }
        }
        Ok(t)
    }

    /// `(mchid, first second of the day)` of every merchant and business
    /// day with a payment or refund since `since`.
    pub async fn active_days(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT a.owner, e.created_at FROM journal_entries e JOIN postings p ON p.entry_id = e.id \
             JOIN ledger_accounts a ON a.id = p.account_id \
             WHERE a.kind IN ($1, $5) AND e.kind IN ($2, $3) AND e.created_at >= $4",
        )
        .bind(AccountKind::MerchantPending.as_str())
        .bind(MovementKind::Payment.as_str())
        .bind(MovementKind::Refund.as_str())
        .bind(since)
        .bind(AccountKind::MerchantAvailable.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut days: Vec<(String, i64)> = rows
            .into_iter()
            .map(|(m, t)| (m, koudai_domain::fees::day_start(koudai_domain::fees::business_date(t))))
            .collect();
        days.sort();
        days.dedup();
        Ok(days)
    }

    /// Saves a bill snapshot unless one exists; returns the one that holds.
    pub async fn save_bill(&self, b: &NewBill<'_>, now: i64) -> Result<StoredBill, StoreError> {
        let NewBill { mchid, kind, date, bill_type, content, sha1 } = *b;
        sqlx::query(
            "INSERT INTO bills (mchid, bill_kind, bill_date, bill_type, content, sha1, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (mchid, bill_kind, bill_date, bill_type) DO NOTHING",
        )
        .bind(mchid)
        .bind(kind)
        .bind(date)
        .bind(bill_type)
        .bind(content)
        .bind(sha1)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.bill(mchid, kind, date, bill_type).await?.ok_or(StoreError::NotFound)
    }

    pub async fn bill(
        &self,
        mchid: &str,
        kind: &str,
        date: &str,
        bill_type: &str,
    ) -> Result<Option<StoredBill>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {BILL_COLUMNS} FROM bills b WHERE b.mchid = $1 AND b.bill_kind = $2 AND b.bill_date = $3 AND b.bill_type = $4"
        ))
        .bind(mchid)
        .bind(kind)
        .bind(date)
        .bind(bill_type)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every stored bill, for verification.
    pub async fn bills(&self) -> Result<Vec<StoredBill>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {BILL_COLUMNS} FROM bills b ORDER BY b.id")).fetch_all(&self.pool).await?)
    }

    /// A download token for a bill, valid until wall time `expires_at`.
    pub async fn create_bill_token(
        &self,
        token: &str,
        bill_id: i64,
        mchid: &str,
        gzip: bool,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM bill_downloads WHERE expires_at < $1")
            .bind(expires_at - 24 * 3600)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO bill_downloads (token, bill_id, mchid, gzip, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token)
            .bind(bill_id)
            .bind(mchid)
            .bind(i64::from(gzip))
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The bill behind a token of `mchid` still valid at wall time `now`,
    /// and whether it was asked for gzipped.
    pub async fn bill_for_token(
        &self,
        token: &str,
        mchid: &str,
        now: i64,
    ) -> Result<Option<(StoredBill, bool)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {BILL_COLUMNS}, d.gzip FROM bill_downloads d JOIN bills b ON b.id = d.bill_id \
             WHERE d.token = $1 AND d.mchid = $2 AND d.expires_at >= $3"
        ))
        .bind(token)
        .bind(mchid)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let gzip: i64 = r.try_get("gzip")?;
        Ok(Some((StoredBill::from_row(&r)?, gzip != 0)))
    }
}
