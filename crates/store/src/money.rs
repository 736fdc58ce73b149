//! Fee schedules, merchant standing (fee rule, deposit, bank account),
//! deposits, settlement and payouts. Each money movement is posted in the
//! transaction of the state change that causes it.

use std::sync::Arc;

use koudai_domain::fees::{self, FeeRule, FeeSchedule};
use koudai_domain::ledger::{movement, AccountKind, AccountRef, Entry, EntryError};

use crate::ledger::post;
use crate::{Store, StoreError};

pub(crate) fn entry_error(e: EntryError) -> StoreError {
    StoreError::Other(format!("unbalanced entry: {e}"))
}

impl Store {
    /// The schedule in force at business time `now`, read inside the
    /// transaction (read or write) that `conn` belongs to.
    pub(crate) async fn schedule_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        now: i64,
    ) -> Result<Option<Arc<FeeSchedule>>, StoreError> {
        let version: Option<String> = sqlx::query_scalar(
            "SELECT version FROM fee_schedules WHERE effective_from <= $1 ORDER BY effective_from DESC, version DESC LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(version) = version else { return Ok(None) };
        if let Some(hit) = self.schedules.read().ok().and_then(|m| m.get(&version).cloned()) {
            return Ok(Some(hit));
        }
        let body: String = sqlx::query_scalar("SELECT body FROM fee_schedules WHERE version = $1")
            .bind(&version)
            .fetch_one(&mut *conn)
            .await?;
        let parsed =
            Arc::new(FeeSchedule::parse(&body).map_err(|e| StoreError::Other(format!("stored fee schedule: {e}")))?);
        if let Ok(mut m) = self.schedules.write() {
            m.insert(version, Arc::clone(&parsed));
        }
        Ok(Some(parsed))
    }
}

/// What a merchant may do with money right now.
#[derive(Debug, Clone)]
pub struct Standing {
    pub mchid: String,
    pub fee_rule_id: String,
    /// The rule in force, if the schedule has it.
    pub rule: Option<FeeRule>,
    pub schedule_version: Option<String>,
    pub deposit_held_fen: i64,
    pub bank_account: Option<String>,
}

impl Standing {
    /// The deposit still to pay before payments are allowed.
    pub fn deposit_missing_fen(&self) -> i64 {
        self.rule.as_ref().map_or(0, |r| (r.deposit_fen - self.deposit_held_fen).max(0))
    }
}

/// A settlement run's result for one merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub mchid: String,
    pub voucher: String,
    pub amount_fen: i64,
    pub order_count: i64,
}

koudai_domain::text_enum! {
    /// Where a payout is: sent to the bank, then confirmed by it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum PayoutStatus: "payout status" {
        Sent = "SENT",
        Confirmed = "CONFIRMED",
    }
}

/// A payout sent (and confirmed by the simulated bank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub mchid: String,
    pub payout_no: String,
    pub bank_account: String,
    pub amount_fen: i64,
}

impl Store {
    /// Loads a fee schedule version. Loading the same version again with
    /// the same content is a no-op; with different content it is refused
    /// (a version, once loaded, is history).
    pub async fn load_fee_schedule(&self, body: &str, now: i64) -> Result<FeeSchedule, StoreError> {
        let schedule = FeeSchedule::parse(body).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut tx = self.write().await?;
        // Several nodes starting at once all load the shipped schedule: the
        // first insert wins, the others find the same body (or refuse a
        // different one under the same version).
        sqlx::query(
            "INSERT INTO fee_schedules (version, effective_from, body, loaded_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(&schedule.version)
        .bind(schedule.effective_from)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let stored: String = sqlx::query_scalar("SELECT body FROM fee_schedules WHERE version = $1")
            .bind(&schedule.version)
            .fetch_one(&mut *tx)
            .await?;
        if stored != body {
            return Err(StoreError::Conflict(format!(
                "fee schedule version {} is already loaded with other content",
                schedule.version
            )));
        }
        tx.commit().await?;
        Ok(schedule)
    }

    /// The schedule in force at business time `now`.
    pub async fn fee_schedule_at(&self, now: i64) -> Result<Option<Arc<FeeSchedule>>, StoreError> {
        let mut tx = self.read().await?;
        let s = self.schedule_in(&mut tx, now).await?;
        tx.finish().await?;
        Ok(s)
    }

    /// Puts a merchant under a fee rule (a category or `settlement_id`); the
    /// rule must exist in the schedule in force.
    pub async fn set_fee_rule(&self, mchid: &str, rule: &str, now: i64) -> Result<FeeRule, StoreError> {
        let mut tx = self.write().await?;
        let schedule = self.schedule_in(&mut tx, now).await?.ok_or(StoreError::NotFound)?;
        let found = schedule
            .rule(rule)
            .cloned()
            .ok_or_else(|| StoreError::Other(format!("fee schedule {} has no rule {rule}", schedule.version)))?;
        let n = sqlx::query("UPDATE merchants SET fee_rule = $1 WHERE mchid = $2")
            .bind(rule)
            .bind(mchid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Registers the (simulated) bank account payouts go to.
    pub async fn set_bank_account(&self, mchid: &str, account: &str) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE merchants SET bank_account = $1 WHERE mchid = $2")
            .bind(account)
            .bind(mchid)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A merchant's fee rule, deposit and bank account at business time `now`.
    pub async fn standing(&self, mchid: &str, now: i64) -> Result<Option<Standing>, StoreError> {
        Ok(self.standing_for_app(mchid, "", now).await?.map(|(standing, _)| standing))
    }

    /// The merchant's standing, and whether `appid` is bound to it: what a
    /// prepay must know, in one statement (one consistent snapshot without a
    /// transaction, and one round trip on the hottest path there is).
    pub async fn standing_for_app(
        &self,
        mchid: &str,
        appid: &str,
        now: i64,
    ) -> Result<Option<(Standing, bool)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            fee_rule: String,
            bank_account: Option<String>,
            deposit_fen: Option<i64>,
            schedule_version: Option<String>,
            app_bound: i64,
        }
        let row: Option<Row> = sqlx::query_as(
            "SELECT m.fee_rule, m.bank_account, a.balance_fen AS deposit_fen, \
             (SELECT version FROM fee_schedules WHERE effective_from <= $3 \
              ORDER BY effective_from DESC, version DESC LIMIT 1) AS schedule_version, \
             (SELECT COUNT(*) FROM app_merchants b WHERE b.appid = $4 AND b.mchid = m.mchid) AS app_bound \
             FROM merchants m \
             LEFT JOIN ledger_accounts a ON a.kind = $2 AND a.owner = m.mchid WHERE m.mchid = $1",
        )
        .bind(mchid)
        .bind(AccountKind::MerchantDeposit.as_str())
        .bind(now)
        .bind(appid)
        .fetch_optional(&self.pool)
        .await?;
        let Some(Row { fee_rule: fee_rule_id, bank_account, deposit_fen: held, schedule_version: version, app_bound }) =
            row
        else {
            return Ok(None);
        };
        let schedule = match version {
            Some(v) => Some(self.schedule_version(&v).await?),
            None => None,
        };
        let standing = Standing {
            mchid: mchid.to_owned(),
            rule: schedule.as_ref().and_then(|s| s.rule(&fee_rule_id).cloned()),
            schedule_version: schedule.map(|s| s.version.clone()),
            fee_rule_id,
            deposit_held_fen: held.unwrap_or(0),
            bank_account,
        };
        Ok(Some((standing, app_bound > 0)))
    }

    /// A loaded schedule version, parsed once per process (a version never
    /// changes once loaded).
    async fn schedule_version(&self, version: &str) -> Result<Arc<FeeSchedule>, StoreError> {
        if let Some(hit) = self.schedules.read().ok().and_then(|m| m.get(version).cloned()) {
            return Ok(hit);
        }
        let body: String = sqlx::query_scalar("SELECT body FROM fee_schedules WHERE version = $1")
            .bind(version)
            .fetch_one(&self.pool)
            .await?;
        let parsed =
            Arc::new(FeeSchedule::parse(&body).map_err(|e| StoreError::Other(format!("stored fee schedule: {e}")))?);
        if let Ok(mut m) = self.schedules.write() {
            m.insert(version.to_owned(), Arc::clone(&parsed));
        }
        Ok(parsed)
    }

    async fn merchant_entry(
        &self,
        mchid: &str,
        entry: Result<Entry, EntryError>,
        reference: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let entry = entry.map_err(entry_error)?;
        let mut tx = self.write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT mchid FROM merchants WHERE mchid = $1")
            .bind(mchid)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        post(&mut tx, &entry, reference, None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a deposit paid in from outside the platform.
    pub async fn pay_deposit(&self, mchid: &str, amount_fen: i64, reference: &str, now: i64) -> Result<(), StoreError> {
        self.merchant_entry(mchid, movement::deposit_paid(mchid, amount_fen), reference, now).await
    }

    /// Releases the whole deposit to the merchant's available funds (paid out
    /// with the next payout); returns the amount released.
    pub async fn release_deposit(&self, mchid: &str, reference: &str, now: i64) -> Result<i64, StoreError> {
        let held = self.balance(&AccountRef::new(AccountKind::MerchantDeposit, mchid)).await?;
        if held <= 0 {
            return Ok(0);
        }
        self.merchant_entry(mchid, movement::deposit_released(mchid, held), reference, now).await?;
        Ok(held)
    }

    /// Settles every paid order due on or before business day `date`
    /// (`YYYY-MM-DD`) whose funds are not frozen for profit sharing: per merchant, one transaction moves the orders'
    /// pending money to available and marks them settled. Running it again
    /// settles nothing twice.
    pub async fn settle(
        &self,
        date: &str,
        now: i64,
        mut voucher: impl FnMut() -> String,
    ) -> Result<Vec<Settled>, StoreError> {
        let mchids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT mchid FROM orders WHERE settled_on IS NULL AND settles_on IS NOT NULL AND settles_on <= $1 \
             AND frozen_until IS NULL ORDER BY mchid",
        )
        .bind(date)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for mchid in mchids {
            let mut tx = self.write().await?;
            let due: Vec<(i64, i64)> = sqlx::query_as(&tx.lock(
                "SELECT id, pending_fen FROM orders WHERE mchid = $1 AND settled_on IS NULL AND settles_on IS NOT NULL \
                 AND settles_on <= $2 AND frozen_until IS NULL ORDER BY id",
            ))
            .bind(&mchid)
            .bind(date)
            .fetch_all(&mut *tx)
            .await?;
            if due.is_empty() {
                tx.rollback().await?;
                continue;
            }
            let amount: i64 = due.iter().map(|(_, p)| p).sum();
            let count = i64::try_from(due.len()).unwrap_or(i64::MAX);
            let v = voucher();
            for (id, _) in &due {
                sqlx::query("UPDATE orders SET settled_on = $1, pending_fen = 0 WHERE id = $2")
                    .bind(date)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if amount > 0 {
                post(&mut tx, &movement::settlement(&mchid, amount).map_err(entry_error)?, &v, None, now).await?;
                sqlx::query(
                    "INSERT INTO settlements (voucher, mchid, settle_date, amount_fen, order_count, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&v)
                .bind(&mchid)
                .bind(date)
                .bind(amount)
                .bind(count)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            if amount > 0 {
                out.push(Settled { mchid, voucher: v, amount_fen: amount, order_count: count });
            }
        }
        Ok(out)
    }

    /// Pays out each merchant's available funds to its registered bank
    /// account, at most once per merchant and business day. The simulated
    /// bank confirms at once; a payout left unconfirmed by a crash is
    /// confirmed by the next run.
    pub async fn pay_out(
        &self,
        date: &str,
        now: i64,
        mut payout_no: impl FnMut() -> String,
    ) -> Result<Vec<Payout>, StoreError> {
        let candidates: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.mchid, m.bank_account FROM merchants m JOIN ledger_accounts a ON a.owner = m.mchid AND a.kind = $1 \
             WHERE m.bank_account IS NOT NULL AND a.balance_fen > 0 ORDER BY m.mchid",
        )
        .bind(AccountKind::MerchantAvailable.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for (mchid, bank_account) in candidates {
            let mut tx = self.write().await?;
            let available: Option<i64> =
                sqlx::query_scalar(&tx.lock("SELECT balance_fen FROM ledger_accounts WHERE kind = $1 AND owner = $2"))
                    .bind(AccountKind::MerchantAvailable.as_str())
                    .bind(&mchid)
                    .fetch_optional(&mut *tx)
                    .await?;
            let amount = available.unwrap_or(0);
            if amount <= 0 {
                tx.rollback().await?;
                continue;
            }
            let no = payout_no();
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO payouts (payout_no, mchid, payout_date, bank_account, amount_fen, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (mchid, payout_date) DO NOTHING RETURNING id",
            )
            .bind(&no)
            .bind(&mchid)
            .bind(date)
            .bind(&bank_account)
            .bind(amount)
            .bind(PayoutStatus::Sent.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if inserted.is_none() {
                tx.rollback().await?;
                continue;
            }
            post(&mut tx, &movement::payout(&mchid, amount).map_err(entry_error)?, &no, None, now).await?;
            tx.commit().await?;
            out.push(Payout { mchid, payout_no: no, bank_account, amount_fen: amount });
        }
        self.confirm_payouts(now).await?;
        Ok(out)
    }

    /// The simulated bank's answer: every sent payout is confirmed, and its
    /// money leaves the platform.
    pub async fn confirm_payouts(&self, now: i64) -> Result<u64, StoreError> {
        let sent: Vec<(i64, String, String, i64)> =
            sqlx::query_as("SELECT id, payout_no, mchid, amount_fen FROM payouts WHERE status = $1 ORDER BY id")
                .bind(PayoutStatus::Sent.as_str())
                .fetch_all(&self.pool)
                .await?;
        let mut n = 0;
        for (id, no, mchid, amount) in sent {
            let mut tx = self.write().await?;
            let updated =
                sqlx::query("UPDATE payouts SET status = $1, confirmed_at = $2 WHERE id = $3 AND status = $4")
                    .bind(PayoutStatus::Confirmed.as_str())
                    .bind(now)
                    .bind(id)
                    .bind(PayoutStatus::Sent.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if updated == 0 {
                tx.rollback().await?;
                continue;
            }
            post(&mut tx, &movement::payout_confirmed(&mchid, amount).map_err(entry_error)?, &no, None, now).await?;
            tx.commit().await?;
            n += 1;
        }
        Ok(n)
    }

    /// The last business day settlement ran for (`meta`), if any.
    pub async fn settled_through(&self) -> Result<Option<String>, StoreError> {
        self.meta("settled_through").await
    }

    /// Runs settlement and payouts for every business day after the last
    /// one run, up to and including `today`; returns the days run.
    pub async fn settle_through(
        &self,
        today: &str,
        now: i64,
        mut voucher: impl FnMut(&str) -> String,
    ) -> Result<Vec<String>, StoreError> {
        let today_date = fees::parse_date(today).ok_or_else(|| StoreError::Other(format!("bad date {today}")))?;
        let start = match self.settled_through().await?.as_deref().and_then(fees::parse_date) {
            Some(last) if last >= today_date => return Ok(vec![]),
            Some(last) => last.next_day().unwrap_or(today_date),
            None => today_date,
        };
        let mut days = Vec::new();
        let mut d = start;
        while d <= today_date {
            let day = fees::format_date(d);
            self.settle(&day, now, || voucher("S")).await?;
            self.pay_out(&day, now, || voucher("P")).await?;
            self.set_meta("settled_through", &day).await?;
            days.push(day);
            match d.next_day() {
                Some(n) => d = n,
                None => break,
            }
        }
        Ok(days)
    }
}
