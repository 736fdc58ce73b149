//! The third-party platform (protocol notes `wechat-mp.md` §6): a provider's
//! component receives a verify ticket every ten minutes of business time,
//! trades it for a component token, asks for a pre-auth code, sends an
//! account owner to the authorisation page, and with the auth code gets
//! authorizer tokens for the account. What an owner may grant is limited by
//! the operator privileges the provider holds (`data/component.json`); what
//! an authorizer token may call is limited by the sets the owner granted.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use koudai_domain::component::{self as rules, SetRefusal};
use koudai_domain::ids;
use koudai_protocol::mp::MpError;
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::component as tx_ops;
use koudai_store::{
    Authorization, AuthorizerToken, Component, ComponentCode, Issued, NewNotification, Store, StoreError,
};

use koudai_domain::schedule::Channel;

use super::server::ServerError;
use super::MpFailure;
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
    app.wake.notify_one();
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

fn text(body: &Value, field: &str) -> String {
    body.get(field).and_then(Value::as_str).unwrap_or_default().to_owned()
}

async fn component_named(app: &App, appid: &str) -> Result<Component, MpFailure> {
    if appid.is_empty() {
        return Err(MpError::appid_missing().into());
    }
    let c = if plain(appid) { app.store.component(appid).await? } else { None };
    Ok(c.ok_or_else(MpError::invalid_component)?)
}

fn secret_matches(c: &Component, secret: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(c.secret.as_bytes().ct_eq(secret.as_bytes()))
}

/// `api_component_token`: a component token for a valid verify ticket.
pub async fn component_token(app: &App, body: &Value) -> Result<Value, MpFailure> {
    let c = component_named(app, &text(body, "component_appid")).await?;
    let secret = text(body, "component_appsecret");
    if secret.is_empty() {
        return Err(MpError::appsecret_missing().into());
    }
    if !secret_matches(&c, &secret) {
        return Err(MpError::invalid_appsecret().into());
    }
    crate::mp::count_call(app, &c.component_appid, "api_component_token").await?;
    let ticket = text(body, "component_verify_ticket");
    let found = if plain(&ticket) { app.store.ticket(&ticket).await? } else { None };
    let found = found.filter(|t| t.component_appid == c.component_appid).ok_or_else(MpError::ticket_invalid)?;
    let now = app.clock.business_now().unix();
    if found.expires_at <= now {
        return Err(MpError::ticket_expired().into());
    }
    let lifetime = rules::rules().component_token_lifetime_s;
    let token = Issued {
        value: format!("component_{}", app.rng.token(96)),
        component_appid: c.component_appid.clone(),
        issued_at: now,
        expires_at: now + lifetime,
    };
    app.store.create_component_token(&token).await?;
    Ok(json!({"component_access_token": token.value, "expires_in": lifetime}))
}

/// The component behind a `component_access_token` (the body's
/// `component_appid`, when present, must be it).
pub async fn authenticate(app: &App, token: &str, body: &Value) -> Result<Component, MpFailure> {
    if token.is_empty() {
        return Err(MpError::access_token_missing().into());
    }
    let found = if plain(token) { app.store.component_token(token).await? } else { None };
    let t = found.ok_or_else(MpError::invalid_credential)?;
    if t.expires_at <= app.clock.business_now().unix() {
        return Err(MpError::access_token_expired().into());
    }
    let named = text(body, "component_appid");
    if !named.is_empty() && named != t.component_appid {
        return Err(MpError::invalid_component().into());
    }
    Ok(app.store.component(&t.component_appid).await?.ok_or_else(|| Internal::bug("a token of no component"))?)
}

/// `api_start_push_ticket`: a ticket push now (the body names the component
/// and its secret; no token).
pub async fn start_push_ticket(app: &App, body: &Value) -> Result<(), MpFailure> {
    let c = component_named(app, &text(body, "component_appid")).await?;
    let secret = text(body, "component_secret");
    if secret.is_empty() {
        return Err(MpError::appsecret_missing().into());
    }
    if !secret_matches(&c, &secret) {
        return Err(MpError::invalid_appsecret().into());
    }
    push_ticket(app, &c).await?;
    Ok(())
}

/// `api_create_preauthcode`.
pub async fn create_pre_auth_code(app: &App, c: &Component) -> Result<Value, MpFailure> {
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
    Ok(json!({"pre_auth_code": code, "expires_in": lifetime}))
}

fn func_info(a: &Authorization) -> Value {
    Value::Array(
        rules::parse_sets(&a.func_ids)
            .into_iter()
            .map(|id| {
                let mut v = json!({"funcscope_category": {"id": id}});
                if rules::set(id).is_some_and(|s| s.exclusive) {
                    v["confirm_info"] = json!({"need_confirm": 0, "already_confirm": 1, "can_confirm": 0});
                }
                v
            })
            .collect(),
    )
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

/// The live authorisation of `authorizer_appid` for `c` (61003 if none).
async fn live_authorization(app: &App, c: &Component, authorizer_appid: &str) -> Result<Authorization, MpFailure> {
    if authorizer_appid.is_empty() {
        return Err(MpError::appid_missing().into());
    }
    let a = if plain(authorizer_appid) {
        app.store.authorization(&c.component_appid, authorizer_appid).await?
    } else {
        None
    };
    Ok(a.filter(|a| a.revoked_at.is_none()).ok_or_else(MpError::component_not_authorized)?)
}

/// `api_query_auth`: the authorisation an auth code stands for, with an
/// authorizer token. The code is good until it expires (the redirect and
/// the `authorized` push carry the same code, and either may come first).
pub async fn query_auth(app: &App, c: &Component, body: &Value) -> Result<Value, MpFailure> {
    crate::mp::count_call(app, &c.component_appid, "api_query_auth").await?;
    let code = text(body, "authorization_code");
    let found = if plain(&code) { app.store.component_code(&code).await? } else { None };
    let found = found
        .filter(|k| k.kind == "auth" && k.component_appid == c.component_appid)
        .ok_or_else(MpError::code_invalid)?;
    if found.expires_at <= app.clock.business_now().unix() {
        return Err(MpError::code_expired().into());
    }
    let a = live_authorization(app, c, found.authorizer_appid.as_deref().unwrap_or_default()).await?;
    let t = current_or_new_token(app, &a).await?;
    let now = app.clock.business_now().unix();
    Ok(json!({"authorization_info": {
        "authorizer_appid": a.authorizer_appid,
        "authorizer_access_token": t.token,
        "expires_in": t.expires_at - now,
        "authorizer_refresh_token": a.refresh_token,
        "func_info": func_info(&a),
    }}))
}

/// `api_authorizer_token`: a new authorizer token for a live refresh token
/// (61023 for anything else, including a null or another account's).
pub async fn authorizer_token(app: &App, c: &Component, body: &Value) -> Result<Value, MpFailure> {
    crate::mp::count_call(app, &c.component_appid, "api_authorizer_token").await?;
    let authorizer = text(body, "authorizer_appid");
    let refresh = text(body, "authorizer_refresh_token");
    let found = if plain(&refresh) { app.store.authorization_by_refresh(&refresh).await? } else { None };
    let a = found
        .filter(|a| {
            a.component_appid == c.component_appid && a.authorizer_appid == authorizer && a.revoked_at.is_none()
        })
        .ok_or_else(MpError::refresh_token_invalid)?;
    let t = new_authorizer_token(app, &a).await?;
    Ok(json!({"authorizer_access_token": t.token, "expires_in": t.expires_at - t.issued_at,
              "authorizer_refresh_token": a.refresh_token}))
}

/// `api_get_authorizer_info`.
pub async fn authorizer_info(app: &App, c: &Component, body: &Value) -> Result<Value, MpFailure> {
    crate::mp::count_call(app, &c.component_appid, "api_get_authorizer_info").await?;
    let a = live_authorization(app, c, &text(body, "authorizer_appid")).await?;
    let account = app
        .store
        .mp_account(&a.authorizer_appid)
        .await?
        .ok_or_else(|| Internal::bug("an authorisation of no account"))?;
    let owner = app.store.merchant(&account.owner_mchid).await?.map(|m| m.name).unwrap_or_default();
    Ok(json!({
        "authorizer_info": {
            "nick_name": account.name,
            "head_img": "",
            "service_type_info": {"id": 2},
            "verify_type_info": {"id": 0},
            "user_name": account.original_id,
            "alias": "",
            "principal_name": owner,
            "qrcode_url": "",
            "business_info": {"open_pay": 1, "open_shake": 0, "open_scan": 0, "open_card": 0, "open_store": 0},
        },
        "authorization_info": {
            "authorizer_appid": a.authorizer_appid,
            "authorizer_refresh_token": a.refresh_token,
            "func_info": func_info(&a),
        },
    }))
}

/// `api_get_authorizer_list`.
pub async fn authorizer_list(app: &App, c: &Component, body: &Value) -> Result<Value, MpFailure> {
    crate::mp::count_call(app, &c.component_appid, "api_get_authorizer_list").await?;
    let offset = body.get("offset").and_then(Value::as_i64).unwrap_or(0);
    let count = body.get("count").and_then(Value::as_i64).unwrap_or(0);
    if offset < 0 || !(1..=500).contains(&count) {
        return Err(MpError::invalid_args().into());
    }
    let (rows, total) = app.store.authorizations_of_component(&c.component_appid, offset, count).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|a| json!({"authorizer_appid": a.authorizer_appid, "refresh_token": a.refresh_token, "auth_time": a.authorized_at}))
        .collect();
    Ok(json!({"total_count": total, "list": list}))
}

/// The authorizer options and the values each may take.
const OPTIONS: &[(&str, &[&str], &str)] = &[
    ("location_report", &["0", "1", "2"], "0"),
    ("voice_recognize", &["0", "1"], "0"),
    ("customer_service", &["0", "1"], "0"),
];

/// `api_get_authorizer_option`.
pub async fn get_option(app: &App, c: &Component, body: &Value) -> Result<Value, MpFailure> {
    let a = live_authorization(app, c, &text(body, "authorizer_appid")).await?;
    let name = text(body, "option_name");
    let (_, _, default) = OPTIONS.iter().find(|(n, _, _)| *n == name).ok_or_else(MpError::invalid_option_name)?;
    let options: Value = serde_json::from_str(&a.options).unwrap_or_else(|_| json!({}));
    let value = options.get(&name).and_then(Value::as_str).unwrap_or(default).to_owned();
    Ok(json!({"authorizer_appid": a.authorizer_appid, "option_name": name, "option_value": value}))
}

/// `api_set_authorizer_option`.
pub async fn set_option(app: &App, c: &Component, body: &Value) -> Result<(), MpFailure> {
    let a = live_authorization(app, c, &text(body, "authorizer_appid")).await?;
    let name = text(body, "option_name");
    let (_, values, _) = OPTIONS.iter().find(|(n, _, _)| *n == name).ok_or_else(MpError::invalid_option_name)?;
    let value = match body.get("option_value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if !values.contains(&value.as_str()) {
        return Err(MpError::invalid_option_value().into());
    }
    let mut options: Value = serde_json::from_str(&a.options).unwrap_or_else(|_| json!({}));
    options[name.as_str()] = json!(value);
    app.store.set_authorization_options(&c.component_appid, &a.authorizer_appid, &options.to_string()).await?;
    Ok(())
}

/// The privileges a provider holds now, as a set of keys.
async fn held(app: &App, provider_mchid: &str) -> Result<BTreeSet<String>, Internal> {
    Ok(crate::access::authz::held_privileges(app, provider_mchid).await?.into_keys().collect())
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
pub async fn check_api(app: &App, t: &AuthorizerToken, api: &str) -> Result<(), super::token::CallError> {
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

/// Whether `component_appid` may run web OAuth for `authorizer_appid`: the
/// account granted it permission set 4 and the provider still holds the
/// privilege behind it. `Err` says why not.
pub async fn oauth_allowed(
    app: &App,
    component_appid: &str,
    authorizer_appid: &str,
) -> Result<Result<(), String>, Internal> {
    let Some(needed) = rules::needed_sets("sns/oauth2/component") else { return Ok(Ok(())) };
    let Some(c) = (if plain(component_appid) { app.store.component(component_appid).await? } else { None }) else {
        return Ok(Err(format!("no third-party platform {component_appid}")));
    };
    let a = app.store.authorization(&c.component_appid, authorizer_appid).await?.filter(|a| a.revoked_at.is_none());
    let Some(a) = a else {
        return Ok(Err(format!("the account has not authorised third-party platform {component_appid}")));
    };
    let granted = rules::parse_sets(&a.func_ids);
    let held = held(app, &c.provider_mchid).await?;
    let ok = needed.iter().any(|id| {
        granted.contains(id) && rules::set(*id).and_then(|s| s.privilege.as_deref()).is_none_or(|p| held.contains(p))
    });
    if ok {
        Ok(Ok(()))
    } else {
        Ok(Err(format!(
            "web OAuth on behalf of the account needs permission set {} granted and the provider's privilege behind it",
            needed.iter().map(i64::to_string).collect::<Vec<_>>().join(" or ")
        )))
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
        if !url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
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
    let now = app.clock.business_now().unix();
    let mut tx = app.store.write().await?;
    let code = tx_ops::lock_code(&mut tx, &c.pre_auth_code).await?;
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
    if !url::Url::parse(&redirect_uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return Err(ConsentError::BadRedirect);
    }
    let component = app.store.component(&code.component_appid).await?.ok_or(ConsentError::UnknownCode)?;
    let held = held(app, &component.provider_mchid).await?;
    let mut refusals = rules::check_grant(&c.func_ids, &held);
    // Exclusive sets another component holds for this account.
    let others = tx_ops::lock_account_authorizations(&mut tx, &account.appid).await?;
    let mut losers: Vec<(Authorization, Vec<i64>)> = Vec::new();
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
    let previous = others.iter().find(|o| o.component_appid == component.component_appid);
    let func_ids = rules::format_sets(&c.func_ids);
    let changed = previous.is_none_or(|p| p.func_ids != func_ids);
    let authorization = Authorization {
        component_appid: component.component_appid.clone(),
        authorizer_appid: account.appid.clone(),
        func_ids,
        refresh_token: format!("refreshtoken@@@{}", app.rng.token(64)),
        options: previous.map(|p| p.options.clone()).unwrap_or_else(|| "{}".into()),
        authorized_at: now,
        updated_at: now,
        revoked_at: None,
    };
    tx_ops::upsert_authorization(&mut tx, &authorization).await?;
    tx_ops::mark_code_used(&mut tx, &c.pre_auth_code, &account.appid, now).await?;
    let lifetime = rules::rules().auth_code_lifetime_s;
    let auth_code = format!("queryauthcode@@@{}", app.rng.token(64));
    tx_ops::create_code(
        &mut tx,
        &ComponentCode {
            code: auth_code.clone(),
            kind: "auth".into(),
            component_appid: component.component_appid.clone(),
            authorizer_appid: Some(account.appid.clone()),
            redirect_uri: None,
            created_at: now,
            expires_at: now + lifetime,
            used_at: None,
        },
    )
    .await?;
    if changed {
        let info_type = if previous.is_some() { "updateauthorized" } else { "authorized" };
        let xml = event(
            &component,
            now,
            info_type,
            &[
                ("AuthorizerAppid", account.appid.clone()),
                ("AuthorizationCode", auth_code.clone()),
                ("AuthorizationCodeExpiredTime", (now + lifetime).to_string()),
                ("PreAuthCode", c.pre_auth_code.clone()),
            ],
        );
        enqueue_event(app, &mut tx, &component, info_type, &auth_code, xml).await?;
    }
    for (loser, left) in losers {
        let other = app.store.component(&loser.component_appid).await?.ok_or_else(|| Internal::bug("no component"))?;
        if left.is_empty() {
            tx_ops::revoke_authorization(&mut tx, &loser.component_appid, &account.appid, now).await?;
            let xml = event(&other, now, "unauthorized", &[("AuthorizerAppid", account.appid.clone())]);
            enqueue_event(app, &mut tx, &other, "unauthorized", &format!("{}:{now}", account.appid), xml).await?;
        } else {
            tx_ops::set_authorization_sets(
                &mut tx,
                &loser.component_appid,
                &account.appid,
                &rules::format_sets(&left),
                now,
            )
            .await?;
            let code = format!("queryauthcode@@@{}", app.rng.token(64));
            tx_ops::create_code(
                &mut tx,
                &ComponentCode {
                    code: code.clone(),
                    kind: "auth".into(),
                    component_appid: other.component_appid.clone(),
                    authorizer_appid: Some(account.appid.clone()),
                    redirect_uri: None,
                    created_at: now,
                    expires_at: now + lifetime,
                    used_at: None,
                },
            )
            .await?;
            let xml = event(
                &other,
                now,
                "updateauthorized",
                &[
                    ("AuthorizerAppid", account.appid.clone()),
                    ("AuthorizationCode", code.clone()),
                    ("AuthorizationCodeExpiredTime", (now + lifetime).to_string()),
                    ("PreAuthCode", String::new()),
                ],
            );
            enqueue_event(app, &mut tx, &other, "updateauthorized", &code, xml).await?;
        }
    }
    tx.commit().await?;
    app.wake.notify_one();
    tracing::info!(component = %component.component_appid, authorizer = %account.appid, sets = %authorization.func_ids, "account authorised a third-party platform");
    Ok(with_query(&redirect_uri, &[("auth_code", &auth_code), ("expires_in", &lifetime.to_string())]))
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
    app.wake.notify_one();
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
