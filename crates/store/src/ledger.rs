//! Posting balanced journal entries, and reading balances.
//!
//! A posting moves an account's balance with one conditional `UPDATE`: for
//! an account with a floor the update only matches while the balance stays
//! at or above zero, so concurrent debits can never overdraw it, on either
//! engine, without reading the balance first.

use koudai_domain::ledger::{movement, AccountKind, AccountRef, Entry, MovementKind};
use koudai_domain::refund::RefundStatus;

use crate::{Backend, Store, StoreError, WriteTx};

/// Why an entry could not be posted.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("account {0} would go below its floor")]
    Insufficient(AccountRef),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where running short is not a business outcome but a broken invariant.
impl From<PostError> for StoreError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::Store(s) => s,
            PostError::Insufficient(a) => StoreError::Other(format!("{a} would go below its floor")),
        }
    }
}

impl From<sqlx::Error> for PostError {
    fn from(e: sqlx::Error) -> Self {
        PostError::Store(e.into())
    }
}

/// Locks, in one canonical order (kind, then owner), every existing account
/// that `entries` will post to. A transaction that posts several entries
/// calls this first: two transactions touching the same accounts then lock
/// them in the same order and cannot deadlock (a payment posts merchant
/// pending then fee income, a refund's fee share the other way round).
/// SQLite needs nothing: its write transactions hold the whole database.
pub async fn lock_accounts(tx: &mut WriteTx, entries: &[&Entry]) -> Result<(), StoreError> {
    if tx.backend() == Backend::Sqlite {
        return Ok(());
    }
    let mut accounts: Vec<&AccountRef> = entries.iter().flat_map(|e| e.postings().iter().map(|p| &p.account)).collect();
    accounts.sort_by(|a, b| (a.kind.as_str(), a.owner.as_str()).cmp(&(b.kind.as_str(), b.owner.as_str())));
    accounts.dedup();
    let sql = tx.lock("SELECT id FROM ledger_accounts WHERE kind = $1 AND owner = $2");
    for account in accounts {
        sqlx::query_scalar::<_, i64>(&sql)
            .bind(account.kind.as_str())
            .bind(&account.owner)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Posts an entry inside `tx`, to be committed with whatever else the
/// caller writes there. `reference` is the business number it belongs to
/// (`transaction_id`, `refund_id`, a settlement or payout number); `voucher`
/// the merchant's own number (`out_trade_no`, `out_refund_no`) where there is
/// one. Every posting records the balance it left, for the fund-flow bill.
/// Returns the journal entry's id.
pub async fn post(
    tx: &mut WriteTx,
    entry: &Entry,
    reference: &str,
    voucher: Option<&str>,
    now: i64,
) -> Result<i64, PostError> {
    let entry_id: i64 = sqlx::query_scalar(
        "INSERT INTO journal_entries (kind, reference, voucher, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(entry.kind().as_str())
    .bind(reference)
    .bind(voucher)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    for p in entry.postings() {
        let sql = if p.account.kind.may_go_negative() {
            "UPDATE ledger_accounts SET balance_fen = balance_fen + $1 WHERE kind = $2 AND owner = $3 RETURNING id, balance_fen"
        } else {
            "UPDATE ledger_accounts SET balance_fen = balance_fen + $1 WHERE kind = $2 AND owner = $3 AND balance_fen + $1 >= 0 RETURNING id, balance_fen"
        };
        let update = || {
            sqlx::query_as::<_, (i64, i64)>(sql).bind(p.amount_fen).bind(p.account.kind.as_str()).bind(&p.account.owner)
        };
        // The account almost always exists: update first, and create it only
        // when the update found nothing (a new account, or a floor refusal;
        // creating is then a no-op and the second update tells which).
        let mut row = update().fetch_optional(&mut **tx).await?;
        if row.is_none() {
            sqlx::query(
                "INSERT INTO ledger_accounts (kind, owner, balance_fen) VALUES ($1, $2, 0) ON CONFLICT (kind, owner) DO NOTHING",
            )
            .bind(p.account.kind.as_str())
            .bind(&p.account.owner)
            .execute(&mut **tx)
            .await?;
            row = update().fetch_optional(&mut **tx).await?;
        }
        let (account_id, balance_after) = row.ok_or_else(|| PostError::Insufficient(p.account.clone()))?;
        sqlx::query(
            "INSERT INTO postings (entry_id, account_id, amount_fen, balance_after_fen) VALUES ($1, $2, $3, $4)",
        )
        .bind(entry_id)
        .bind(account_id)
        .bind(p.amount_fen)
        .bind(balance_after)
        .execute(&mut **tx)
        .await?;
    }
    Ok(entry_id)
}

impl Store {
    /// An account's balance in fen (0 for an account never posted to).
    pub async fn balance(&self, account: &AccountRef) -> Result<i64, StoreError> {
        let b: Option<i64> =
            sqlx::query_scalar("SELECT balance_fen FROM ledger_accounts WHERE kind = $1 AND owner = $2")
                .bind(account.kind.as_str())
                .bind(&account.owner)
                .fetch_optional(&self.pool)
                .await?;
        Ok(b.unwrap_or(0))
    }

    /// The sum of balances per account kind: where all the money is.
    pub async fn totals_by_kind(&self) -> Result<Vec<(AccountKind, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, CAST(SUM(balance_fen) AS BIGINT) FROM ledger_accounts GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|(k, v)| Ok((AccountKind::try_from(k)?, v))).collect()
    }

    /// Puts money into a consumer's wallet from outside the platform.
    pub async fn top_up(&self, login: &str, amount_fen: i64, reference: &str, now: i64) -> Result<i64, StoreError> {
        let entry = movement::top_up(login, amount_fen).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut tx = self.write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT login FROM consumers WHERE login = $1")
            .bind(login)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        post(&mut tx, &entry, reference, None, now).await?;
        tx.commit().await?;
        self.balance(&AccountRef::new(AccountKind::ConsumerWallet, login)).await
    }

    /// Checks the ledger: every entry sums to zero and every account's
    /// balance equals the sum of its postings. Returns the problems found.
    pub async fn ledger_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT entry_id, CAST(SUM(amount_fen) AS BIGINT) FROM postings GROUP BY entry_id HAVING SUM(amount_fen) <> 0")
                .fetch_all(&self.pool)
                .await?;
        for (entry, sum) in rows {
            problems.push(format!("journal entry {entry} sums to {sum} fen"));
        }
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT a.kind, a.owner, a.balance_fen, CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) FROM ledger_accounts a \
             LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id, a.kind, a.owner, a.balance_fen",
        )
        .fetch_all(&self.pool)
        .await?;
        for (kind, owner, balance, sum) in rows {
            if balance != sum {
                problems.push(format!("account {kind}:{owner} has balance {balance} but its postings sum to {sum}"));
            }
            match AccountKind::parse(&kind) {
                None => problems.push(format!("account {kind}:{owner} is of an unknown kind")),
                Some(k) if balance < 0 && !k.may_go_negative() => {
                    problems.push(format!("account {kind}:{owner} is below zero ({balance})"))
                }
                Some(_) => {}
            }
        }
        self.movement_problems(&mut problems).await?;
        self.sharing_problems(&mut problems).await?;
        Ok(problems)
    }

    /// Every paid order and every refund has exactly the entries its state
    /// calls for, and the per-order bookkeeping agrees with the accounts.
    async fn movement_problems(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        use std::collections::HashMap;
        // (reference, kind) → (count, sum of the positive postings)
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT e.reference, e.kind, COUNT(DISTINCT e.id), CAST(SUM(CASE WHEN p.amount_fen > 0 THEN p.amount_fen ELSE 0 END) AS BIGINT) \
             FROM journal_entries e JOIN postings p ON p.entry_id = e.id GROUP BY e.reference, e.kind",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut entries: HashMap<(String, MovementKind), (i64, i64)> = HashMap::new();
        for (reference, kind, count, sum) in rows {
            match MovementKind::parse(&kind) {
                Some(k) => {
                    entries.insert((reference, k), (count, sum));
                }
                None => problems.push(format!("{reference}: {count} entries of unknown kind {kind}")),
            }
        }
        let mut expect = |problems: &mut Vec<String>, reference: &str, kind: MovementKind, amount: i64| {
            let got = entries.remove(&(reference.to_owned(), kind));
            let want = (amount != 0).then_some((1, amount));
            if got != want {
                problems.push(format!(
                    "{reference}: expected {} {kind} entry of {amount} fen, found {}",
                    if amount == 0 { "no" } else { "one" },
                    match got {
                        None => "none".to_owned(),
                        Some((c, s)) => format!("{c} totalling {s} fen"),
                    }
                ));
            }
        };
        let orders: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT transaction_id, total_fen, fee_fen FROM orders WHERE transaction_id IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        for (transaction_id, total, fee) in &orders {
            expect(problems, transaction_id, MovementKind::Payment, *total);
            expect(problems, transaction_id, MovementKind::Fee, *fee);
        }
        let refunds: Vec<(String, i64, i64, String)> =
            sqlx::query_as("SELECT refund_id, refund_fen, fee_refund_fen, status FROM refunds")
                .fetch_all(&self.pool)
                .await?;
        for (refund_id, amount, fee_back, status) in &refunds {
            let Some(status) = RefundStatus::parse(status) else {
                problems.push(format!("refund {refund_id} has the unknown status {status}"));
                continue;
            };
            let success = status == RefundStatus::Success;
            let closed = status == RefundStatus::Closed;
            expect(problems, refund_id, MovementKind::Refund, *amount);
            expect(problems, refund_id, MovementKind::FeeRefund, *fee_back);
            expect(problems, refund_id, MovementKind::RefundSuccess, if success { *amount } else { 0 });
            expect(problems, refund_id, MovementKind::RefundReversal, if closed { *amount } else { 0 });
            expect(problems, refund_id, MovementKind::FeeRefundReversal, if closed { *fee_back } else { 0 });
        }
        for (reference, kind, amount) in self.sharing_expectations().await? {
            expect(problems, &reference, kind, amount);
        }
        // Payment, refund and sharing entries whose order, refund, share or
        // return is missing.
        for ((reference, kind), _) in entries {
            use MovementKind as M;
            if [M::Payment, M::Fee, M::Refund, M::FeeRefund, M::RefundSuccess, M::ProfitShare, M::ProfitShareReturn]
                .contains(&kind)
            {
                problems.push(format!("{kind} entry {reference} belongs to no paid order or refund"));
            }
        }

        // Per-order bookkeeping against the accounts.
        let pending: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT a.owner, a.balance_fen, CAST(COALESCE((SELECT SUM(o.pending_fen) FROM orders o WHERE o.mchid = a.owner), 0) AS BIGINT) \
             FROM ledger_accounts a WHERE a.kind = $1",
        )
        .bind(AccountKind::MerchantPending.as_str())
        .fetch_all(&self.pool)
        .await?;
        for (mchid, balance, sum) in pending {
            if balance != sum {
                problems.push(format!("merchant_pending:{mchid} is {balance} fen but its unsettled orders hold {sum}"));
            }
        }
        let in_flight: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(refund_fen), 0) AS BIGINT) FROM refunds WHERE status IN ($1, $2)",
        )
        .bind(RefundStatus::Processing.as_str())
        .bind(RefundStatus::Abnormal.as_str())
        .fetch_one(&self.pool)
        .await?;
        let clearing = self.balance(&AccountRef::platform(AccountKind::RefundClearing)).await?;
        if clearing != in_flight {
            problems.push(format!("refund_clearing is {clearing} fen but open refunds total {in_flight}"));
        }
        let net_fees: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(fee_fen - fee_refunded_fen), 0) AS BIGINT) FROM orders WHERE transaction_id IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let income = self.balance(&AccountRef::platform(AccountKind::PlatformFeeIncome)).await?;
        if income != net_fees {
            problems.push(format!("platform_fee_income is {income} fen but orders' net fees total {net_fees}"));
        }
        let over: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT out_trade_no, total_fen, refunded_fen FROM orders WHERE refunded_fen > total_fen OR refunded_fen < 0",
        )
        .fetch_all(&self.pool)
        .await?;
        for (no, total, refunded) in over {
            problems.push(format!("order {no} of {total} fen has {refunded} fen refunded"));
        }
        let standing: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT o.out_trade_no, o.refunded_fen, CAST(COALESCE(SUM(r.refund_fen), 0) AS BIGINT) FROM orders o \
             LEFT JOIN refunds r ON r.order_id = o.id AND r.status <> $1 GROUP BY o.id, o.out_trade_no, o.refunded_fen \
             HAVING o.refunded_fen <> COALESCE(SUM(r.refund_fen), 0)",
        )
        .bind(RefundStatus::Closed.as_str())
        .fetch_all(&self.pool)
        .await?;
        for (no, refunded, sum) in standing {
            problems.push(format!("order {no} says {refunded} fen refunded but its standing refunds total {sum}"));
        }
        Ok(())
    }
}
