//! Official accounts: the account settings, access tokens, daily quotas and
//! custom menus.

use crate::{Store, StoreError};

/// An official account (an app with its mp settings).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MpAccount {
    pub appid: String,
    pub owner_mchid: String,
    /// `gh_…`.
    pub original_id: String,
    pub name: String,
    pub secret: String,
    /// The Token of the developer's server settings (signatures).
    pub token: String,
    pub encoding_aes_key: String,
    pub server_url: Option<String>,
    pub message_mode: String,
    /// Comma-separated addresses; empty allows every caller.
    pub ip_allowlist: String,
    pub next_menuid: i64,
    pub created_at: i64,
    /// `service` or `subscription`.
    pub service_type: String,
    #[sqlx(try_from = "i64")]
    pub verified: crate::Flag,
}

pub(crate) const ACCOUNT_COLUMNS: &str =
    "appid, owner_mchid, original_id, name, secret, token, encoding_aes_key, server_url, \
    message_mode, ip_allowlist, next_menuid, created_at, service_type, verified";

/// An access token as issued.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MpToken {
    pub token: String,
    pub appid: String,
    pub pool: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub superseded_at: Option<i64>,
}

/// A stored menu.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MpMenu {
    pub menuid: i64,
    #[sqlx(try_from = "i64")]
    pub conditional: crate::Flag,
    /// The buttons, as JSON.
    pub buttons: String,
    pub matchrule: Option<String>,
    pub created_at: i64,
}

impl Store {
    pub async fn create_mp_account(&self, a: &MpAccount) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO mp_accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&a.appid)
        .bind(&a.owner_mchid)
        .bind(&a.original_id)
        .bind(&a.name)
        .bind(&a.secret)
        .bind(&a.token)
        .bind(&a.encoding_aes_key)
        .bind(&a.server_url)
        .bind(&a.message_mode)
        .bind(&a.ip_allowlist)
        .bind(a.next_menuid)
        .bind(a.created_at)
        .bind(&a.service_type)
        .bind(i64::from(a.verified.0))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mp_account(&self, appid: &str) -> Result<Option<MpAccount>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {ACCOUNT_COLUMNS} FROM mp_accounts WHERE appid = $1"))
            .bind(appid)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn mp_accounts_of(&self, owner_mchid: &str) -> Result<Vec<MpAccount>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {ACCOUNT_COLUMNS} FROM mp_accounts WHERE owner_mchid = $1 ORDER BY appid"))
            .bind(owner_mchid)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Sets the developer's server (URL and message mode).
    pub async fn set_mp_server(&self, appid: &str, url: Option<&str>, mode: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE mp_accounts SET server_url = $1, message_mode = $2 WHERE appid = $3")
            .bind(url)
            .bind(mode)
            .bind(appid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_mp_ip_allowlist(&self, appid: &str, list: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE mp_accounts SET ip_allowlist = $1 WHERE appid = $2")
            .bind(list)
            .bind(appid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Issues a token in `pool`; the previous tokens of the pool are marked
    /// superseded at `now` (they stay usable for the overlap).
    pub async fn issue_mp_token(&self, t: &MpToken) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE mp_tokens SET superseded_at = $1 WHERE appid = $2 AND pool = $3 AND superseded_at IS NULL")
            .bind(t.issued_at)
            .bind(&t.appid)
            .bind(&t.pool)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO mp_tokens (token, appid, pool, issued_at, expires_at, superseded_at) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&t.token)
        .bind(&t.appid)
        .bind(&t.pool)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest unsuperseded token of a pool.
    pub async fn current_mp_token(&self, appid: &str, pool: &str) -> Result<Option<MpToken>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token, appid, pool, issued_at, expires_at, superseded_at FROM mp_tokens \
             WHERE appid = $1 AND pool = $2 AND superseded_at IS NULL ORDER BY issued_at DESC LIMIT 1",
        )
        .bind(appid)
        .bind(pool)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn mp_token(&self, token: &str) -> Result<Option<MpToken>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token, appid, pool, issued_at, expires_at, superseded_at FROM mp_tokens WHERE token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Counts one call of `api` on `day`; returns the day's count with it.
    pub async fn count_mp_call(&self, appid: &str, api: &str, day: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO mp_quota (appid, api, day, calls) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (appid, api, day) DO UPDATE SET calls = mp_quota.calls + 1 RETURNING calls",
        )
        .bind(appid)
        .bind(api)
        .bind(day)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Replaces the default menu (and drops the conditional ones, as a new
    /// default menu does); returns its menuid.
    pub async fn set_default_menu(&self, appid: &str, buttons: &str, now: i64) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let menuid = next_menuid(&mut tx, appid).await?;
        sqlx::query("DELETE FROM mp_menus WHERE appid = $1").bind(appid).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO mp_menus (appid, menuid, conditional, buttons, matchrule, created_at) VALUES ($1, $2, 0, $3, NULL, $4)")
            .bind(appid)
            .bind(menuid)
            .bind(buttons)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(menuid)
    }

    /// Adds a conditional menu if a default menu exists and the cap allows:
    /// `Ok(None)` when there is no default menu, `Err(Conflict)` at the cap.
    pub async fn add_conditional_menu(
        &self,
        appid: &str,
        buttons: &str,
        matchrule: &str,
        limit: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let (defaults, conditionals): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(1 - conditional), 0) AS BIGINT), CAST(COALESCE(SUM(conditional), 0) AS BIGINT) \
             FROM mp_menus WHERE appid = $1",
        )
        .bind(appid)
        .fetch_one(&mut *tx)
        .await?;
        if defaults == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        if conditionals >= limit {
            tx.rollback().await?;
            return Err(StoreError::Conflict("conditional menu cap".into()));
        }
        let menuid = next_menuid(&mut tx, appid).await?;
        sqlx::query("INSERT INTO mp_menus (appid, menuid, conditional, buttons, matchrule, created_at) VALUES ($1, $2, 1, $3, $4, $5)")
            .bind(appid)
            .bind(menuid)
            .bind(buttons)
            .bind(matchrule)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(menuid))
    }

    /// The account's menus: the default first, then conditional ones newest first.
    pub async fn mp_menus(&self, appid: &str) -> Result<Vec<MpMenu>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT menuid, conditional, buttons, matchrule, created_at FROM mp_menus WHERE appid = $1 \
             ORDER BY conditional, id DESC",
        )
        .bind(appid)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes every menu of the account.
    pub async fn delete_menus(&self, appid: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM mp_menus WHERE appid = $1").bind(appid).execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes one conditional menu; whether it existed.
    pub async fn delete_conditional_menu(&self, appid: &str, menuid: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM mp_menus WHERE appid = $1 AND menuid = $2 AND conditional = 1")
            .bind(appid)
            .bind(menuid)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }
}

async fn next_menuid(tx: &mut crate::WriteTx, appid: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE mp_accounts SET next_menuid = next_menuid + 1 WHERE appid = $1 RETURNING next_menuid",
    )
    .bind(appid)
    .fetch_one(&mut **tx)
    .await?)
}

/// A web OAuth code, as issued.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OauthCode {
    pub code: String,
    pub appid: String,
    pub openid: String,
    pub scope: String,
    pub created_at: i64,
    pub used_at: Option<i64>,
    /// The third-party platform that asked on the account's behalf.
    pub component_appid: Option<String>,
}

/// A user-level OAuth token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserToken {
    pub access_token: String,
    pub refresh_token: String,
    pub appid: String,
    pub openid: String,
    pub scope: String,
    pub expires_at: i64,
    pub refresh_expires_at: i64,
    /// The third-party platform the token was issued to.
    pub component_appid: Option<String>,
}

const USER_TOKEN_COLUMNS: &str =
    "access_token, refresh_token, appid, openid, scope, expires_at, refresh_expires_at, component_appid";

impl Store {
    pub async fn create_oauth_code(&self, c: &OauthCode) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO mp_oauth_codes (code, appid, openid, scope, created_at, used_at, component_appid) VALUES ($1, $2, $3, $4, $5, NULL, $6)")
            .bind(&c.code)
            .bind(&c.appid)
            .bind(&c.openid)
            .bind(&c.scope)
            .bind(c.created_at)
            .bind(&c.component_appid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uses a code once: returns it as it was before this use (so the
    /// caller can tell "used before" from "expired"), or `None` if unknown.
    pub async fn use_oauth_code(&self, code: &str, now: i64) -> Result<Option<OauthCode>, StoreError> {
        let mut tx = self.write().await?;
        let found: Option<OauthCode> = sqlx::query_as(
            &tx.lock("SELECT code, appid, openid, scope, created_at, used_at, component_appid FROM mp_oauth_codes WHERE code = $1"),
        )
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?;
        if found.as_ref().is_some_and(|c| c.used_at.is_none()) {
            sqlx::query("UPDATE mp_oauth_codes SET used_at = $1 WHERE code = $2")
                .bind(now)
                .bind(code)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    pub async fn create_user_token(&self, t: &UserToken) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO mp_user_tokens ({USER_TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&t.access_token)
        .bind(&t.refresh_token)
        .bind(&t.appid)
        .bind(&t.openid)
        .bind(&t.scope)
        .bind(t.expires_at)
        .bind(t.refresh_expires_at)
        .bind(&t.component_appid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn user_token(&self, access_token: &str) -> Result<Option<UserToken>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {USER_TOKEN_COLUMNS} FROM mp_user_tokens WHERE access_token = $1"))
            .bind(access_token)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The newest token issued under a refresh token.
    pub async fn user_token_by_refresh(&self, refresh_token: &str) -> Result<Option<UserToken>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_TOKEN_COLUMNS} FROM mp_user_tokens WHERE refresh_token = $1 ORDER BY expires_at DESC LIMIT 1"
        ))
        .bind(refresh_token)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// One line of a consumer's chat with an account, with the reply.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChatLine {
    pub summary: String,
    pub created_at: i64,
    pub reply: Option<String>,
    pub status: Option<String>,
}

impl Store {
    pub async fn set_following(&self, appid: &str, openid: &str, following: bool, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mp_followers (appid, openid, following, changed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appid, openid) DO UPDATE SET following = $3, changed_at = $4",
        )
        .bind(appid)
        .bind(openid)
        .bind(i64::from(following))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn is_following(&self, appid: &str, openid: &str) -> Result<bool, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT following FROM mp_followers WHERE appid = $1 AND openid = $2")
            .bind(appid)
            .bind(openid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(v == Some(1))
    }

    pub async fn add_chat_line(
        &self,
        appid: &str,
        openid: &str,
        summary: &str,
        notification_id: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mp_messages (appid, openid, summary, notification_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(appid)
        .bind(openid)
        .bind(summary)
        .bind(notification_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest lines of a consumer's chat with an account, oldest first.
    pub async fn chat(&self, appid: &str, openid: &str, limit: i64) -> Result<Vec<ChatLine>, StoreError> {
        let mut lines: Vec<ChatLine> = sqlx::query_as(
            "SELECT m.summary, m.created_at, n.reply, n.status FROM mp_messages m \
             LEFT JOIN notifications n ON n.id = m.notification_id \
             WHERE m.appid = $1 AND m.openid = $2 ORDER BY m.id DESC LIMIT $3",
        )
        .bind(appid)
        .bind(openid)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        lines.reverse();
        Ok(lines)
    }
}

/// A parametric QR code.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QrCode {
    pub ticket: String,
    pub appid: String,
    pub action_name: String,
    /// The scene id (as text) or scene string.
    pub scene: String,
    #[sqlx(try_from = "i64")]
    pub permanent: crate::Flag,
    pub url: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

const QR_COLUMNS: &str = "ticket, appid, action_name, scene, permanent, url, expires_at, created_at";

impl Store {
    /// Records a code; a permanent code of a scene the account already has
    /// is not made again: the existing one is returned.
    pub async fn create_qrcode(&self, q: &QrCode) -> Result<QrCode, StoreError> {
        let made: Option<QrCode> = sqlx::query_as(&format!(
            "INSERT INTO mp_qrcodes ({QR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING {QR_COLUMNS}"
        ))
        .bind(&q.ticket)
        .bind(&q.appid)
        .bind(&q.action_name)
        .bind(&q.scene)
        .bind(i64::from(q.permanent.0))
        .bind(&q.url)
        .bind(q.expires_at)
        .bind(q.created_at)
        .fetch_optional(&self.pool)
        .await?;
        match made {
            Some(m) => Ok(m),
            None => Ok(sqlx::query_as(&format!(
                "SELECT {QR_COLUMNS} FROM mp_qrcodes WHERE appid = $1 AND action_name = $2 AND scene = $3 AND permanent = 1"
            ))
            .bind(&q.appid)
            .bind(&q.action_name)
            .bind(&q.scene)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?),
        }
    }

    pub async fn qrcode(&self, ticket: &str) -> Result<Option<QrCode>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {QR_COLUMNS} FROM mp_qrcodes WHERE ticket = $1"))
            .bind(ticket)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn permanent_qrcodes(&self, appid: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM mp_qrcodes WHERE appid = $1 AND permanent = 1")
            .bind(appid)
            .fetch_one(&self.pool)
            .await?)
    }
}
