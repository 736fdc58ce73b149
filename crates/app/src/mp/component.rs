//! The third-party platform (protocol notes `wechat-mp.md` §6): a provider's
//! component receives a verify ticket every ten minutes of business time,
//! trades it for a component token, asks for a pre-auth code, sends an
//! account owner to the authorisation page, and with the auth code gets
//! authorizer tokens for the account. What an owner may grant is limited by
//! the operator privileges the provider holds (`data/component.json`); what
//! an authorizer token may call is limited by the sets the owner granted.
//!
//! This module owns the component's records (components, verify tickets
//! and their pushes, component and authorizer tokens, pre-auth and auth
//! codes, authorisations and their options), the component API's use cases
//! — each takes a typed request and answers a record or its own refusal
//! enum (`ComponentTokenError`, `StartPushError`, `ComponentAuthError`,
//! `QueryAuthError`, `AuthorizerTokenError`, `AuthorizerInfoError`,
//! `AuthorizerListError`, `OptionError`, `PreAuthCodeError`) —
//! the owner's consent ([`offer`], [`consent`]) and revocation, the event
//! URL, and the two checks other use cases ask of it: [`check_api`] (may an
//! authorizer token call an API) and [`oauth_allowed`] (may a component run
//! web OAuth for an account). Errcodes are the surface's business.

use std::collections::BTreeSet;

use koudai_domain::component::{self as rules, SetRefusal};
use koudai_domain::ids;
use koudai_domain::schedule::Channel;
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::component as tx_ops;
use koudai_store::{
    Authorization, AuthorizerToken, Component, ComponentCode, Issued, MpAccount, NewNotification, Store, StoreError,
    WriteTx,
};

use super::server::ServerError;
use super::Quota;
use crate::runtime::outbound::with_query;
use crate::{App, Internal, Rng};

/// Whether a value has only the characters our ids, tokens and codes have.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-@".contains(&b))
}

/// Gives a provider a component with a fresh appid, secret, Token and
/// EncodingAESKey.
pub async fn create_component(
    store: &Store,
    rng: &Rng,
    provider_mchid: &str,
    event_url: Option<&str>,
    now: i64,
) -> Result<Component, StoreError> {
    let c = Component {
        component_appid: format!("wx{}", ids::upper_hex(&rng.bytes::<8>()).to_ascii_lowercase()),
        provider_mchid: provider_mchid.to_owned(),
        secret: ids::upper_hex(&rng.bytes::<16>()).to_ascii_lowercase(),
        token: rng.token(32),
        encoding_aes_key: rng.token(43),
        event_url: event_url.map(str::to_owned),
        created_at: now,
    };
    store.create_component(&c).await?;
    Ok(c)
}

fn event(c: &Component, now: i64, info_type: &str, extra: &[(&str, String)]) -> String {
    let mut fields = vec![
        Field::Text("AppId", &c.component_appid),
        Field::Number("CreateTime", now),
        Field::Text("InfoType", info_type),
    ];
    for (k, v) in extra {
        fields.push(Field::Text(k, v));
    }
    mp_xml::build(&fields)
}

/// Queues an event for the component's event URL (nothing if it has none);
/// returns the push's id.
async fn enqueue_event(
    app: &App,
    tx: &mut koudai_store::WriteTx,
    c: &Component,
    kind: &str,
    reference: &str,
    xml: String,
) -> Result<Option<i64>, StoreError> {
    let Some(url) = c.event_url.clone().filter(|u| !u.is_empty()) else { return Ok(None) };
    let now = app.clock.business_now().unix();
    let n = NewNotification {
        event_id: ids::uuid_v4(&app.rng.bytes()),
        mchid: c.provider_mchid.clone(),
        reference: reference.to_owned(),
        event_type: format!("component.{kind}"),
        notify_url: url,
        body: xml,
        next_attempt_at: now,
        created_at: now,
        channel: Channel::Component,
        key: Some(c.component_appid.clone()),
    };
    Ok(Some(koudai_store::notifications::enqueue(tx, &n).await?))
}

/// Issues a verify ticket and queues its push; returns the ticket and the
/// push's id (none without an event URL).
pub async fn push_ticket(app: &App, c: &Component) -> Result<(String, Option<i64>), Internal> {
    let pushed = issue_ticket(app, c).await?;
    app.wake.delivery();
    Ok(pushed)
}

async fn issue_ticket(app: &App, c: &Component) -> Result<(String, Option<i64>), Internal> {
    let now = app.clock.business_now().unix();
    let ticket = format!("ticket@@@{}", app.rng.token(64));
    let mut tx = app.store.write().await?;
    tx_ops::create_ticket(
        &mut tx,
        &Issued {
            value: ticket.clone(),
            component_appid: c.component_appid.clone(),
            issued_at: now,
            expires_at: now + rules::rules().ticket_lifetime_s,
        },
    )
    .await?;
    let xml = event(c, now, "component_verify_ticket", &[("ComponentVerifyTicket", ticket.clone())]);
    let id = enqueue_event(app, &mut tx, c, "verify_ticket", &ticket, xml).await?;
    tx.commit().await?;
    Ok((ticket, id))
}

/// [`push_ticket`], then the push sent at once: the ticket, and whether the
/// event URL took it (`None` without one).
pub async fn push_ticket_now(app: &App, c: &Component) -> Result<(String, Option<bool>), Internal> {
    let (ticket, id) = issue_ticket(app, c).await?;
    let Some(id) = id else { return Ok((ticket, None)) };
    let n = crate::outbox::send_now(app, id).await?;
    Ok((ticket, Some(n.status == koudai_store::NotificationStatus::Delivered)))
}

/// The periodic ticket push: every component with an event URL whose
/// newest ticket is at least the interval old (business time) gets a new
/// one. Returns how many were pushed.
pub async fn push_due_tickets(app: &App) -> Result<usize, Internal> {
    let now = app.clock.business_now().unix();
    let mut pushed = 0;
    for c in app.store.components_with_event_url().await? {
        let due = match app.store.latest_ticket(&c.component_appid).await? {
            Some(t) => t.issued_at + rules::rules().ticket_interval_s <= now,
            None => true,
        };
        if due {
            push_ticket(app, &c).await?;
            pushed += 1;
        }
    }
    Ok(pushed)
}

/// `StoreError` is our failure in each of these enums.
macro_rules! store_is_internal {
    ($($t:ty),* $(,)?) => {$(
        impl From<StoreError> for $t {
            fn from(e: StoreError) -> Self {
                Self::Internal(e.into())
            }
        }
    )*};
}

/// A used-up daily quota is the enum's `Quota`.
macro_rules! quota_is_refusal {
    ($($t:ty),* $(,)?) => {$(
        impl From<Quota> for $t {
            fn from(e: Quota) -> Self {
                match e {
                    Quota::Exceeded => Self::Quota,
                    Quota::Internal(e) => Self::Internal(e),
                }
            }
        }
    )*};
}

store_is_internal!(
    ComponentTokenError,
    StartPushError,
    ComponentAuthError,
    PreAuthCodeError,
    QueryAuthError,
    AuthorizerTokenError,
    AuthorizerInfoError,
    AuthorizerListError,
    OptionError,
    OauthAllowedError,
);
quota_is_refusal!(
    ComponentTokenError,
    PreAuthCodeError,
    QueryAuthError,
    AuthorizerTokenError,
    AuthorizerInfoError,
    AuthorizerListError,
);

/// Why a component's appid and secret were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialRefusal {
    #[error("component_appid missing")]
    AppidMissing,
    /// Not a component's appid (or not even shaped like one).
    #[error("no such component")]
    UnknownComponent,
    #[error("the component's secret missing")]
    SecretMissing,
    #[error("the secret is not the component's")]
    WrongSecret,
}

/// The component `appid` names, if `secret` is its secret.
async fn with_secret<E>(app: &App, appid: &str, secret: &str) -> Result<Component, E>
where
    E: From<CredentialRefusal> + From<StoreError>,
{
    if appid.is_empty() {
        return Err(CredentialRefusal::AppidMissing.into());
    }
    let c = if plain(appid) { app.store.component(appid).await? } else { None };
    let c = c.ok_or(CredentialRefusal::UnknownComponent)?;
    if secret.is_empty() {
        return Err(CredentialRefusal::SecretMissing.into());
    }
    use subtle::ConstantTimeEq as _;
    if !bool::from(c.secret.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(CredentialRefusal::WrongSecret.into());
    }
    Ok(c)
}

/// `api_component_token`'s request (an absent field is empty).
#[derive(Debug, Clone, Default)]
pub struct ComponentTokenRequest {
    pub component_appid: String,
    pub component_appsecret: String,
    pub component_verify_ticket: String,
}

/// A component token, issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentAccessToken {
    pub component_access_token: String,
    pub expires_in: i64,
}

/// Why a component token was not issued.
#[derive(Debug, thiserror::Error)]
pub enum ComponentTokenError {
    #[error(transparent)]
    Credentials(#[from] CredentialRefusal),
    #[error("the component's daily quota is used up")]
    Quota,
    /// Not a verify ticket of the component.
    #[error("the verify ticket is not the component's")]
    TicketInvalid,
    #[error("the verify ticket has expired")]
    TicketExpired,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `api_component_token`: a component token for a valid verify ticket.
pub async fn component_token(
    app: &App,
    r: &ComponentTokenRequest,
) -> Result<ComponentAccessToken, ComponentTokenError> {
    let c: Component = with_secret::<ComponentTokenError>(app, &r.component_appid, &r.component_appsecret).await?;
    crate::mp::count_call(app, &c.component_appid, "api_component_token").await?;
    let ticket = &r.component_verify_ticket;
    let found = if plain(ticket) { app.store.ticket(ticket).await? } else { None };
    let found = found.filter(|t| t.component_appid == c.component_appid).ok_or(ComponentTokenError::TicketInvalid)?;
    let now = app.clock.business_now().unix();
    if found.expires_at <= now {
        return Err(ComponentTokenError::TicketExpired);
    }
    let lifetime = rules::rules().component_token_lifetime_s;
    let token = Issued {
        value: format!("component_{}", app.rng.token(96)),
        component_appid: c.component_appid.clone(),
        issued_at: now,
        expires_at: now + lifetime,
    };
    app.store.create_component_token(&token).await?;
    Ok(ComponentAccessToken { component_access_token: token.value, expires_in: lifetime })
}

/// Why a `component_access_token` was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("component_access_token missing")]
    Missing,
    /// Unknown (or not even shaped like a token).
    #[error("the component_access_token is not one")]
    Invalid,
    #[error("the component_access_token has expired")]
    Expired,
    /// The call names another component than the token's.
    #[error("the call names another component than the token's")]
    OtherComponent,
}

/// Why a call with a `component_access_token` was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum ComponentAuthError {
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The component behind a `component_access_token`; `component_appid`, the
/// component the call names (empty: none), must be it.
pub async fn authenticate(app: &App, token: &str, component_appid: &str) -> Result<Component, ComponentAuthError> {
    if token.is_empty() {
        return Err(TokenRefusal::Missing.into());
    }
    let found = if plain(token) { app.store.component_token(token).await? } else { None };
    let t = found.ok_or(TokenRefusal::Invalid)?;
    if t.expires_at <= app.clock.business_now().unix() {
        return Err(TokenRefusal::Expired.into());
    }
    if !component_appid.is_empty() && component_appid != t.component_appid {
        return Err(TokenRefusal::OtherComponent.into());
    }
    Ok(app.store.component(&t.component_appid).await?.ok_or_else(|| Internal::bug("a token of no component"))?)
}

/// `api_start_push_ticket`'s request (an absent field is empty).
#[derive(Debug, Clone, Default)]
pub struct StartPushTicketRequest {
    pub component_appid: String,
    pub component_secret: String,
}

/// Why a ticket push was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartPushError {
    #[error(transparent)]
    Credentials(#[from] CredentialRefusal),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `api_start_push_ticket`: a ticket push now (the request names the
/// component and its secret; no token).
pub async fn start_push_ticket(app: &App, r: &StartPushTicketRequest) -> Result<(), StartPushError> {
    let c: Component = with_secret::<StartPushError>(app, &r.component_appid, &r.component_secret).await?;
    push_ticket(app, &c).await?;
    Ok(())
}

/// A pre-auth code, made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreAuthCode {
    pub pre_auth_code: String,
    pub expires_in: i64,
}

/// Why a pre-auth code was not made.
#[derive(Debug, thiserror::Error)]
pub enum PreAuthCodeError {
    #[error("the component's daily quota is used up")]
    Quota,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `api_create_preauthcode`.
pub async fn create_pre_auth_code(app: &App, c: &Component) -> Result<PreAuthCode, PreAuthCodeError> {
    crate::mp::count_call(app, &c.component_appid, "api_create_preauthcode").await?;
    let now = app.clock.business_now().unix();
    let lifetime = rules::rules().pre_auth_code_lifetime_s;
    let code = format!("preauthcode@@@{}", app.rng.token(64));
    app.store
        .create_component_code(&ComponentCode {
            code: code.clone(),
            kind: "pre_auth".into(),
            component_appid: c.component_appid.clone(),
            authorizer_appid: None,
            redirect_uri: None,
            created_at: now,
            expires_at: now + lifetime,
            used_at: None,
        })
        .await?;
    Ok(PreAuthCode { pre_auth_code: code, expires_in: lifetime })
}

/// A permission set an authorisation grants (`func_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantedSet {
    pub id: i64,
    /// Held by one third party at a time for an account.
    pub exclusive: bool,
}

fn granted_sets(a: &Authorization) -> Vec<GrantedSet> {
    rules::parse_sets(&a.func_ids)
        .into_iter()
        .map(|id| GrantedSet { id, exclusive: rules::set(id).is_some_and(|s| s.exclusive) })
        .collect()
}

/// The current authorizer token of a pair if it has more than the overlap
/// left, else a new one.
async fn current_or_new_token(app: &App, a: &Authorization) -> Result<AuthorizerToken, Internal> {
    let now = app.clock.business_now().unix();
    let current = app.store.current_authorizer_token(&a.component_appid, &a.authorizer_appid).await?;
    match current {
        Some(t) if t.expires_at - now > koudai_domain::mp::rules().token_overlap_s => Ok(t),
        _ => new_authorizer_token(app, a).await,
    }
}

async fn new_authorizer_token(app: &App, a: &Authorization) -> Result<AuthorizerToken, Internal> {
    let now = app.clock.business_now().unix();
    let t = AuthorizerToken {
        token: format!("authorizer_{}", app.rng.token(96)),
        component_appid: a.component_appid.clone(),
        authorizer_appid: a.authorizer_appid.clone(),
        issued_at: now,
        expires_at: now + rules::rules().authorizer_token_lifetime_s,
        superseded_at: None,
    };
    app.store.issue_authorizer_token(&t).await?;
    Ok(t)
}

/// Why the account a call names has no live authorisation of the component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationRefusal {
    #[error("authorizer_appid missing")]
    AppidMissing,
    /// The account never authorised the component, or revoked it.
    #[error("the account has not authorised the component")]
    NotAuthorized,
}

/// The live authorisation of `authorizer_appid` for `c`.
async fn live_authorization<E>(app: &App, c: &Component, authorizer_appid: &str) -> Result<Authorization, E>
where
    E: From<AuthorizationRefusal> + From<StoreError>,
{
    if authorizer_appid.is_empty() {
        return Err(AuthorizationRefusal::AppidMissing.into());
    }
    let a = if plain(authorizer_appid) {
        app.store.authorization(&c.component_appid, authorizer_appid).await?
    } else {
        None
    };
    Ok(a.filter(|a| a.revoked_at.is_none()).ok_or(AuthorizationRefusal::NotAuthorized)?)
}

/// What an auth code stands for: the authorisation, with an authorizer
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueriedAuthorization {
    pub authorizer_appid: String,
    pub authorizer_access_token: String,
    pub expires_in: i64,
    pub authorizer_refresh_token: String,
    pub func_info: Vec<GrantedSet>,
}

/// Why an auth code was not honoured.
#[derive(Debug, thiserror::Error)]
pub enum QueryAuthError {
    #[error("the component's daily quota is used up")]
    Quota,
    /// Not an auth code of the component.
    #[error("the auth code is not the component's")]
    CodeInvalid,
    #[error("the auth code has expired")]
    CodeExpired,
    #[error(transparent)]
    Authorization(#[from] AuthorizationRefusal),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `api_query_auth`: the authorisation an auth code stands for, with an
/// authorizer token. The code is good until it expires (the redirect and
/// the `authorized` push carry the same code, and either may come first).
pub async fn query_auth(
    app: &App,
    c: &Component,
    authorization_code: &str,
) -> Result<QueriedAuthorization, QueryAuthError> {
    crate::mp::count_call(app, &c.component_appid, "api_query_auth").await?;
    let code = authorization_code;
    let found = if plain(code) { app.store.component_code(code).await? } else { None };
    let found = found
        .filter(|k| k.kind == "auth" && k.component_appid == c.component_appid)
        .ok_or(QueryAuthError::CodeInvalid)?;
    if found.expires_at <= app.clock.business_now().unix() {
        return Err(QueryAuthError::CodeExpired);
    }
    let a: Authorization =
        live_authorization::<QueryAuthError>(app, c, found.authorizer_appid.as_deref().unwrap_or_default()).await?;
    let t = current_or_new_token(app, &a).await?;
    let now = app.clock.business_now().unix();
    Ok(QueriedAuthorization {
        func_info: granted_sets(&a),
        authorizer_appid: a.authorizer_appid,
        authorizer_access_token: t.token,
        expires_in: t.expires_at - now,
        authorizer_refresh_token: a.refresh_token,
    })
}

/// `api_authorizer_token`'s request (an absent field is empty).
#[derive(Debug, Clone, Default)]
pub struct AuthorizerTokenRequest {
    pub authorizer_appid: String,
    pub authorizer_refresh_token: String,
}

/// A new authorizer token, with the refresh token it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerTokenGrant {
    pub authorizer_access_token: String,
    pub expires_in: i64,
    pub authorizer_refresh_token: String,
}

/// Why an authorizer token was not refreshed.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerTokenError {
    #[error("the component's daily quota is used up")]
    Quota,
    /// Not the live refresh token of the named account's authorisation of
    /// the component (a null, another account's, a revoked one).
    #[error("the refresh token is not a live one of the account's")]
    RefreshTokenInvalid,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `api_authorizer_token`: a new authorizer token for a live refresh token.
pub async fn authorizer_token(
    app: &App,
    c: &Component,
    r: &AuthorizerTokenRequest,
) -> Result<AuthorizerTokenGrant, AuthorizerTokenError> {
    crate::mp::count_call(app, &c.component_appid, "api_authorizer_token").await?;
    let refresh = &r.authorizer_refresh_token;
    let found = if plain(refresh) { app.store.authorization_by_refresh(refresh).await? } else { None };
    let a = found
        .filter(|a| {
            a.component_appid == c.component_appid && a.authorizer_appid == r.authorizer_appid && a.revoked_at.is_none()
        })
        .ok_or(AuthorizerTokenError::RefreshTokenInvalid)?;
    let t = new_authorizer_token(app, &a).await?;
    Ok(AuthorizerTokenGrant {
        authorizer_access_token: t.token,
        expires_in: t.expires_at - t.issued_at,
        authorizer_refresh_token: a.refresh_token,
    })
}

/// An authorising account as the component sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerInfo {
    pub authorizer_appid: String,
    /// The account's name.
    pub nick_name: String,
    /// The account's original id (`gh_…`).
    pub user_name: String,
    /// The owning merchant's name.
    pub principal_name: String,
    pub authorizer_refresh_token: String,
    pub func_info: Vec<GrantedSet>,
}

/// Why an authorizer's information was not given.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerInfoError {
    #[error("the component's daily quota is used up")]
    Quota,
    #[error(transparent)]
    Authorization(#[from] AuthorizationRefusal),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `api_get_authorizer_info`.
pub async fn authorizer_info(
    app: &App,
    c: &Component,
    authorizer_appid: &str,
) -> Result<AuthorizerInfo, AuthorizerInfoError> {
    crate::mp::count_call(app, &c.component_appid, "api_get_authorizer_info").await?;
    let a: Authorization = live_authorization::<AuthorizerInfoError>(app, c, authorizer_appid).await?;
    let account = app
        .store
        .mp_account(&a.authorizer_appid)
        .await?
        .ok_or_else(|| Internal::bug("an authorisation of no account"))?;
    let owner = app.store.merchant(&account.owner_mchid).await?.map(|m| m.name).unwrap_or_default();
    Ok(AuthorizerInfo {
        func_info: granted_sets(&a),
        authorizer_appid: a.authorizer_appid,
        nick_name: account.name,
        user_name: account.original_id,
        principal_name: owner,
        authorizer_refresh_token: a.refresh_token,
    })
}

/// One live authorisation in the component's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerEntry {
    pub authorizer_appid: String,
    pub refresh_token: String,
    /// When the account authorised the component (Unix seconds).
    pub auth_time: i64,
}

/// A page of the component's live authorisations, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerPage {
    pub total_count: i64,
    pub list: Vec<AuthorizerEntry>,
}

/// Why the list was not given.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerListError {
    #[error("the component's daily quota is used up")]
    Quota,
    /// `offset` below 0 or `count` outside 1..=500.
    #[error("offset must be at least 0 and count between 1 and 500")]
    BadPage,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `api_get_authorizer_list`: `count` authorisations from `offset`.
pub async fn authorizer_list(
    app: &App,
    c: &Component,
    offset: i64,
    count: i64,
) -> Result<AuthorizerPage, AuthorizerListError> {
    crate::mp::count_call(app, &c.component_appid, "api_get_authorizer_list").await?;
    if offset < 0 || !(1..=500).contains(&count) {
        return Err(AuthorizerListError::BadPage);
    }
    let (rows, total) = app.store.authorizations_of_component(&c.component_appid, offset, count).await?;
    let list = rows
        .into_iter()
        .map(|a| AuthorizerEntry {
            authorizer_appid: a.authorizer_appid,
            refresh_token: a.refresh_token,
            auth_time: a.authorized_at,
        })
        .collect();
    Ok(AuthorizerPage { total_count: total, list })
}

/// The authorizer options and the values each may take.
const OPTIONS: &[(&str, &[&str], &str)] = &[
    ("location_report", &["0", "1", "2"], "0"),
    ("voice_recognize", &["0", "1"], "0"),
    ("customer_service", &["0", "1"], "0"),
];

/// An authorizer option's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerOption {
    pub authorizer_appid: String,
    pub option_name: String,
    pub option_value: String,
}

/// `api_set_authorizer_option`'s request (an absent field is empty; a
/// number is its decimal text).
#[derive(Debug, Clone, Default)]
pub struct SetOptionRequest {
    pub authorizer_appid: String,
    pub option_name: String,
    pub option_value: String,
}

/// Why an option was not read or set.
#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    #[error(transparent)]
    Authorization(#[from] AuthorizationRefusal),
    #[error("no such option")]
    UnknownName,
    #[error("the option does not take that value")]
    BadValue,
    #[error(transparent)]
    Internal(#[from] Internal),
}

fn stored_options(a: &Authorization) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(&a.options).unwrap_or_default()
}

/// `api_get_authorizer_option`.
pub async fn get_option(
    app: &App,
    c: &Component,
    authorizer_appid: &str,
    option_name: &str,
) -> Result<AuthorizerOption, OptionError> {
    let a: Authorization = live_authorization::<OptionError>(app, c, authorizer_appid).await?;
    let (_, _, default) = OPTIONS.iter().find(|(n, _, _)| *n == option_name).ok_or(OptionError::UnknownName)?;
    let value = stored_options(&a).get(option_name).and_then(serde_json::Value::as_str).unwrap_or(default).to_owned();
    Ok(AuthorizerOption {
        authorizer_appid: a.authorizer_appid,
        option_name: option_name.to_owned(),
        option_value: value,
    })
}

/// `api_set_authorizer_option`.
pub async fn set_option(app: &App, c: &Component, r: &SetOptionRequest) -> Result<(), OptionError> {
    let a: Authorization = live_authorization::<OptionError>(app, c, &r.authorizer_appid).await?;
    let name = r.option_name.as_str();
    let (_, values, _) = OPTIONS.iter().find(|(n, _, _)| *n == name).ok_or(OptionError::UnknownName)?;
    if !values.contains(&r.option_value.as_str()) {
        return Err(OptionError::BadValue);
    }
    let mut options = stored_options(&a);
    options.insert(name.to_owned(), serde_json::Value::String(r.option_value.clone()));
    let text = serde_json::Value::Object(options).to_string();
    app.store.set_authorization_options(&c.component_appid, &a.authorizer_appid, &text).await?;
    Ok(())
}

/// The privileges a provider holds now, as a set of keys.
async fn held(app: &App, provider_mchid: &str) -> Result<BTreeSet<String>, Internal> {
    Ok(crate::access::authz::held_privileges(app, provider_mchid).await?.into_keys().collect())
}

/// Why [`check_api`] did not let a call through.
#[derive(Debug, thiserror::Error)]
pub enum ApiCheckError {
    #[error(transparent)]
    Refused(#[from] ApiRefusal),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ApiCheckError {
    fn from(e: StoreError) -> Self {
        ApiCheckError::Internal(e.into())
    }
}

/// Why an authorizer token may not call an API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiRefusal {
    /// The account has not authorised the component (or revoked it).
    #[error("the account has not authorised the component")]
    NotAuthorized,
    /// The account granted none of the permission sets the API needs.
    #[error("{api} needs permission set {}, which the account has not granted", .sets.iter().map(i64::to_string).collect::<Vec<_>>().join(" or "))]
    SetNotGranted { api: String, sets: Vec<i64> },
    /// The provider no longer holds the operator privilege behind every
    /// set that would allow it.
    #[error("the provider no longer holds the operator privilege {}", .0.join(", "))]
    PrivilegeLacking(Vec<String>),
}

/// Checks a call of `api` made with an authorizer token: the account must
/// have granted one of the sets the API needs, and the provider must still
/// hold the privilege behind it.
pub async fn check_api(app: &App, t: &AuthorizerToken, api: &str) -> Result<(), ApiCheckError> {
    let Some(needed) = rules::needed_sets(api) else { return Ok(()) };
    let a = app
        .store
        .authorization(&t.component_appid, &t.authorizer_appid)
        .await?
        .filter(|a| a.revoked_at.is_none())
        .ok_or(ApiRefusal::NotAuthorized)?;
    let granted = rules::parse_sets(&a.func_ids);
    let usable: Vec<i64> = needed.iter().copied().filter(|id| granted.contains(id)).collect();
    if usable.is_empty() {
        return Err(ApiRefusal::SetNotGranted { api: api.to_owned(), sets: needed.to_vec() }.into());
    }
    let c = app.store.component(&t.component_appid).await?.ok_or_else(|| Internal::bug("a token of no component"))?;
    let held = held(app, &c.provider_mchid).await?;
    let lacking: Vec<String> = usable
        .iter()
        .filter_map(|id| rules::set(*id).and_then(|s| s.privilege.clone()))
        .filter(|p| !held.contains(p))
        .collect();
    let all_need_privilege =
        usable.iter().all(|id| rules::set(*id).and_then(|s| s.privilege.as_deref()).is_some_and(|p| !held.contains(p)));
    if all_need_privilege {
        return Err(ApiRefusal::PrivilegeLacking(lacking).into());
    }
    Ok(())
}

/// Why a component may not run web OAuth for an account. The texts are
/// the ones the authorize page shows and 61007 carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OauthRefusal {
    #[error("no third-party platform {0}")]
    UnknownComponent(String),
    /// The account never authorised the component, or revoked it.
    #[error("the account has not authorised third-party platform {0}")]
    NotAuthorized(String),
    /// No set allowing it is granted with its privilege held (the sets
    /// that would).
    #[error("web OAuth on behalf of the account needs permission set {} granted and the provider's privilege behind it", .0.iter().map(i64::to_string).collect::<Vec<_>>().join(" or "))]
    SetNotGranted(Vec<i64>),
}

/// Why [`oauth_allowed`] did not allow it.
#[derive(Debug, thiserror::Error)]
pub enum OauthAllowedError {
    #[error(transparent)]
    Refused(#[from] OauthRefusal),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Whether `component_appid` may run web OAuth for `authorizer_appid`: the
/// account granted it permission set 4 and the provider still holds the
/// privilege behind it.
pub async fn oauth_allowed(app: &App, component_appid: &str, authorizer_appid: &str) -> Result<(), OauthAllowedError> {
    let Some(needed) = rules::needed_sets("sns/oauth2/component") else { return Ok(()) };
    let c = if plain(component_appid) { app.store.component(component_appid).await? } else { None };
    let c = c.ok_or_else(|| OauthRefusal::UnknownComponent(component_appid.to_owned()))?;
    let a = app.store.authorization(&c.component_appid, authorizer_appid).await?.filter(|a| a.revoked_at.is_none());
    let a = a.ok_or_else(|| OauthRefusal::NotAuthorized(component_appid.to_owned()))?;
    let granted = rules::parse_sets(&a.func_ids);
    let held = held(app, &c.provider_mchid).await?;
    let ok = needed.iter().any(|id| {
        granted.contains(id) && rules::set(*id).and_then(|s| s.privilege.as_deref()).is_none_or(|p| held.contains(p))
    });
    if ok {
        Ok(())
    } else {
        Err(OauthRefusal::SetNotGranted(needed.to_vec()).into())
    }
}

/// An account owner's consent on the authorisation page (or its sandbox
/// twin).
#[derive(Debug, Clone)]
pub struct Consent {
    pub pre_auth_code: String,
    pub authorizer_appid: String,
    pub func_ids: Vec<i64>,
    /// Take exclusive sets another provider holds for the account (the
    /// owner confirmed it).
    pub take_exclusive: bool,
    /// Overrides the redirect the authorisation page was opened with.
    pub redirect_uri: Option<String>,
    /// The merchant consenting; `None` for the operator's sandbox token.
    pub owner: Option<String>,
}

/// Why a consent was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("pre_auth_code is not a pre-auth code of any third-party platform")]
    UnknownCode,
    #[error("pre_auth_code was used already")]
    CodeUsed,
    #[error("pre_auth_code has expired")]
    CodeExpired,
    #[error("no official account {0}")]
    NoAccount(String),
    #[error("only the account's owner may authorise it")]
    NotOwner,
    #[error("choose at least one permission set")]
    NoSets,
    #[error("no redirect_uri: open the authorisation page with one, or pass it")]
    NoRedirect,
    #[error("redirect_uri must be an http(s) URL")]
    BadRedirect,
    #[error("some permission sets cannot be granted")]
    Refused(Vec<SetRefusal>),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ConsentError {
    fn from(e: StoreError) -> Self {
        ConsentError::Internal(e.into())
    }
}

/// What the authorisation page shows for a pre-auth code: the component,
/// its provider's name, and per set whether it may be granted.
#[derive(Debug, Clone)]
pub struct Offer {
    pub component: Component,
    pub provider_name: String,
    pub sets: Vec<(rules::PermissionSet, Option<String>)>,
}

fn http_url(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// Looks a pre-auth code up for the authorisation page (and records its
/// redirect, which must be an http(s) URL).
pub async fn offer(app: &App, pre_auth_code: &str, redirect_uri: Option<&str>) -> Result<Offer, ConsentError> {
    let code = if plain(pre_auth_code) { app.store.component_code(pre_auth_code).await? } else { None };
    let code = code.filter(|k| k.kind == "pre_auth").ok_or(ConsentError::UnknownCode)?;
    if code.used_at.is_some() {
        return Err(ConsentError::CodeUsed);
    }
    if code.expires_at <= app.clock.business_now().unix() {
        return Err(ConsentError::CodeExpired);
    }
    if let Some(uri) = redirect_uri {
        if !http_url(uri) {
            return Err(ConsentError::BadRedirect);
        }
        app.store.set_pre_auth_redirect(pre_auth_code, uri).await?;
    }
    let component = app.store.component(&code.component_appid).await?.ok_or(ConsentError::UnknownCode)?;
    let provider_name = app.store.merchant(&component.provider_mchid).await?.map(|m| m.name).unwrap_or_default();
    let held = held(app, &component.provider_mchid).await?;
    let sets = rules::rules()
        .sets
        .iter()
        .map(|s| (s.clone(), rules::check_grant(&[s.id], &held).into_iter().next().map(|r| r.reason)))
        .collect();
    Ok(Offer { component, provider_name, sets })
}

/// Grants the chosen sets: the pre-auth code is used, the authorisation
/// written (a new refresh token), exclusive sets taken from other
/// components if confirmed, an auth code made, and the `authorized` or
/// `updateauthorized` push queued (and `updateauthorized`/`unauthorized`
/// for components that lost a set) — all in one transaction. Returns the
/// redirect with `auth_code` and `expires_in`.
pub async fn consent(app: &App, c: Consent) -> Result<String, ConsentError> {
    let account = consenting_account(app, &c).await?;
    let now = app.clock.business_now().unix();
    let mut tx = app.store.write().await?;
    let (component, redirect_uri) = claim_code(app, &mut tx, &c, now).await?;
    let (others, losers) = settle_exclusive(app, &mut tx, &c, &account.appid, &component).await?;
    let previous = others.iter().find(|o| o.component_appid == component.component_appid);
    let granted = Grant { consent: &c, authorizer_appid: &account.appid, component: &component, now };
    let (func_ids, auth_code) = record_grant(app, &mut tx, &granted, previous).await?;
    for (loser, left) in losers {
        take_sets(app, &mut tx, &account.appid, &loser, &left, now).await?;
    }
    tx.commit().await?;
    app.wake.delivery();
    tracing::info!(component = %component.component_appid, authorizer = %account.appid, sets = %func_ids, "account authorised a third-party platform");
    let lifetime = rules::rules().auth_code_lifetime_s;
    Ok(with_query(&redirect_uri, &[("auth_code", &auth_code), ("expires_in", &lifetime.to_string())]))
}

/// The account a consent is for, if the consenting merchant owns it and
/// chose a set.
async fn consenting_account(app: &App, c: &Consent) -> Result<MpAccount, ConsentError> {
    if !plain(&c.pre_auth_code) {
        return Err(ConsentError::UnknownCode);
    }
    if !plain(&c.authorizer_appid) {
        return Err(ConsentError::NoAccount(c.authorizer_appid.clone()));
    }
    let account = app
        .store
        .mp_account(&c.authorizer_appid)
        .await?
        .ok_or_else(|| ConsentError::NoAccount(c.authorizer_appid.clone()))?;
    if c.owner.as_deref().is_some_and(|o| o != account.owner_mchid) {
        return Err(ConsentError::NotOwner);
    }
    if c.func_ids.is_empty() {
        return Err(ConsentError::NoSets);
    }
    Ok(account)
}

/// The pre-auth code, locked and still good: its component, and where the
/// consent redirects to.
async fn claim_code(app: &App, tx: &mut WriteTx, c: &Consent, now: i64) -> Result<(Component, String), ConsentError> {
    let code = tx_ops::lock_code(tx, &c.pre_auth_code).await?;
    let code = code.filter(|k| k.kind == "pre_auth").ok_or(ConsentError::UnknownCode)?;
    if code.used_at.is_some() {
        return Err(ConsentError::CodeUsed);
    }
    if code.expires_at <= now {
        return Err(ConsentError::CodeExpired);
    }
    let redirect_uri = c
        .redirect_uri
        .clone()
        .or(code.redirect_uri.clone())
        .filter(|u| !u.is_empty())
        .ok_or(ConsentError::NoRedirect)?;
    if !http_url(&redirect_uri) {
        return Err(ConsentError::BadRedirect);
    }
    let component = app.store.component(&code.component_appid).await?.ok_or(ConsentError::UnknownCode)?;
    Ok((component, redirect_uri))
}

/// An authorisation whose exclusive sets move to the consenting component,
/// and the sets it keeps.
type Loser = (Authorization, Vec<i64>);

/// Checks the chosen sets against the provider's privileges and the
/// exclusive sets other components hold for the account (refused unless
/// the owner confirmed moving them). Returns the account's authorisations
/// (locked) and the ones that lose sets.
async fn settle_exclusive(
    app: &App,
    tx: &mut WriteTx,
    c: &Consent,
    authorizer_appid: &str,
    component: &Component,
) -> Result<(Vec<Authorization>, Vec<Loser>), ConsentError> {
    let held = held(app, &component.provider_mchid).await?;
    let mut refusals = rules::check_grant(&c.func_ids, &held);
    let others = tx_ops::lock_account_authorizations(tx, authorizer_appid).await?;
    let mut losers: Vec<Loser> = Vec::new();
    for other in others.iter().filter(|o| o.component_appid != component.component_appid) {
        let theirs = rules::parse_sets(&other.func_ids);
        let taken: Vec<i64> = theirs
            .iter()
            .copied()
            .filter(|id| c.func_ids.contains(id) && rules::set(*id).is_some_and(|s| s.exclusive))
            .collect();
        if taken.is_empty() {
            continue;
        }
        if !c.take_exclusive {
            let holder = match app.store.component(&other.component_appid).await? {
                Some(h) => app.store.merchant(&h.provider_mchid).await?.map(|m| m.name).unwrap_or_default(),
                None => String::new(),
            };
            for id in &taken {
                refusals.push(SetRefusal {
                    id: *id,
                    reason: format!(
                        "permission set {id} is exclusive and third-party platform {} ({holder}) holds it for this account; confirm to move it",
                        other.component_appid
                    ),
                });
            }
        } else {
            let left: Vec<i64> = theirs.into_iter().filter(|id| !taken.contains(id)).collect();
            losers.push((other.clone(), left));
        }
    }
    if !refusals.is_empty() {
        return Err(ConsentError::Refused(refusals));
    }
    Ok((others, losers))
}

/// A consent being recorded.
struct Grant<'a> {
    consent: &'a Consent,
    authorizer_appid: &'a str,
    component: &'a Component,
    now: i64,
}

/// Makes an auth code for `component_appid` and the account.
async fn new_auth_code(
    app: &App,
    tx: &mut WriteTx,
    component_appid: &str,
    authorizer_appid: &str,
    now: i64,
) -> Result<String, StoreError> {
    let code = format!("queryauthcode@@@{}", app.rng.token(64));
    tx_ops::create_code(
        tx,
        &ComponentCode {
            code: code.clone(),
            kind: "auth".into(),
            component_appid: component_appid.to_owned(),
            authorizer_appid: Some(authorizer_appid.to_owned()),
            redirect_uri: None,
            created_at: now,
            expires_at: now + rules::rules().auth_code_lifetime_s,
            used_at: None,
        },
    )
    .await?;
    Ok(code)
}

/// The `authorized`/`updateauthorized` event of an auth code.
fn authorized_event(c: &Component, now: i64, info_type: &str, authorizer: &str, code: &str, pre: &str) -> String {
    let expires = now + rules::rules().auth_code_lifetime_s;
    event(
        c,
        now,
        info_type,
        &[
            ("AuthorizerAppid", authorizer.to_owned()),
            ("AuthorizationCode", code.to_owned()),
            ("AuthorizationCodeExpiredTime", expires.to_string()),
            ("PreAuthCode", pre.to_owned()),
        ],
    )
}

/// Writes the authorisation (a new refresh token), uses the pre-auth code,
/// makes the auth code and, when the sets changed, queues `authorized` or
/// `updateauthorized`. Returns the granted sets and the auth code.
async fn record_grant(
    app: &App,
    tx: &mut WriteTx,
    g: &Grant<'_>,
    previous: Option<&Authorization>,
) -> Result<(String, String), ConsentError> {
    let func_ids = rules::format_sets(&g.consent.func_ids);
    let changed = previous.is_none_or(|p| p.func_ids != func_ids);
    let authorization = Authorization {
        component_appid: g.component.component_appid.clone(),
        authorizer_appid: g.authorizer_appid.to_owned(),
        func_ids,
        refresh_token: format!("refreshtoken@@@{}", app.rng.token(64)),
        options: previous.map(|p| p.options.clone()).unwrap_or_else(|| "{}".into()),
        authorized_at: g.now,
        updated_at: g.now,
        revoked_at: None,
    };
    tx_ops::upsert_authorization(tx, &authorization).await?;
    tx_ops::mark_code_used(tx, &g.consent.pre_auth_code, g.authorizer_appid, g.now).await?;
    let auth_code = new_auth_code(app, tx, &g.component.component_appid, g.authorizer_appid, g.now).await?;
    if changed {
        let info_type = if previous.is_some() { "updateauthorized" } else { "authorized" };
        let pre = &g.consent.pre_auth_code;
        let xml = authorized_event(g.component, g.now, info_type, g.authorizer_appid, &auth_code, pre);
        enqueue_event(app, tx, g.component, info_type, &auth_code, xml).await?;
    }
    Ok((authorization.func_ids, auth_code))
}

/// Takes the moved sets from another component's authorisation: revoked
/// with `unauthorized` when none is left, else narrowed with
/// `updateauthorized` and a new auth code.
async fn take_sets(
    app: &App,
    tx: &mut WriteTx,
    authorizer_appid: &str,
    loser: &Authorization,
    left: &[i64],
    now: i64,
) -> Result<(), ConsentError> {
    let other = app.store.component(&loser.component_appid).await?.ok_or_else(|| Internal::bug("no component"))?;
    if left.is_empty() {
        tx_ops::revoke_authorization(tx, &loser.component_appid, authorizer_appid, now).await?;
        let xml = event(&other, now, "unauthorized", &[("AuthorizerAppid", authorizer_appid.to_owned())]);
        enqueue_event(app, tx, &other, "unauthorized", &format!("{authorizer_appid}:{now}"), xml).await?;
    } else {
        let sets = rules::format_sets(left);
        tx_ops::set_authorization_sets(tx, &loser.component_appid, authorizer_appid, &sets, now).await?;
        let code = new_auth_code(app, tx, &other.component_appid, authorizer_appid, now).await?;
        let xml = authorized_event(&other, now, "updateauthorized", authorizer_appid, &code, "");
        enqueue_event(app, tx, &other, "updateauthorized", &code, xml).await?;
    }
    Ok(())
}

/// The owner ends an authorisation: tokens and the refresh token die and
/// the component gets `unauthorized`. Returns whether one was live.
pub async fn revoke(app: &App, component_appid: &str, authorizer_appid: &str) -> Result<bool, Internal> {
    let Some(component) = app.store.component(component_appid).await? else { return Ok(false) };
    let now = app.clock.business_now().unix();
    let mut tx = app.store.write().await?;
    let done = tx_ops::revoke_authorization(&mut tx, component_appid, authorizer_appid, now).await?;
    if done {
        let xml = event(&component, now, "unauthorized", &[("AuthorizerAppid", authorizer_appid.to_owned())]);
        enqueue_event(app, &mut tx, &component, "unauthorized", &format!("{authorizer_appid}:{now}"), xml).await?;
    }
    tx.commit().await?;
    app.wake.delivery();
    Ok(done)
}

/// Sets a component's event URL: a URL verification handshake (`echostr`
/// signed with the component's Token) runs first when it changes.
pub async fn set_event_url(app: &App, c: &Component, url: &str) -> Result<(), ServerError> {
    let parsed = url::Url::parse(url).map_err(|_| ServerError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ServerError::BadUrl);
    }
    if c.event_url.as_deref() != Some(url) {
        super::server::handshake(app, &c.token, url).await.map_err(ServerError::Handshake)?;
    }
    app.store.set_component_event_url(&c.component_appid, Some(url)).await.map_err(Internal::from)?;
    Ok(())
}
