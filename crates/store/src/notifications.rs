//! The callback outbox: rows written in the transaction of the state change
//! they announce, claimed by delivery workers under a lease, and an attempt
//! row for every delivery try.

use sqlx::Row;

use koudai_domain::schedule::Channel;

use crate::{Store, StoreError, WriteTx};

/// A notification to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub event_id: String,
    pub mchid: String,
    pub reference: String,
    pub event_type: String,
    pub notify_url: String,
    pub body: String,
    pub next_attempt_at: i64,
    pub created_at: i64,
    /// How it is delivered.
    pub channel: Channel,
    /// For `mp` the account's appid, for `component` the component appid.
    pub key: Option<String>,
}

koudai_domain::text_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum NotificationStatus: "notification status" {
        Pending = "PENDING",
        Delivered = "DELIVERED",
        Failed = "FAILED",
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub event_id: String,
    pub mchid: String,
    pub reference: String,
    pub event_type: String,
    pub notify_url: String,
    pub body: String,
    #[sqlx(try_from = "String")]
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    /// How it is delivered.
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    /// For `mp` the account's appid, for `component` the component appid.
    pub appid: Option<String>,
    /// For `mp`: the receiving server's passive reply, parsed (JSON).
    pub reply: Option<String>,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attempt {
    pub attempt_no: i64,
    pub attempted_at: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What to do with a notification after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

const COLUMNS: &str =
    "id, event_id, mchid, reference, event_type, notify_url, body, status, attempts, next_attempt_at, \
    created_at, channel, appid, reply";

/// Puts a notification in the outbox inside `tx`, so that it is sent if and
/// only if the state change it announces commits with it; returns its id.
pub async fn enqueue(tx: &mut WriteTx, n: &NewNotification) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO notifications (event_id, mchid, reference, event_type, notify_url, body, status, attempts, next_attempt_at, \
         lease_until, created_at, channel, appid) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, 0, $9, $10, $11) RETURNING id",
    )
    .bind(&n.event_id)
    .bind(&n.mchid)
    .bind(&n.reference)
    .bind(&n.event_type)
    .bind(&n.notify_url)
    .bind(&n.body)
    .bind(NotificationStatus::Pending.as_str())
    .bind(n.next_attempt_at)
    .bind(n.created_at)
    .bind(n.channel.as_str())
    .bind(&n.key)
    .fetch_one(&mut **tx)
    .await?)
}

impl Store {
    /// Claims one pending notification by id (to send it now), unless
    /// another worker holds it.
    pub async fn claim_notification(
        &self,
        id: i64,
        wall_now: i64,
        lease_until: i64,
    ) -> Result<Option<Notification>, StoreError> {
        let mut tx = self.write().await?;
        let sql =
            tx.lock_skip_locked("SELECT id FROM notifications WHERE id = $1 AND status = $2 AND lease_until <= $3");
        let found: Option<i64> = sqlx::query_scalar(&sql)
            .bind(id)
            .bind(NotificationStatus::Pending.as_str())
            .bind(wall_now)
            .fetch_optional(&mut *tx)
            .await?;
        let out = match found {
            Some(id) => Some(
                sqlx::query_as(&format!("UPDATE notifications SET lease_until = $1 WHERE id = $2 RETURNING {COLUMNS}"))
                    .bind(lease_until)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?,
            ),
            None => None,
        };
        tx.commit().await?;
        Ok(out)
    }

    pub async fn notification(&self, id: i64) -> Result<Option<Notification>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM notifications WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Keeps what the receiving server answered (a parsed passive reply).
    pub async fn set_notification_reply(&self, id: i64, reply: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE notifications SET reply = $1 WHERE id = $2")
            .bind(reply)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims up to `limit` pending notifications due at business time
    /// `business_now`, leasing them until wall time `lease_until` so that no
    /// other worker sends them meanwhile. The claim commits before anything
    /// is sent: no transaction is held across the HTTP call. A worker that
    /// dies mid-send loses only its lease; the row is sent again afterwards.
    pub async fn claim_due_notifications(
        &self,
        business_now: i64,
        wall_now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut tx = self.write().await?;
        let sql = tx.lock_skip_locked(
            "SELECT id FROM notifications WHERE status = $1 AND next_attempt_at <= $2 AND lease_until <= $3 \
             ORDER BY next_attempt_at, id LIMIT $4",
        );
        let ids: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(NotificationStatus::Pending.as_str())
            .bind(business_now)
            .bind(wall_now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        // One statement for the whole claim, not one per row: on
        // PostgreSQL each statement is a round trip.
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "UPDATE notifications SET lease_until = $1 WHERE id IN ({}) RETURNING {COLUMNS}",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as(&sql).bind(lease_until);
        for id in &ids {
            query = query.bind(id);
        }
        let mut claimed: Vec<Notification> = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        // In the order they fell due.
        claimed.sort_by_key(|n| ids.iter().position(|id| *id == n.id));
        Ok(claimed)
    }

    /// Gives back claimed notifications unsent, without counting an
    /// attempt: each `(id, until)` is claimable again from wall second
    /// `until` on (its destination is busy or backed off).
    pub async fn put_back_notifications(&self, rows: &[(i64, i64)]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for (id, until) in rows {
            sqlx::query("UPDATE notifications SET lease_until = $1 WHERE id = $2 AND status = $3")
                .bind(until)
                .bind(id)
                .bind(NotificationStatus::Pending.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records one delivery attempt and what follows from it, atomically.
    pub async fn record_attempt(
        &self,
        notification_id: i64,
        attempt: &Attempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError> {
        self.record_attempts(&[(notification_id, attempt.clone(), after)]).await
    }

    /// Records several delivery attempts and what follows from each, in
    /// one transaction (one commit for a batch of sends).
    pub async fn record_attempts(&self, attempts: &[(i64, Attempt, AfterAttempt)]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for (notification_id, attempt, after) in attempts {
            sqlx::query(
                "INSERT INTO notification_attempts (notification_id, attempt_no, attempted_at, http_status, error, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(notification_id)
            .bind(attempt.attempt_no)
            .bind(attempt.attempted_at)
            .bind(attempt.http_status)
            .bind(&attempt.error)
            .bind(attempt.duration_ms)
            .execute(&mut *tx)
            .await?;
            let (status, next) = match after {
                AfterAttempt::Delivered => (NotificationStatus::Delivered, None),
                AfterAttempt::RetryAt(t) => (NotificationStatus::Pending, Some(*t)),
                AfterAttempt::GiveUp => (NotificationStatus::Failed, None),
            };
            sqlx::query(
                "UPDATE notifications SET status = $1, attempts = $2, next_attempt_at = COALESCE($3, next_attempt_at), lease_until = 0 \
                 WHERE id = $4",
            )
            .bind(status.as_str())
            .bind(attempt.attempt_no)
            .bind(next)
            .bind(notification_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The notifications about one order or refund, with their attempts.
    pub async fn notifications_for(
        &self,
        mchid: Option<&str>,
        reference: &str,
    ) -> Result<Vec<(Notification, Vec<Attempt>)>, StoreError> {
        let notifications: Vec<Notification> = match mchid {
            Some(m) => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM notifications WHERE mchid = $1 AND reference = $2 ORDER BY id"
                ))
                .bind(m)
                .bind(reference)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM notifications WHERE reference = $1 ORDER BY id"))
                    .bind(reference)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut out = Vec::with_capacity(notifications.len());
        for n in notifications {
            let attempts = sqlx::query_as(
                "SELECT attempt_no, attempted_at, http_status, error, duration_ms FROM notification_attempts \
                 WHERE notification_id = $1 ORDER BY attempt_no",
            )
            .bind(n.id)
            .fetch_all(&self.pool)
            .await?;
            out.push((n, attempts));
        }
        Ok(out)
    }

    /// How many notifications wait to be delivered, and the earliest
    /// business time one of them was due (for `/metrics`).
    pub async fn outbox_depth(&self) -> Result<(i64, Option<i64>), StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n, MIN(next_attempt_at) AS oldest FROM notifications WHERE status = $1")
                .bind(NotificationStatus::Pending.as_str())
                .fetch_one(&self.pool)
                .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    /// Records that `mchid` used `nonce`, to be remembered until wall time
    /// `forget_at`; false if it is remembered already (a replay). One
    /// statement, so two nodes receiving the same request at once cannot both
    /// accept it.
    pub async fn remember_nonce(&self, mchid: &str, nonce: &str, forget_at: i64, now: i64) -> Result<bool, StoreError> {
        let fresh: Option<i64> = sqlx::query_scalar(
            "INSERT INTO request_nonces (mchid, nonce, forget_at) VALUES ($1, $2, $3) \
             ON CONFLICT (mchid, nonce) DO UPDATE SET forget_at = excluded.forget_at \
             WHERE request_nonces.forget_at <= $4 RETURNING forget_at",
        )
        .bind(mchid)
        .bind(nonce)
        .bind(forget_at)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(fresh.is_some())
    }

    /// Forgets nonces whose time has passed; returns how many.
    pub async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM request_nonces WHERE forget_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
