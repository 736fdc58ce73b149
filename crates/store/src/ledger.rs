//! Posting balanced journal entries, and reading balances.
//!
//! A posting moves an account's balance with one conditional `UPDATE`: for
//! an account with a floor the update only matches while the balance stays
//! at or above zero, so concurrent debits can never overdraw it, on either
//! engine, without reading the balance first.

use koudai_domain::ledger::{AccountKind, AccountRef, Entry};

use crate::{Store, StoreError};

/// Why an entry could not be posted.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("account {0} would go below its floor")]
    Insufficient(AccountRef),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for PostError {
    fn from(e: sqlx::Error) -> Self {
        PostError::Store(e.into())
    }
}

pub(crate) async fn post(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    entry: &Entry,
    reference: &str,
    now: i64,
) -> Result<i64, PostError> {
    let entry_id: i64 = sqlx::query_scalar(
        "INSERT INTO journal_entries (kind, reference, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(entry.kind())
    .bind(reference)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    for p in entry.postings() {
        sqlx::query("INSERT INTO ledger_accounts (kind, owner, balance_fen) VALUES ($1, $2, 0) ON CONFLICT (kind, owner) DO NOTHING")
            .bind(p.account.kind.as_str())
            .bind(&p.account.owner)
            .execute(&mut **tx)
            .await?;
        let sql = if p.account.kind.may_go_negative() {
            "UPDATE ledger_accounts SET balance_fen = balance_fen + $1 WHERE kind = $2 AND owner = $3 RETURNING id"
        } else {
            "UPDATE ledger_accounts SET balance_fen = balance_fen + $1 WHERE kind = $2 AND owner = $3 AND balance_fen + $1 >= 0 RETURNING id"
        };
        let account_id: Option<i64> = sqlx::query_scalar(sql)
            .bind(p.amount_fen)
            .bind(p.account.kind.as_str())
            .bind(&p.account.owner)
            .fetch_optional(&mut **tx)
            .await?;
        let account_id = account_id.ok_or_else(|| PostError::Insufficient(p.account.clone()))?;
        sqlx::query("INSERT INTO postings (entry_id, account_id, amount_fen) VALUES ($1, $2, $3)")
            .bind(entry_id)
            .bind(account_id)
            .bind(p.amount_fen)
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

    /// Puts money into a consumer's wallet from outside the platform.
    pub async fn top_up(&self, login: &str, amount_fen: i64, reference: &str, now: i64) -> Result<i64, StoreError> {
        let entry = Entry::transfer(
            "wallet_top_up",
            AccountRef::new(AccountKind::ExternalFunding, "platform"),
            AccountRef::new(AccountKind::ConsumerWallet, login),
            amount_fen,
        )
        .map_err(|e| StoreError::Other(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT login FROM consumers WHERE login = $1")
            .bind(login)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        post(&mut tx, &entry, reference, now).await.map_err(|e| match e {
            PostError::Store(s) => s,
            PostError::Insufficient(a) => StoreError::Other(format!("{a} below floor")),
        })?;
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
            if balance < 0 && AccountKind::parse(&kind).is_some_and(|k| !k.may_go_negative()) {
                problems.push(format!("account {kind}:{owner} is below zero ({balance})"));
            }
        }
        Ok(problems)
    }
}
