//! Service providers and their sub-merchants, the append-only logs of
//! privilege grants and of refusals, console users, and what the consoles
//! list (league table, orders, balances).

use koudai_domain::ledger::AccountKind;
use koudai_domain::provider::{GrantAction, PrivilegeEvent, ProviderKind};

use crate::orders::Order;
use crate::parties::Merchant;
use crate::parties::MERCHANT_COLUMNS;
use crate::{Store, StoreError};

/// A service provider: a merchant (its `sp_mchid`, keys and APIv3 key) that
/// acts for sub-merchants.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Provider {
    pub sp_mchid: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: ProviderKind,
    pub sp_appid: String,
    pub created_at: i64,
}

/// One grant or revocation, as logged.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PrivilegeRecord {
    pub id: i64,
    pub sp_mchid: String,
    pub privilege: String,
    #[sqlx(try_from = "String")]
    pub action: GrantAction,
    /// Who: `operator:<login>`, `sandbox` or `admin` (the CLI).
    pub actor: String,
    pub reason: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

/// A grant or revocation to log.
#[derive(Debug, Clone)]
pub struct NewPrivilegeRecord<'a> {
    pub sp_mchid: &'a str,
    pub privilege: &'a str,
    pub action: GrantAction,
    pub actor: &'a str,
    pub reason: &'a str,
    pub expires_at: Option<i64>,
    pub now: i64,
}

/// An action refused, as logged.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefusalRecord {
    pub id: i64,
    /// Who asked: `merchant:<mchid>`, `provider:<sp_mchid>`, `console:<login>`.
    pub principal: String,
    pub action: String,
    /// What it was about (`sub_mchid:…`, `transaction_id:…`, a URL path).
    pub target: String,
    pub reason: String,
    pub created_at: i64,
}

/// Filters for a log listing; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Provider (privileges) or principal (refusals), exactly.
    pub who: Option<String>,
    /// Privilege (privileges) or action (refusals), exactly.
    pub what: Option<String>,
    pub limit: i64,
}

koudai_domain::text_enum! {
    /// What a console user may see.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ConsoleRole: "console role" {
        /// Everything: providers, grants, refusals, sub-merchants.
        Operator = "operator",
        /// One provider's own sub-merchants, orders and privileges.
        Provider = "provider",
        /// One merchant's own official accounts and their authorisations.
        Merchant = "merchant",
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsoleUser {
    pub login: String,
    pub password_hash: String,
    #[sqlx(try_from = "String")]
    pub role: ConsoleRole,
    pub sp_mchid: Option<String>,
    /// The merchant of a merchant user.
    pub mchid: Option<String>,
    pub created_at: i64,
}

/// A row of the providers' league table.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeagueRow {
    pub sp_mchid: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: ProviderKind,
    pub sub_merchants: i64,
    pub payments: i64,
    pub volume_fen: i64,
}

/// A merchant's balances, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balances {
    pub pending_fen: i64,
    pub available_fen: i64,
    pub deposit_fen: i64,
    pub paid_out_fen: i64,
}

const PROVIDER_COLUMNS: &str = "p.sp_mchid, m.name, p.kind, p.sp_appid, p.created_at";

impl Store {
    /// Makes merchant `sp_mchid` a provider whose app is `sp_appid`.
    pub async fn create_provider(
        &self,
        sp_mchid: &str,
        kind: ProviderKind,
        sp_appid: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO providers (sp_mchid, kind, sp_appid, created_at) VALUES ($1, $2, $3, $4)")
            .bind(sp_mchid)
            .bind(kind.as_str())
            .bind(sp_appid)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn provider(&self, sp_mchid: &str) -> Result<Option<Provider>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM providers p JOIN merchants m ON m.mchid = p.sp_mchid WHERE p.sp_mchid = $1"
        ))
        .bind(sp_mchid)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM providers p JOIN merchants m ON m.mchid = p.sp_mchid ORDER BY p.created_at, p.sp_mchid"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Puts merchant `mchid` under provider `sp_mchid` (once: a
    /// sub-merchant never changes provider).
    pub async fn attach_sub_merchant(&self, mchid: &str, sp_mchid: &str) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE merchants SET sp_mchid = $1 WHERE mchid = $2 AND sp_mchid IS NULL")
            .bind(sp_mchid)
            .bind(mchid)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!("merchant {mchid} is missing or already a sub-merchant")));
        }
        Ok(())
    }

    pub async fn sub_merchants(&self, sp_mchid: &str) -> Result<Vec<Merchant>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE sp_mchid = $1 ORDER BY created_at, mchid"
        ))
        .bind(sp_mchid)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every sub-merchant of every provider.
    pub async fn all_sub_merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE sp_mchid IS NOT NULL ORDER BY sp_mchid, created_at, mchid"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The appids bound to a merchant.
    pub async fn apps_of(&self, mchid: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT appid FROM app_merchants WHERE mchid = $1 ORDER BY appid")
            .bind(mchid)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Whether `appid` is bound to `mchid`.
    pub async fn is_app_bound(&self, appid: &str, mchid: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_merchants WHERE appid = $1 AND mchid = $2")
            .bind(appid)
            .bind(mchid)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn set_max_ratio(&self, mchid: &str, max_ratio: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET max_ratio = $1 WHERE mchid = $2")
            .bind(max_ratio)
            .bind(mchid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_service_notify_url(&self, mchid: &str, url: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET service_notify_url = $1 WHERE mchid = $2")
            .bind(url)
            .bind(mchid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Appends a grant or revocation to the log; returns its id.
    pub async fn append_privilege_record(&self, r: &NewPrivilegeRecord<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO privilege_events (sp_mchid, privilege, action, actor, reason, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(r.sp_mchid)
        .bind(r.privilege)
        .bind(r.action.as_str())
        .bind(r.actor)
        .bind(r.reason)
        .bind(r.expires_at)
        .bind(r.now)
        .fetch_one(&self.pool)
        .await?)
    }

    /// A provider's privilege log in the order it was written, as the
    /// domain derives the current set from it.
    pub async fn privilege_events(&self, sp_mchid: &str) -> Result<Vec<PrivilegeEvent>, StoreError> {
        let rows: Vec<(String, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT privilege, action, expires_at, created_at FROM privilege_events WHERE sp_mchid = $1 ORDER BY id",
        )
        .bind(sp_mchid)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(privilege, action, expires_at, at)| {
                Ok(PrivilegeEvent { privilege, action: GrantAction::try_from(action)?, expires_at, at })
            })
            .collect()
    }

    /// The privilege log, newest first.
    pub async fn privilege_log(&self, f: &LogFilter) -> Result<Vec<PrivilegeRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, sp_mchid, privilege, action, actor, reason, expires_at, created_at FROM privilege_events \
             WHERE ($1 = '' OR sp_mchid = $1) AND ($2 = '' OR privilege = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(f.who.as_deref().unwrap_or(""))
        .bind(f.what.as_deref().unwrap_or(""))
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Logs a refusal.
    pub async fn record_refusal(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO refusals (principal, action, target, reason, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(principal)
            .bind(action)
            .bind(target)
            .bind(reason)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The refusal log, newest first.
    pub async fn refusals(&self, f: &LogFilter) -> Result<Vec<RefusalRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, principal, action, target, reason, created_at FROM refusals \
             WHERE ($1 = '' OR principal = $1) AND ($2 = '' OR action = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(f.who.as_deref().unwrap_or(""))
        .bind(f.what.as_deref().unwrap_or(""))
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn create_console_user(
        &self,
        login: &str,
        password_hash: &str,
        role: ConsoleRole,
        party: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        // The party is the provider of a provider user, the merchant of a
        // merchant user.
        let (sp_mchid, mchid) = match role {
            ConsoleRole::Provider => (party, None),
            ConsoleRole::Merchant => (None, party),
            ConsoleRole::Operator => (None, None),
        };
        sqlx::query(
            "INSERT INTO console_users (login, password_hash, role, sp_mchid, mchid, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(login)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(sp_mchid)
        .bind(mchid)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn console_user(&self, login: &str) -> Result<Option<ConsoleUser>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT login, password_hash, role, sp_mchid, mchid, created_at FROM console_users WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Providers with their sub-merchant count and the payments taken for
    /// them (count and amount, refunds not deducted).
    pub async fn league(&self) -> Result<Vec<LeagueRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT p.sp_mchid, m.name, p.kind, \
             (SELECT COUNT(*) FROM merchants s WHERE s.sp_mchid = p.sp_mchid) AS sub_merchants, \
             (SELECT COUNT(*) FROM orders o WHERE o.sp_mchid = p.sp_mchid AND o.success_time IS NOT NULL) AS payments, \
             (SELECT CAST(COALESCE(SUM(o.total_fen), 0) AS BIGINT) FROM orders o \
              WHERE o.sp_mchid = p.sp_mchid AND o.success_time IS NOT NULL) AS volume_fen \
             FROM providers p JOIN merchants m ON m.mchid = p.sp_mchid ORDER BY volume_fen DESC, p.sp_mchid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The latest orders placed by provider `sp_mchid`, optionally for one
    /// sub-merchant only.
    pub async fn partner_orders(
        &self,
        sp_mchid: &str,
        sub_mchid: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Order>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM orders WHERE sp_mchid = $1 AND ($2 = '' OR mchid = $2) ORDER BY id DESC LIMIT $3",
            crate::orders::COLUMNS
        ))
        .bind(sp_mchid)
        .bind(sub_mchid.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A merchant's balances.
    pub async fn balances(&self, mchid: &str) -> Result<Balances, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, balance_fen FROM ledger_accounts WHERE owner = $1 AND kind IN ($2, $3, $4, $5)",
        )
        .bind(mchid)
        .bind(AccountKind::MerchantPending.as_str())
        .bind(AccountKind::MerchantAvailable.as_str())
        .bind(AccountKind::MerchantDeposit.as_str())
        .bind(AccountKind::PaidOut.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut b = Balances::default();
        for (kind, fen) in rows {
            match AccountKind::try_from(kind)? {
                AccountKind::MerchantPending => b.pending_fen = fen,
                AccountKind::MerchantAvailable => b.available_fen = fen,
                AccountKind::MerchantDeposit => b.deposit_fen = fen,
                AccountKind::PaidOut => b.paid_out_fen = fen,
                _ => {}
            }
        }
        Ok(b)
    }

    /// Finds a paid order by `transaction_id` whoever owns it, so the caller
    /// can tell "not yours" (logged as a refusal) from "no such order" while
    /// answering both alike.
    pub async fn order_by_transaction_id_anywhere(&self, transaction_id: &str) -> Result<Option<Order>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {} FROM orders WHERE transaction_id = $1", crate::orders::COLUMNS))
            .bind(transaction_id)
            .fetch_optional(&self.pool)
            .await?)
    }
}
