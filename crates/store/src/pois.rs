//! Stores (POI): created under audit, approved or rejected by the
//! operator, updated through a pending change adopted on approval.

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PoiRow {
    pub poi_id: String,
    pub appid: String,
    pub sid: String,
    /// The store's `base_info` (JSON).
    pub base_info: String,
    pub available_state: i64,
    /// An update awaiting review (JSON of the changed fields).
    pub pending: Option<String>,
    pub reason: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The pay code's fixed prices (fen, comma-separated; empty: any amount).
    pub prices: String,
}

/// A store's takings at its pay code: payments (paid, including those since
/// refunded), their total and what was refunded of them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PoiSales {
    pub store_id: String,
    pub payments: i64,
    pub total_fen: i64,
    pub refunded_fen: i64,
}

const COLUMNS: &str = "poi_id, appid, sid, base_info, available_state, pending, reason, created_at, updated_at, prices";

impl Store {
    pub async fn create_store(&self, s: &PoiRow) -> Result<(), StoreError> {
        sqlx::query(&format!("INSERT INTO stores ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(&s.poi_id)
            .bind(&s.appid)
            .bind(&s.sid)
            .bind(&s.base_info)
            .bind(s.available_state)
            .bind(&s.pending)
            .bind(&s.reason)
            .bind(s.created_at)
            .bind(s.updated_at)
            .bind(&s.prices)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A live store (of any account).
    pub async fn poi(&self, poi_id: &str) -> Result<Option<PoiRow>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM stores WHERE poi_id = $1 AND deleted_at IS NULL"))
            .bind(poi_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// An account's live stores, oldest first, a page, and how many.
    pub async fn pois(&self, appid: &str, begin: i64, limit: i64) -> Result<(Vec<PoiRow>, i64), StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM stores WHERE appid = $1 AND deleted_at IS NULL ORDER BY created_at, poi_id LIMIT $2 OFFSET $3"
        ))
        .bind(appid)
        .bind(limit)
        .bind(begin)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM stores WHERE appid = $1 AND deleted_at IS NULL")
            .bind(appid)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Stores waiting for the operator: under audit, or with a pending update.
    pub async fn pois_to_review(&self) -> Result<Vec<PoiRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM stores WHERE deleted_at IS NULL AND (available_state = 2 OR pending IS NOT NULL) \
             ORDER BY updated_at, poi_id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records an update for review, only if the store is approved and has
    /// none pending; false otherwise.
    pub async fn set_poi_pending(&self, poi_id: &str, pending: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE stores SET pending = $1, updated_at = $2 WHERE poi_id = $3 AND available_state = 3 AND pending IS NULL \
             AND deleted_at IS NULL",
        )
        .bind(pending)
        .bind(now)
        .bind(poi_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Writes the operator's decision: the new state, base_info (with a
    /// pending update adopted), no pending update, the reason.
    pub async fn decide_poi(
        &self,
        poi_id: &str,
        state: i64,
        base_info: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE stores SET available_state = $1, base_info = $2, pending = NULL, reason = $3, updated_at = $4 \
             WHERE poi_id = $5 AND deleted_at IS NULL",
        )
        .bind(state)
        .bind(base_info)
        .bind(reason)
        .bind(now)
        .bind(poi_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    pub async fn delete_poi(&self, poi_id: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("UPDATE stores SET deleted_at = $1 WHERE poi_id = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(poi_id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Sets a store's fixed prices.
    pub async fn set_poi_prices(&self, poi_id: &str, prices: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("UPDATE stores SET prices = $1 WHERE poi_id = $2 AND deleted_at IS NULL")
            .bind(prices)
            .bind(poi_id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Where a merchant's store payments are called back (empty: nowhere).
    pub async fn store_pay_notify_url(&self, mchid: &str) -> Result<String, StoreError> {
        let url: Option<String> = sqlx::query_scalar("SELECT notify_url FROM store_pay_settings WHERE mchid = $1")
            .bind(mchid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(url.unwrap_or_default())
    }

    pub async fn set_store_pay_notify_url(&self, mchid: &str, url: &str, by: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO store_pay_settings (mchid, notify_url, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (mchid) DO UPDATE SET notify_url = excluded.notify_url, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(mchid)
        .bind(url)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A merchant's takings per store: paid orders naming a store.
    pub async fn store_sales(&self, mchid: &str) -> Result<Vec<PoiSales>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT store_id, COUNT(*) AS payments, CAST(SUM(total_fen) AS BIGINT) AS total_fen, \
             CAST(SUM(refunded_fen) AS BIGINT) AS refunded_fen FROM orders \
             WHERE mchid = $1 AND store_id IS NOT NULL AND trade_state IN ('SUCCESS', 'REFUND') \
             GROUP BY store_id ORDER BY store_id",
        )
        .bind(mchid)
        .fetch_all(&self.pool)
        .await?)
    }
}
