//! The discovery centre's records: its configuration versions, the facts
//! an account is ranked by, impressions, clicks and what clicks led to
//! (follows and orders), and the traffic report made of them.

use std::collections::HashMap;

use crate::{MpAccount, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DiscoveryVersion {
    pub version: i64,
    pub body: String,
    pub actor: String,
    pub note: String,
    pub created_at: i64,
}

/// One account shown in one slot kind, with its provider as it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shown {
    pub appid: String,
    pub featured: bool,
    pub provider: String,
    pub provider_kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Click {
    pub click_id: String,
    pub consumer: Option<String>,
    pub appid: String,
    pub featured: i64,
    pub position: i64,
    pub version: i64,
    pub provider: String,
    pub provider_kind: String,
    pub day: String,
    pub created_at: i64,
}

/// What an account is ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RankFacts {
    pub sales_fen: i64,
    pub good_orders: i64,
    pub bad_orders: i64,
    /// When a product on its shelves was last listed or changed.
    pub last_product_at: Option<i64>,
}

/// A line of the traffic report: one day, one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrafficLine {
    pub day: String,
    pub appid: String,
    pub provider: String,
    pub provider_kind: String,
    pub impressions: i64,
    pub featured_impressions: i64,
    pub clicks: i64,
    pub follows: i64,
    pub orders: i64,
    pub gmv_fen: i64,
}

/// An attributed order, for the report's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Conversion {
    pub kind: String,
    pub reference: String,
    pub click_id: String,
    pub appid: String,
    pub amount_fen: i64,
    pub day: String,
    pub created_at: i64,
}

const CLICK_COLUMNS: &str =
    "click_id, consumer, appid, featured, position, version, provider, provider_kind, day, created_at";

impl Store {
    pub async fn discovery_versions(&self) -> Result<Vec<DiscoveryVersion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, body, actor, note, created_at FROM discovery_versions ORDER BY version DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn latest_discovery_version(&self) -> Result<Option<DiscoveryVersion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, body, actor, note, created_at FROM discovery_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a new version after `after` (the version the change was made
    /// from); false when someone else published since.
    pub async fn add_discovery_version(&self, after: i64, v: &DiscoveryVersion) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM discovery_versions").fetch_one(&mut *tx).await?;
        if latest.unwrap_or(0) != after || v.version != after + 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO discovery_versions (version, body, actor, note, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(v.version)
        .bind(&v.body)
        .bind(&v.actor)
        .bind(&v.note)
        .bind(v.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Accounts whose kept verdict grants `capability`.
    pub async fn accounts_with_capability(&self, capability: &str) -> Result<Vec<MpAccount>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM mp_accounts WHERE appid IN \
             (SELECT appid FROM account_capabilities WHERE capability = $1 AND granted = 1) ORDER BY appid",
            crate::mp::ACCOUNT_COLUMNS
        ))
        .bind(capability)
        .fetch_all(&self.pool)
        .await?)
    }

    /// What every account is ranked by, in a few grouped queries: its
    /// payments since `since`, net of refunds (a direct payment under its
    /// appid, a partner payment under its sub_appid); its confirmed shop
    /// orders; its shelves' last change.
    pub async fn rank_facts(&self, since: i64) -> Result<HashMap<String, RankFacts>, StoreError> {
        let mut out: HashMap<String, RankFacts> = HashMap::new();
        let sales: Vec<(Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT CASE WHEN sp_mchid IS NULL THEN appid ELSE sub_appid END AS account, \
             CAST(SUM(total_fen - refunded_fen) AS BIGINT) FROM orders \
             WHERE trade_state IN ('SUCCESS', 'REFUND') AND success_time >= $1 \
             GROUP BY CASE WHEN sp_mchid IS NULL THEN appid ELSE sub_appid END",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        for (account, fen) in sales {
            if let Some(account) = account {
                out.entry(account).or_default().sales_fen = fen.unwrap_or(0);
            }
        }
        let ratings: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT appid, CAST(SUM(CASE WHEN status = {} AND rights_reason = '' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN rights_reason <> '' THEN 1 ELSE 0 END) AS BIGINT) FROM shop_orders GROUP BY appid",
            crate::shop_orders::FINISHED
        ))
        .fetch_all(&self.pool)
        .await?;
        for (appid, good, bad) in ratings {
            let f = out.entry(appid).or_default();
            f.good_orders = good.unwrap_or(0);
            f.bad_orders = bad.unwrap_or(0);
        }
        let fresh: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT appid, MAX(updated_at) FROM shop_products WHERE on_shelf = 1 GROUP BY appid")
                .fetch_all(&self.pool)
                .await?;
        for (appid, at) in fresh {
            out.entry(appid).or_default().last_product_at = at;
        }
        Ok(out)
    }

    /// The directory's generation: it moves whenever an account, its
    /// capabilities, products or stores, a provider or its privileges, or
    /// the directory's configuration change (database triggers, migration
    /// 0015), on any node or from the command line.
    pub async fn discovery_generation(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT n FROM discovery_generation WHERE id = 1").fetch_one(&self.pool).await?)
    }

    /// Every product on a shelf: (appid, product JSON).
    pub async fn shelved_products(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT appid, body FROM shop_products WHERE on_shelf = 1 ORDER BY appid, created_at, product_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every approved store: (appid, base_info JSON).
    pub async fn approved_stores(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT appid, base_info FROM stores WHERE available_state = 3 AND deleted_at IS NULL \
             ORDER BY appid, created_at, poi_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds `(day, entry, times shown)` to the impression counts, in one
    /// transaction of one statement per hundred rows.
    pub async fn count_impressions(&self, counts: &[(String, Shown, i64)]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for chunk in counts.chunks(100) {
            let rows = (0..chunk.len())
                .map(|i| {
                    let k = 6 * i;
                    format!("(${}, ${}, ${}, ${}, ${}, ${})", k + 1, k + 2, k + 3, k + 4, k + 5, k + 6)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO discovery_impressions (day, appid, featured, provider, provider_kind, shown) VALUES {rows} \
                 ON CONFLICT (day, appid, featured, provider) DO UPDATE SET shown = discovery_impressions.shown + excluded.shown"
            );
            let mut q = sqlx::query(&sql);
            for (day, s, n) in chunk {
                q = q
                    .bind(day)
                    .bind(&s.appid)
                    .bind(i64::from(s.featured))
                    .bind(&s.provider)
                    .bind(&s.provider_kind)
                    .bind(n);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a click once; true the first time.
    pub async fn record_click(&self, c: &Click) -> Result<bool, StoreError> {
        Ok(sqlx::query(&format!(
            "INSERT INTO discovery_clicks ({CLICK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (click_id) DO NOTHING"
        ))
        .bind(&c.click_id)
        .bind(&c.consumer)
        .bind(&c.appid)
        .bind(c.featured)
        .bind(c.position)
        .bind(c.version)
        .bind(&c.provider)
        .bind(&c.provider_kind)
        .bind(&c.day)
        .bind(c.created_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// A consumer's latest click on an account between `since` and `until`.
    pub async fn latest_click(
        &self,
        consumer: &str,
        appid: &str,
        since: i64,
        until: i64,
    ) -> Result<Option<Click>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CLICK_COLUMNS} FROM discovery_clicks WHERE consumer = $1 AND appid = $2 AND created_at >= $3 \
             AND created_at <= $4 ORDER BY created_at DESC, click_id DESC LIMIT 1"
        ))
        .bind(consumer)
        .bind(appid)
        .bind(since)
        .bind(until)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Payments since `since` that a click could have led to and that are
    /// not attributed: paid shop orders (`shop:<order_id>`) and store
    /// payments (`store:<out_trade_no>`) of consumers who clicked on the
    /// account, as (reference, consumer, account, amount, paid at).
    pub async fn unattributed_payments(
        &self,
        since: i64,
    ) -> Result<Vec<(String, String, String, i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT 'shop:' || s.order_id, s.consumer, s.appid, s.total_price, s.paid_at FROM shop_orders s \
             WHERE s.paid_at >= $1 \
             AND EXISTS (SELECT 1 FROM discovery_clicks c WHERE c.consumer = s.consumer AND c.appid = s.appid) \
             AND NOT EXISTS (SELECT 1 FROM discovery_conversions v WHERE v.kind = 'order' \
                             AND v.reference = 'shop:' || s.order_id) \
             UNION ALL \
             SELECT 'store:' || o.out_trade_no, o.payer_login, \
                    CASE WHEN o.sp_mchid IS NULL THEN o.appid ELSE o.sub_appid END, o.total_fen, o.success_time \
             FROM orders o WHERE o.store_id IS NOT NULL AND o.success_time >= $1 AND o.payer_login IS NOT NULL \
             AND o.trade_state IN ('SUCCESS', 'REFUND') \
             AND EXISTS (SELECT 1 FROM discovery_clicks c WHERE c.consumer = o.payer_login \
                         AND c.appid = CASE WHEN o.sp_mchid IS NULL THEN o.appid ELSE o.sub_appid END) \
             AND NOT EXISTS (SELECT 1 FROM discovery_conversions v WHERE v.kind = 'order' \
                             AND v.reference = 'store:' || o.out_trade_no)",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records what a click led to, once per (kind, reference); true the
    /// first time.
    pub async fn record_conversion(&self, c: &Conversion) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO discovery_conversions (kind, reference, click_id, appid, amount_fen, day, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, reference) DO NOTHING",
        )
        .bind(&c.kind)
        .bind(&c.reference)
        .bind(&c.click_id)
        .bind(&c.appid)
        .bind(c.amount_fen)
        .bind(&c.day)
        .bind(c.created_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Attributed orders between two days (inclusive), oldest first.
    pub async fn attributed_orders(&self, from: &str, to: &str) -> Result<Vec<Conversion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, reference, click_id, appid, amount_fen, day, created_at FROM discovery_conversions \
             WHERE kind = 'order' AND day >= $1 AND day <= $2 ORDER BY created_at, reference",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The traffic between two days (inclusive), per day and account, with
    /// the provider of the showing or the click. Conversions count on the
    /// day they happened, under the provider of the click they came from.
    pub async fn traffic(&self, from: &str, to: &str) -> Result<Vec<TrafficLine>, StoreError> {
        use std::collections::BTreeMap;
        type Key = (String, String, String, String);
        let mut lines: BTreeMap<Key, TrafficLine> = BTreeMap::new();
        fn line(
            lines: &mut BTreeMap<Key, TrafficLine>,
            day: String,
            appid: String,
            provider: String,
            kind: String,
        ) -> &mut TrafficLine {
            lines.entry((day.clone(), appid.clone(), provider.clone(), kind.clone())).or_insert(TrafficLine {
                day,
                appid,
                provider,
                provider_kind: kind,
                ..TrafficLine::default()
            })
        }
        let shown: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT day, appid, provider, provider_kind, CAST(SUM(shown) AS BIGINT), \
             CAST(SUM(CASE WHEN featured = 1 THEN shown ELSE 0 END) AS BIGINT) FROM discovery_impressions \
             WHERE day >= $1 AND day <= $2 GROUP BY day, appid, provider, provider_kind",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (day, appid, provider, kind, n, featured) in shown {
            let l = line(&mut lines, day, appid, provider, kind);
            l.impressions += n;
            l.featured_impressions += featured;
        }
        let clicks: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT day, appid, provider, provider_kind, COUNT(*) FROM discovery_clicks \
             WHERE day >= $1 AND day <= $2 GROUP BY day, appid, provider, provider_kind",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (day, appid, provider, kind, n) in clicks {
            line(&mut lines, day, appid, provider, kind).clicks += n;
        }
        let conversions: Vec<(String, String, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT v.day, v.appid, c.provider, c.provider_kind, v.kind, COUNT(*), CAST(SUM(v.amount_fen) AS BIGINT) \
             FROM discovery_conversions v JOIN discovery_clicks c ON c.click_id = v.click_id \
             WHERE v.day >= $1 AND v.day <= $2 GROUP BY v.day, v.appid, c.provider, c.provider_kind, v.kind",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (day, appid, provider, kind, what, n, amount) in conversions {
            let l = line(&mut lines, day, appid, provider, kind);
            if what == "follow" {
                l.follows += n;
            } else {
                l.orders += n;
                l.gmv_fen += amount;
            }
        }
        Ok(lines.into_values().collect())
    }
}
