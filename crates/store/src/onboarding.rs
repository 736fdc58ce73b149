//! Onboarding: media (content-addressed blobs, owned per uploader),
//! applications and their transitions, reveals of sensitive values, and the
//! approval that creates the sub-merchant in the same transaction.

use koudai_domain::applyment::ApplymentState;
use koudai_domain::ledger::AccountKind;

use crate::parties::insert_merchant_certificate;
use crate::parties::NewMerchant;
use crate::{Store, StoreError, WriteTx};

/// An uploaded file, as its owner knows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Media {
    pub media_id: String,
    pub owner_mchid: String,
    pub sha256: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub created_at: i64,
}

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApplymentRecord {
    pub id: i64,
    pub applyment_id: i64,
    pub sp_mchid: String,
    pub business_code: String,
    #[sqlx(try_from = "String")]
    pub state: ApplymentState,
    pub audit_class: String,
    pub merchant_name: String,
    pub merchant_shortname: String,
    pub subject_type: String,
    pub license_number: String,
    pub settlement_id: String,
    pub qualification_type: String,
    pub account_digest: String,
    pub phone_digest: String,
    /// The application with its sensitive values masked.
    pub public_json: String,
    /// The sensitive values, sealed (`koudai_protocol::envelope`).
    pub sealed: String,
    pub params_digest: String,
    /// `audit_detail` JSON of a rejection.
    pub audit_detail: Option<String>,
    pub sub_mchid: Option<String>,
    pub sign_token: Option<String>,
    /// The signing code, sealed.
    pub sign_code: Option<String>,
    pub submitted_at: i64,
    pub deadline_at: i64,
    pub decided_at: Option<i64>,
    pub signed_at: Option<i64>,
    pub finish_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, applyment_id, sp_mchid, business_code, state, audit_class, merchant_name, merchant_shortname, \
    subject_type, license_number, settlement_id, qualification_type, account_digest, phone_digest, public_json, sealed, \
    params_digest, audit_detail, sub_mchid, sign_token, sign_code, submitted_at, deadline_at, decided_at, signed_at, \
    finish_at, finished_at, created_at";

/// An application to write (new, or over a rejected one).
#[derive(Debug, Clone)]
pub struct NewApplyment {
    pub applyment_id: i64,
    pub sp_mchid: String,
    pub business_code: String,
    pub audit_class: String,
    pub merchant_name: String,
    pub merchant_shortname: String,
    pub subject_type: String,
    pub license_number: String,
    pub settlement_id: String,
    pub qualification_type: String,
    pub account_digest: String,
    pub phone_digest: String,
    pub public_json: String,
    pub sealed: String,
    pub params_digest: String,
    pub submitted_at: i64,
    pub deadline_at: i64,
}

/// What writing an application came to.
#[derive(Debug, Clone)]
pub enum Submitted {
    Created(ApplymentRecord),
    /// A rejected one, overwritten and back in the queue.
    Resubmitted(ApplymentRecord),
    /// One with this `business_code` is in progress: returned as stored.
    Existing(ApplymentRecord),
}

/// One transition, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApplymentLogEntry {
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub reason: String,
    pub at: i64,
}

/// A change of state to write with its record.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub from: ApplymentState,
    pub to: ApplymentState,
    pub actor: &'a str,
    pub reason: &'a str,
    pub now: i64,
}

/// The sub-merchant an approval creates.
#[derive(Debug, Clone)]
pub struct ApprovedMerchant {
    pub merchant: NewMerchant,
    pub fee_rule: String,
    /// A reference to the bank account (masked), where payouts go.
    pub bank_account: String,
}

/// Decision times of applications decided in a window, for the report.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditTiming {
    pub audit_class: String,
    pub provider_kind: String,
    pub submitted_at: i64,
    pub decided_at: Option<i64>,
    pub finished_at: Option<i64>,
}

async fn record_transition(tx: &mut WriteTx, row: i64, t: &Transition<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO applyment_events (applyment_row, from_state, to_state, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(row)
    .bind(t.from.as_str())
    .bind(t.to.as_str())
    .bind(t.actor)
    .bind(t.reason)
    .bind(t.now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Stores a file for `owner` (the blob once per content); returns its
    /// media record, the existing one if the owner uploaded the same bytes.
    pub async fn save_media(&self, m: &Media, content: &[u8]) -> Result<Media, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO media_blobs (sha256, content) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING")
            .bind(&m.sha256)
            .bind(content)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO media (media_id, owner_mchid, sha256, filename, content_type, size_bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (owner_mchid, sha256) DO NOTHING",
        )
        .bind(&m.media_id)
        .bind(&m.owner_mchid)
        .bind(&m.sha256)
        .bind(&m.filename)
        .bind(&m.content_type)
        .bind(m.size_bytes)
        .bind(m.created_at)
        .execute(&mut *tx)
        .await?;
        let saved = sqlx::query_as(
            "SELECT media_id, owner_mchid, sha256, filename, content_type, size_bytes, created_at FROM media \
             WHERE owner_mchid = $1 AND sha256 = $2",
        )
        .bind(&m.owner_mchid)
        .bind(&m.sha256)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    pub async fn media(&self, media_id: &str) -> Result<Option<Media>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT media_id, owner_mchid, sha256, filename, content_type, size_bytes, created_at FROM media WHERE media_id = $1",
        )
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The bytes of a file.
    pub async fn media_content(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT content FROM media_blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Writes an application: new; over a rejected one with the same
    /// `business_code` (back in the queue); or, if one is in progress,
    /// nothing (it is returned).
    pub async fn submit_applyment(&self, a: &NewApplyment, actor: &str) -> Result<Submitted, StoreError> {
        crate::error::retrying(|| self.submit_applyment_once(a, actor)).await
    }

    async fn submit_applyment_once(&self, a: &NewApplyment, actor: &str) -> Result<Submitted, StoreError> {
        let mut tx = self.write().await?;
        let existing: Option<ApplymentRecord> = sqlx::query_as(
            &tx.lock(&format!("SELECT {COLUMNS} FROM applyments WHERE sp_mchid = $1 AND business_code = $2")),
        )
        .bind(&a.sp_mchid)
        .bind(&a.business_code)
        .fetch_optional(&mut *tx)
        .await?;
        let (row, from, resubmitted) = match existing {
            Some(e) if e.state != ApplymentState::Rejected => {
                tx.rollback().await?;
                return Ok(Submitted::Existing(e));
            }
            Some(e) => {
                sqlx::query(
                    "UPDATE applyments SET state = $1, audit_class = $2, merchant_name = $3, merchant_shortname = $4, \
                     subject_type = $5, license_number = $6, settlement_id = $7, qualification_type = $8, account_digest = $9, \
                     phone_digest = $10, public_json = $11, sealed = $12, params_digest = $13, audit_detail = NULL, \
                     submitted_at = $14, deadline_at = $15, decided_at = NULL WHERE id = $16",
                )
                .bind(ApplymentState::Auditing.as_str())
                .bind(&a.audit_class)
                .bind(&a.merchant_name)
                .bind(&a.merchant_shortname)
                .bind(&a.subject_type)
                .bind(&a.license_number)
                .bind(&a.settlement_id)
                .bind(&a.qualification_type)
                .bind(&a.account_digest)
                .bind(&a.phone_digest)
                .bind(&a.public_json)
                .bind(&a.sealed)
                .bind(&a.params_digest)
                .bind(a.submitted_at)
                .bind(a.deadline_at)
                .bind(e.id)
                .execute(&mut *tx)
                .await?;
                (e.id, ApplymentState::Rejected, true)
            }
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO applyments (applyment_id, sp_mchid, business_code, state, audit_class, merchant_name, \
                     merchant_shortname, subject_type, license_number, settlement_id, qualification_type, account_digest, \
                     phone_digest, public_json, sealed, params_digest, submitted_at, deadline_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id",
                )
                .bind(a.applyment_id)
                .bind(&a.sp_mchid)
                .bind(&a.business_code)
                .bind(ApplymentState::Auditing.as_str())
                .bind(&a.audit_class)
                .bind(&a.merchant_name)
                .bind(&a.merchant_shortname)
                .bind(&a.subject_type)
                .bind(&a.license_number)
                .bind(&a.settlement_id)
                .bind(&a.qualification_type)
                .bind(&a.account_digest)
                .bind(&a.phone_digest)
                .bind(&a.public_json)
                .bind(&a.sealed)
                .bind(&a.params_digest)
                .bind(a.submitted_at)
                .bind(a.deadline_at)
                .bind(a.submitted_at)
                .fetch_one(&mut *tx)
                .await?;
                (id, ApplymentState::Editing, false)
            }
        };
        let t = Transition {
            from,
            to: ApplymentState::Auditing,
            actor,
            reason: if resubmitted { "resubmitted" } else { "submitted" },
            now: a.submitted_at,
        };
        record_transition(&mut tx, row, &t).await?;
        let saved = sqlx::query_as(&format!("SELECT {COLUMNS} FROM applyments WHERE id = $1"))
            .bind(row)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(if resubmitted { Submitted::Resubmitted(saved) } else { Submitted::Created(saved) })
    }

    pub async fn applyment_by_id(&self, applyment_id: i64) -> Result<Option<ApplymentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM applyments WHERE applyment_id = $1"))
            .bind(applyment_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn applyment_by_code(
        &self,
        sp_mchid: &str,
        business_code: &str,
    ) -> Result<Option<ApplymentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM applyments WHERE sp_mchid = $1 AND business_code = $2"))
            .bind(sp_mchid)
            .bind(business_code)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn applyment_by_sign_token(&self, token: &str) -> Result<Option<ApplymentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM applyments WHERE sign_token = $1"))
            .bind(token)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Live applications (not rejected or cancelled) other than `except`
    /// with this licence number or bank account digest.
    pub async fn applyment_duplicates(
        &self,
        license_number: &str,
        account_digest: &str,
        except_row: Option<i64>,
    ) -> Result<Vec<ApplymentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM applyments WHERE (license_number = $1 OR account_digest = $2) AND id <> $3 \
             AND state NOT IN ($4, $5)"
        ))
        .bind(license_number)
        .bind(account_digest)
        .bind(except_row.unwrap_or(-1))
        .bind(ApplymentState::Rejected.as_str())
        .bind(ApplymentState::Canceled.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Rejects an application in `from` (the automatic checks or the
    /// operator): writes `audit_detail` and the transition.
    pub async fn reject_applyment(&self, row: i64, audit_detail: &str, t: &Transition<'_>) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE applyments SET state = $1, audit_detail = $2, decided_at = $3 WHERE id = $4 AND state = $5",
        )
        .bind(t.to.as_str())
        .bind(audit_detail)
        .bind(t.now)
        .bind(row)
        .bind(t.from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        record_transition(&mut tx, row, t).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Approves an application: in one transaction the sub-merchant is
    /// created under the provider with its fee rule, bank account and
    /// ledger accounts, and the application records it and moves on.
    pub async fn approve_applyment(
        &self,
        row: i64,
        m: &ApprovedMerchant,
        sign_token: &str,
        sign_code_sealed: &str,
        t: &Transition<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let sp: Option<String> =
            sqlx::query_scalar(&tx.lock("SELECT sp_mchid FROM applyments WHERE id = $1 AND state = $2"))
                .bind(row)
                .bind(t.from.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(sp_mchid) = sp else {
            tx.rollback().await?;
            return Ok(false);
        };
        let n = &m.merchant;
        sqlx::query(
            "INSERT INTO merchants (mchid, name, key_mode, apiv3_key, created_at, fee_rule, bank_account, sp_mchid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&n.mchid)
        .bind(&n.name)
        .bind(n.key_mode.as_str())
        .bind(n.apiv3_key.expose())
        .bind(n.created_at)
        .bind(&m.fee_rule)
        .bind(&m.bank_account)
        .bind(&sp_mchid)
        .execute(&mut *tx)
        .await?;
        insert_merchant_certificate(&mut tx, &n.mchid, &n.certificate).await?;
        for kind in [AccountKind::MerchantPending, AccountKind::MerchantAvailable, AccountKind::MerchantDeposit] {
            sqlx::query(
                "INSERT INTO ledger_accounts (kind, owner, balance_fen) VALUES ($1, $2, 0) ON CONFLICT (kind, owner) DO NOTHING",
            )
            .bind(kind.as_str())
            .bind(&n.mchid)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE applyments SET state = $1, sub_mchid = $2, sign_token = $3, sign_code = $4, decided_at = $5, \
             audit_detail = NULL WHERE id = $6",
        )
        .bind(t.to.as_str())
        .bind(&n.mchid)
        .bind(sign_token)
        .bind(sign_code_sealed)
        .bind(t.now)
        .bind(row)
        .execute(&mut *tx)
        .await?;
        record_transition(&mut tx, row, t).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Moves an application from `t.from` to `t.to` (confirm, sign, finish,
    /// cancel), setting `signed_at`/`finish_at`/`finished_at` as given.
    pub async fn move_applyment(
        &self,
        row: i64,
        t: &Transition<'_>,
        finish_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let signed = t.to == ApplymentState::Signing;
        let finished = t.to == ApplymentState::Finished;
        let n = sqlx::query(
            "UPDATE applyments SET state = $1, signed_at = CASE WHEN $2 = 1 THEN $3 ELSE signed_at END, \
             finish_at = COALESCE($4, finish_at), finished_at = CASE WHEN $5 = 1 THEN $3 ELSE finished_at END \
             WHERE id = $6 AND state = $7",
        )
        .bind(t.to.as_str())
        .bind(i64::from(signed))
        .bind(t.now)
        .bind(finish_at)
        .bind(i64::from(finished))
        .bind(row)
        .bind(t.from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        record_transition(&mut tx, row, t).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Applications in `state` whose `column` time is at or before `t`.
    pub async fn applyments_due(
        &self,
        state: ApplymentState,
        due_column: DueColumn,
        t: i64,
    ) -> Result<Vec<ApplymentRecord>, StoreError> {
        let column = match due_column {
            DueColumn::FinishAt => "finish_at",
            DueColumn::DecidedAt => "decided_at",
        };
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM applyments WHERE state = $1 AND {column} IS NOT NULL AND {column} <= $2 ORDER BY id LIMIT 100"
        ))
        .bind(state.as_str())
        .bind(t)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The audit queue: applications waiting for a decision, fast track
    /// first, then by deadline.
    pub async fn audit_queue(&self) -> Result<Vec<ApplymentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM applyments WHERE state = $1 \
             ORDER BY CASE audit_class WHEN 'fast_track' THEN 0 ELSE 1 END, deadline_at, id"
        ))
        .bind(ApplymentState::Auditing.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every application, newest first (optionally one provider's).
    pub async fn applyments(&self, sp_mchid: Option<&str>, limit: i64) -> Result<Vec<ApplymentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM applyments WHERE ($1 = '' OR sp_mchid = $1) ORDER BY id DESC LIMIT $2"
        ))
        .bind(sp_mchid.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn applyment_events(&self, row: i64) -> Result<Vec<ApplymentLogEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT from_state, to_state, actor, reason, at FROM applyment_events WHERE applyment_row = $1 ORDER BY id",
        )
        .bind(row)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Logs that `actor` revealed a sensitive field.
    pub async fn record_reveal(&self, row: i64, actor: &str, field: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO applyment_reveals (applyment_row, actor, field, at) VALUES ($1, $2, $3, $4)")
            .bind(row)
            .bind(actor)
            .bind(field)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `(actor, field, at)` of every reveal of an application, in order.
    pub async fn reveals(&self, row: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT actor, field, at FROM applyment_reveals WHERE applyment_row = $1 ORDER BY id")
            .bind(row)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Applications submitted since `since`, with the provider's kind, for
    /// the audit-time report.
    pub async fn audit_timings(&self, since: i64) -> Result<Vec<AuditTiming>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT a.audit_class, p.kind AS provider_kind, a.submitted_at, a.decided_at, a.finished_at \
             FROM applyments a JOIN providers p ON p.sp_mchid = a.sp_mchid WHERE a.submitted_at >= $1 ORDER BY a.id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Which time an application is due by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueColumn {
    FinishAt,
    DecidedAt,
}
