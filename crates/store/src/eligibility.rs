//! The e-commerce rules' storage: violations, published rule sets, each
//! account's current capabilities (a cache refreshed by the events that
//! change its facts) and the capability log.

use crate::{Store, StoreError};

/// A violation recorded against an account.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Violation {
    pub id: i64,
    pub appid: String,
    pub reason: String,
    pub opened_by: String,
    pub opened_at: i64,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
}

/// A published rule set.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PublishedRules {
    pub version: i64,
    pub document: String,
    pub published_by: String,
    pub published_at: i64,
}

/// An account's current verdict on one capability.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CapabilityRow {
    pub appid: String,
    pub capability: String,
    #[sqlx(try_from = "i64")]
    pub granted: crate::Flag,
    /// The unmet requirements, as JSON.
    pub unmet: String,
    pub rule_version: i64,
    pub updated_at: i64,
}

/// A change of a capability.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CapabilityChange {
    pub id: i64,
    pub appid: String,
    pub capability: String,
    #[sqlx(try_from = "i64")]
    pub granted: crate::Flag,
    pub cause: String,
    pub unmet: String,
    pub rule_version: i64,
    pub at: i64,
}

impl Store {
    pub async fn set_mp_verified(&self, appid: &str, verified: bool) -> Result<bool, StoreError> {
        Ok(sqlx::query("UPDATE mp_accounts SET verified = $1 WHERE appid = $2")
            .bind(i64::from(verified))
            .bind(appid)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Every account's appid, in order.
    pub async fn mp_appids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT appid FROM mp_accounts ORDER BY appid").fetch_all(&self.pool).await?)
    }

    pub async fn open_violation(&self, appid: &str, reason: &str, by: &str, now: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO violations (appid, reason, opened_by, opened_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(appid)
        .bind(reason)
        .bind(by)
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Closes an open violation; returns its account if it was open.
    pub async fn close_violation(&self, id: i64, by: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE violations SET closed_by = $1, closed_at = $2 WHERE id = $3 AND closed_at IS NULL RETURNING appid",
        )
        .bind(by)
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn open_violations(&self, appid: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM violations WHERE appid = $1 AND closed_at IS NULL")
            .bind(appid)
            .fetch_one(&self.pool)
            .await?)
    }

    /// The newest published rule set.
    pub async fn latest_rules(&self) -> Result<Option<PublishedRules>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, document, published_by, published_at FROM rule_sets ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn rule_sets(&self) -> Result<Vec<PublishedRules>, StoreError> {
        Ok(sqlx::query_as("SELECT version, document, published_by, published_at FROM rule_sets ORDER BY version DESC")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Publishes a version (a version is written once: `Conflict` if taken).
    pub async fn publish_rules(&self, r: &PublishedRules) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO rule_sets (version, document, published_by, published_at) VALUES ($1, $2, $3, $4)")
            .bind(r.version)
            .bind(&r.document)
            .bind(&r.published_by)
            .bind(r.published_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn capabilities_of(&self, appid: &str) -> Result<Vec<CapabilityRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT appid, capability, granted, unmet, rule_version, updated_at FROM account_capabilities \
             WHERE appid = $1 ORDER BY capability",
        )
        .bind(appid)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Writes an account's verdict on a capability and, when `cause` is
    /// given, the change to the log, together.
    pub async fn save_capability(&self, row: &CapabilityRow, cause: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO account_capabilities (appid, capability, granted, unmet, rule_version, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (appid, capability) DO UPDATE SET granted = excluded.granted, \
             unmet = excluded.unmet, rule_version = excluded.rule_version, updated_at = excluded.updated_at",
        )
        .bind(&row.appid)
        .bind(&row.capability)
        .bind(i64::from(row.granted.0))
        .bind(&row.unmet)
        .bind(row.rule_version)
        .bind(row.updated_at)
        .execute(&mut *tx)
        .await?;
        if let Some(cause) = cause {
            sqlx::query(
                "INSERT INTO capability_log (appid, capability, granted, cause, unmet, rule_version, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&row.appid)
            .bind(&row.capability)
            .bind(i64::from(row.granted.0))
            .bind(cause)
            .bind(&row.unmet)
            .bind(row.rule_version)
            .bind(row.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops the verdicts on capabilities a rule set no longer names.
    pub async fn drop_capability(&self, appid: &str, capability: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM account_capabilities WHERE appid = $1 AND capability = $2")
            .bind(appid)
            .bind(capability)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The capability log, newest first (one account, or all).
    pub async fn capability_log(&self, appid: Option<&str>, limit: i64) -> Result<Vec<CapabilityChange>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, appid, capability, granted, cause, unmet, rule_version, at FROM capability_log \
             WHERE ($1 = '' OR appid = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(appid.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
