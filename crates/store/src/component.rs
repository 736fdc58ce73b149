//! The third-party platform: components, verify tickets, component tokens,
//! pre-auth and auth codes, authorisations and authorizer tokens. The
//! steps of an authorisation are functions over one [`WriteTx`], so the
//! app writes the code's use, the authorisation, the sets taken from other
//! components and the pushes together or not at all.

use crate::{Store, StoreError, WriteTx};

/// A provider's third-party platform.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Component {
    pub component_appid: String,
    pub provider_mchid: String,
    pub secret: String,
    pub token: String,
    pub encoding_aes_key: String,
    /// Where verify tickets and authorisation events go.
    pub event_url: Option<String>,
    pub created_at: i64,
}

const COMPONENT_COLUMNS: &str =
    "component_appid, provider_mchid, secret, token, encoding_aes_key, event_url, created_at";

/// A verify ticket, a component token or an authorizer token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Issued {
    pub value: String,
    pub component_appid: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A pre-auth code or an auth code.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ComponentCode {
    pub code: String,
    /// `pre_auth` or `auth`.
    pub kind: String,
    pub component_appid: String,
    pub authorizer_appid: Option<String>,
    pub redirect_uri: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const CODE_COLUMNS: &str =
    "code, kind, component_appid, authorizer_appid, redirect_uri, created_at, expires_at, used_at";

/// An account's authorisation of a component.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Authorization {
    pub component_appid: String,
    pub authorizer_appid: String,
    /// The granted permission sets, `1,3,15`.
    pub func_ids: String,
    pub refresh_token: String,
    /// The authorizer options, a JSON object.
    pub options: String,
    pub authorized_at: i64,
    pub updated_at: i64,
    pub revoked_at: Option<i64>,
}

const AUTH_COLUMNS: &str = "component_appid, authorizer_appid, func_ids, refresh_token, options, authorized_at, \
    updated_at, revoked_at";

/// An authorizer access token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthorizerToken {
    pub token: String,
    pub component_appid: String,
    pub authorizer_appid: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub superseded_at: Option<i64>,
}

const AUTHORIZER_TOKEN_COLUMNS: &str = "token, component_appid, authorizer_appid, issued_at, expires_at, superseded_at";

impl Store {
    pub async fn create_component(&self, c: &Component) -> Result<(), StoreError> {
        sqlx::query(&format!("INSERT INTO components ({COMPONENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&c.component_appid)
            .bind(&c.provider_mchid)
            .bind(&c.secret)
            .bind(&c.token)
            .bind(&c.encoding_aes_key)
            .bind(&c.event_url)
            .bind(c.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn component(&self, component_appid: &str) -> Result<Option<Component>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE component_appid = $1"))
            .bind(component_appid)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn component_of_provider(&self, provider_mchid: &str) -> Result<Option<Component>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE provider_mchid = $1"))
            .bind(provider_mchid)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Every component with an event URL (the ticket pushes go to those).
    pub async fn components_with_event_url(&self) -> Result<Vec<Component>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components WHERE event_url IS NOT NULL AND event_url <> '' ORDER BY component_appid"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn set_component_event_url(&self, component_appid: &str, url: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE components SET event_url = $1 WHERE component_appid = $2")
            .bind(url)
            .bind(component_appid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest verify ticket of a component.
    pub async fn latest_ticket(&self, component_appid: &str) -> Result<Option<Issued>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT ticket AS value, component_appid, issued_at, expires_at FROM component_tickets \
             WHERE component_appid = $1 ORDER BY issued_at DESC, ticket LIMIT 1",
        )
        .bind(component_appid)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn ticket(&self, ticket: &str) -> Result<Option<Issued>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT ticket AS value, component_appid, issued_at, expires_at FROM component_tickets WHERE ticket = $1",
        )
        .bind(ticket)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn create_component_token(&self, t: &Issued) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO component_tokens (token, component_appid, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&t.value)
        .bind(&t.component_appid)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn component_token(&self, token: &str) -> Result<Option<Issued>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token AS value, component_appid, issued_at, expires_at FROM component_tokens WHERE token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn create_component_code(&self, c: &ComponentCode) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        create_code(&mut tx, c).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn component_code(&self, code: &str) -> Result<Option<ComponentCode>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {CODE_COLUMNS} FROM component_codes WHERE code = $1"))
            .bind(code)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Records where the authorisation page was asked to send the owner
    /// back (the page's `redirect_uri`).
    pub async fn set_pre_auth_redirect(&self, code: &str, redirect_uri: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE component_codes SET redirect_uri = $1 WHERE code = $2 AND kind = 'pre_auth' AND used_at IS NULL",
        )
        .bind(redirect_uri)
        .bind(code)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn authorization(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE component_appid = $1 AND authorizer_appid = $2"
        ))
        .bind(component_appid)
        .bind(authorizer_appid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The live authorisations of a component, oldest first, a page of them,
    /// and how many there are.
    pub async fn authorizations_of_component(
        &self,
        component_appid: &str,
        offset: i64,
        count: i64,
    ) -> Result<(Vec<Authorization>, i64), StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE component_appid = $1 AND revoked_at IS NULL \
             ORDER BY authorized_at, authorizer_appid LIMIT $2 OFFSET $3"
        ))
        .bind(component_appid)
        .bind(count)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total =
            sqlx::query_scalar("SELECT COUNT(*) FROM authorizations WHERE component_appid = $1 AND revoked_at IS NULL")
                .bind(component_appid)
                .fetch_one(&self.pool)
                .await?;
        Ok((rows, total))
    }

    /// Every authorisation of an account (live or revoked), by component.
    pub async fn authorizations_of_account(&self, authorizer_appid: &str) -> Result<Vec<Authorization>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE authorizer_appid = $1 ORDER BY component_appid"
        ))
        .bind(authorizer_appid)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn authorization_by_refresh(&self, refresh_token: &str) -> Result<Option<Authorization>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {AUTH_COLUMNS} FROM authorizations WHERE refresh_token = $1"))
            .bind(refresh_token)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_authorization_options(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        options: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE authorizations SET options = $1 WHERE component_appid = $2 AND authorizer_appid = $3")
            .bind(options)
            .bind(component_appid)
            .bind(authorizer_appid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Issues an authorizer token; the pair's earlier tokens are marked
    /// superseded at its issue time (usable for the overlap).
    pub async fn issue_authorizer_token(&self, t: &AuthorizerToken) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE authorizer_tokens SET superseded_at = $1 WHERE component_appid = $2 AND authorizer_appid = $3 \
             AND superseded_at IS NULL",
        )
        .bind(t.issued_at)
        .bind(&t.component_appid)
        .bind(&t.authorizer_appid)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO authorizer_tokens ({AUTHORIZER_TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL)"
        ))
        .bind(&t.token)
        .bind(&t.component_appid)
        .bind(&t.authorizer_appid)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn authorizer_token(&self, token: &str) -> Result<Option<AuthorizerToken>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {AUTHORIZER_TOKEN_COLUMNS} FROM authorizer_tokens WHERE token = $1"))
            .bind(token)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The newest unsuperseded authorizer token of a pair.
    pub async fn current_authorizer_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<AuthorizerToken>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AUTHORIZER_TOKEN_COLUMNS} FROM authorizer_tokens WHERE component_appid = $1 AND authorizer_appid = $2 \
             AND superseded_at IS NULL ORDER BY issued_at DESC LIMIT 1"
        ))
        .bind(component_appid)
        .bind(authorizer_appid)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// Records a verify ticket.
pub async fn create_ticket(tx: &mut WriteTx, t: &Issued) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO component_tickets (ticket, component_appid, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&t.value)
    .bind(&t.component_appid)
    .bind(t.issued_at)
    .bind(t.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn create_code(tx: &mut WriteTx, c: &ComponentCode) -> Result<(), StoreError> {
    sqlx::query(&format!("INSERT INTO component_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
        .bind(&c.code)
        .bind(&c.kind)
        .bind(&c.component_appid)
        .bind(&c.authorizer_appid)
        .bind(&c.redirect_uri)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.used_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Locks a code and returns it as it is (the caller decides whether it may
/// be used and marks it with [`mark_code_used`]).
pub async fn lock_code(tx: &mut WriteTx, code: &str) -> Result<Option<ComponentCode>, StoreError> {
    let sql = tx.lock(&format!("SELECT {CODE_COLUMNS} FROM component_codes WHERE code = $1"));
    Ok(sqlx::query_as(&sql).bind(code).fetch_optional(&mut **tx).await?)
}

pub async fn mark_code_used(tx: &mut WriteTx, code: &str, authorizer_appid: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE component_codes SET used_at = $1, authorizer_appid = $2 WHERE code = $3")
        .bind(now)
        .bind(authorizer_appid)
        .bind(code)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The live authorisations of an account, locked (to see who holds an
/// exclusive set while granting).
pub async fn lock_account_authorizations(
    tx: &mut WriteTx,
    authorizer_appid: &str,
) -> Result<Vec<Authorization>, StoreError> {
    let sql = tx.lock(&format!(
        "SELECT {AUTH_COLUMNS} FROM authorizations WHERE authorizer_appid = $1 AND revoked_at IS NULL ORDER BY component_appid"
    ));
    Ok(sqlx::query_as(&sql).bind(authorizer_appid).fetch_all(&mut **tx).await?)
}

/// Writes an authorisation (new, or again after a revocation or with other
/// sets): a new refresh token replaces the old one.
pub async fn upsert_authorization(tx: &mut WriteTx, a: &Authorization) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO authorizations ({AUTH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) \
         ON CONFLICT (component_appid, authorizer_appid) DO UPDATE SET func_ids = excluded.func_ids, \
         refresh_token = excluded.refresh_token, authorized_at = CASE WHEN authorizations.revoked_at IS NULL \
         THEN authorizations.authorized_at ELSE excluded.authorized_at END, updated_at = excluded.updated_at, revoked_at = NULL"
    ))
    .bind(&a.component_appid)
    .bind(&a.authorizer_appid)
    .bind(&a.func_ids)
    .bind(&a.refresh_token)
    .bind(&a.options)
    .bind(a.authorized_at)
    .bind(a.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Changes the sets of a live authorisation (an exclusive set taken away).
pub async fn set_authorization_sets(
    tx: &mut WriteTx,
    component_appid: &str,
    authorizer_appid: &str,
    func_ids: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE authorizations SET func_ids = $1, updated_at = $2 WHERE component_appid = $3 AND authorizer_appid = $4",
    )
    .bind(func_ids)
    .bind(now)
    .bind(component_appid)
    .bind(authorizer_appid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends an authorisation: its refresh token and authorizer tokens die.
pub async fn revoke_authorization(
    tx: &mut WriteTx,
    component_appid: &str,
    authorizer_appid: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE authorizations SET revoked_at = $1, updated_at = $1 WHERE component_appid = $2 AND authorizer_appid = $3 \
         AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(component_appid)
    .bind(authorizer_appid)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE authorizer_tokens SET expires_at = $1 WHERE component_appid = $2 AND authorizer_appid = $3 AND expires_at > $1",
    )
    .bind(now)
    .bind(component_appid)
    .bind(authorizer_appid)
    .execute(&mut **tx)
    .await?;
    Ok(done > 0)
}

impl Store {
    /// Every live authorisation (the operator's overview).
    pub async fn live_authorizations(&self) -> Result<Vec<Authorization>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE revoked_at IS NULL ORDER BY component_appid, authorizer_appid"
        ))
        .fetch_all(&self.pool)
        .await?)
    }
}
