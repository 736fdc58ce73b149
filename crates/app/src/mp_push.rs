//! Pushes to an official account's server (protocol notes `wechat-mp.md`
//! §4): consumers' messages and events, sent through the same durable
//! outbox as payment callbacks (channel `mp`), in the account's message
//! mode (plain, compatible or safe), signed with its Token; the server's
//! passive reply is read back (and decrypted in safe mode). WeChat waits 5
//! seconds and tries three times in all; the XML is the same every time, so
//! the server can deduplicate by `MsgId` (or sender and `CreateTime`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use koudai_domain::ids;
use koudai_protocol::mp::MpError;
use koudai_protocol::mp_crypto::{self, signature};
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::{AfterAttempt, Attempt, MpAccount, NewNotification, Notification};

use crate::mp::MpFailure;
use crate::{App, Internal};

/// How long the account's server has to answer.
const REPLY_WINDOW: Duration = Duration::from_secs(5);
/// Seconds (business time) between tries.
const RETRY_AFTER_S: i64 = 5;
/// Tries in all.
const TRIES: i64 = 3;
/// Wall seconds a sending worker holds a push.
const LEASE_S: i64 = 15;

/// What a consumer sends an account.
#[derive(Debug, Clone)]
pub enum Push {
    Text {
        content: String,
    },
    Event {
        event: String,
        event_key: Option<String>,
    },
    /// A parametric QR code scanned: `subscribe` with `qrscene_…` or `SCAN`.
    Scan {
        event: String,
        event_key: String,
        ticket: String,
    },
}

/// The message modes an account may use.
pub const MODES: &[&str] = &["plain", "compatible", "safe"];

fn message_xml(account: &MpAccount, openid: &str, push: &Push, now: i64, msg_id: i64) -> String {
    match push {
        Push::Text { content } => mp_xml::build(&[
            Field::Text("ToUserName", &account.original_id),
            Field::Text("FromUserName", openid),
            Field::Number("CreateTime", now),
            Field::Text("MsgType", "text"),
            Field::Text("Content", content),
            Field::Number("MsgId", msg_id),
        ]),
        Push::Event { event, event_key } => {
            let mut fields = vec![
                Field::Text("ToUserName", &account.original_id),
                Field::Text("FromUserName", openid),
                Field::Number("CreateTime", now),
                Field::Text("MsgType", "event"),
                Field::Text("Event", event),
            ];
            if let Some(key) = event_key {
                fields.push(Field::Text("EventKey", key));
            }
            mp_xml::build(&fields)
        }
        Push::Scan { event, event_key, ticket } => mp_xml::build(&[
            Field::Text("ToUserName", &account.original_id),
            Field::Text("FromUserName", openid),
            Field::Number("CreateTime", now),
            Field::Text("MsgType", "event"),
            Field::Text("Event", event),
            Field::Text("EventKey", event_key),
            Field::Text("Ticket", ticket),
        ]),
    }
}

/// Puts a push in the outbox; returns its notification id. The sender's
/// openid must be one of the account's.
pub async fn enqueue(app: &App, account: &MpAccount, openid: &str, push: &Push) -> Result<i64, MpFailure> {
    if !app.store.openid_belongs_to_app(openid, &account.appid).await? {
        return Err(MpError::new(40003, "invalid openid").into());
    }
    let url = account
        .server_url
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| MpError::new(-1, "the account has no server URL configured"))?;
    let now = app.clock.business_now().unix();
    let msg_id = i64::from(u32::from_be_bytes(app.rng.bytes())) << 20 | i64::from(u16::from_be_bytes(app.rng.bytes()));
    let xml = message_xml(account, openid, push, now, msg_id);
    let (event_type, reference) = match push {
        Push::Text { .. } => ("mp.text".to_owned(), msg_id.to_string()),
        Push::Event { event, .. } | Push::Scan { event, .. } => {
            (format!("mp.event.{}", event.to_ascii_lowercase()), format!("{openid}:{now}:{event}"))
        }
    };
    let n = NewNotification {
        event_id: ids::uuid_v4(&app.rng.bytes()),
        mchid: account.owner_mchid.clone(),
        reference,
        event_type,
        notify_url: url,
        body: xml,
        next_attempt_at: now,
        created_at: now,
    };
    let mut tx = app.store.write().await?;
    let id = koudai_store::notifications::enqueue_mp(&mut tx, &n, &account.appid).await?;
    tx.commit().await?;
    Ok(id)
}

/// Pushes a platform event (no consumer behind it, such as
/// `poi_check_notify`) to the account's server now; whether the server
/// took it (`None` when the account has no server; retries follow in the
/// jobs).
pub async fn push_system(
    app: &Arc<App>,
    account: &MpAccount,
    xml: String,
    event_type: &str,
    reference: &str,
) -> Result<Option<bool>, Internal> {
    let Some(url) = account.server_url.clone().filter(|u| !u.is_empty()) else { return Ok(None) };
    let now = app.clock.business_now().unix();
    let n = NewNotification {
        event_id: ids::uuid_v4(&app.rng.bytes()),
        mchid: account.owner_mchid.clone(),
        reference: reference.to_owned(),
        event_type: event_type.to_owned(),
        notify_url: url,
        body: xml,
        next_attempt_at: now,
        created_at: now,
    };
    let mut tx = app.store.write().await?;
    let id = koudai_store::notifications::enqueue_mp(&mut tx, &n, &account.appid).await?;
    tx.commit().await?;
    let wall = app.clock.wall_now().unix();
    if let Some(claimed) = app.store.claim_notification(id, wall, wall + LEASE_S).await? {
        deliver(app, claimed).await;
    }
    let n = app.store.notification(id).await?.ok_or_else(|| Internal::bug("a push vanished"))?;
    Ok(Some(n.status == koudai_store::NotificationStatus::Delivered))
}

/// Pushes now and waits for the answer: whether the server took it, and
/// its parsed passive reply. (Retries, if it failed, follow in the jobs.)
pub async fn push_now(
    app: &Arc<App>,
    account: &MpAccount,
    openid: &str,
    push: &Push,
) -> Result<(bool, Option<Value>), MpFailure> {
    let (delivered, reply, _) = push_now_with_id(app, account, openid, push).await?;
    Ok((delivered, reply))
}

/// [`push_now`], also returning the push's notification id.
pub async fn push_now_with_id(
    app: &Arc<App>,
    account: &MpAccount,
    openid: &str,
    push: &Push,
) -> Result<(bool, Option<Value>, i64), MpFailure> {
    let id = enqueue(app, account, openid, push).await?;
    let wall = app.clock.wall_now().unix();
    if let Some(n) = app.store.claim_notification(id, wall, wall + LEASE_S).await? {
        deliver(app, n).await;
    }
    let n = app.store.notification(id).await?.ok_or_else(|| Internal::bug("a push vanished"))?;
    let delivered = n.status == koudai_store::NotificationStatus::Delivered;
    let reply = n.reply.as_deref().and_then(|r| serde_json::from_str(r).ok());
    Ok((delivered, reply, id))
}

/// A consumer acting on an account's page: the push (if the account has a
/// server) and the line in the consumer's chat; follow and unfollow are
/// recorded whatever the server says.
pub async fn consumer_sends(
    app: &Arc<App>,
    account: &MpAccount,
    login: &str,
    push: &Push,
    summary: &str,
) -> Result<(), MpFailure> {
    let openid = app.store.ensure_openid(login, &account.appid, &ids::openid(&app.rng.bytes())).await?;
    let now = app.clock.business_now().unix();
    if let Push::Event { event, .. } | Push::Scan { event, .. } = push {
        match event.as_str() {
            "subscribe" => {
                let was = app.store.is_following(&account.appid, &openid).await?;
                app.store.set_following(&account.appid, &openid, true, now).await?;
                if !was {
                    crate::discovery::attribute_follow(app, login, &account.appid).await?;
                }
            }
            "unsubscribe" => app.store.set_following(&account.appid, &openid, false, now).await?,
            _ => {}
        }
    }
    let id = if account.server_url.as_deref().is_some_and(|u| !u.is_empty()) {
        Some(push_now_with_id(app, account, &openid, push).await?.2)
    } else {
        None
    };
    app.store.add_chat_line(&account.appid, &openid, summary, id, now).await?;
    Ok(())
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// Sends one claimed push and records the attempt.
pub(crate) async fn deliver(app: &App, n: Notification) {
    let account = match app.store.mp_account(n.appid.as_deref().unwrap_or_default()).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::error!(notification.id = n.id, "a push's account does not exist");
            return;
        }
        Err(e) => {
            tracing::warn!(notification.id = n.id, error = %e, "loading an account for a push failed");
            return;
        }
    };
    let timestamp = app.clock.wall_now().unix().to_string();
    let nonce = (u32::from_be_bytes(app.rng.bytes()) % 1_000_000_000).to_string();
    let openid = mp_xml::parse(&n.body).and_then(|m| m.get("FromUserName").cloned()).unwrap_or_default();
    let sig = signature(&[&account.token, &timestamp, &nonce]);
    let mut query = vec![
        ("signature", sig.clone()),
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
        ("openid", openid),
    ];
    let body = match account.message_mode.as_str() {
        "safe" | "compatible" => {
            let encrypted =
                match mp_crypto::encrypt(&account.encoding_aes_key, &account.appid, &app.rng.bytes(), &n.body) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!(notification.id = n.id, error = %e, "encrypting a push failed");
                        return;
                    }
                };
            query.push(("encrypt_type", "aes".into()));
            query.push(("msg_signature", signature(&[&account.token, &timestamp, &nonce, &encrypted])));
            if account.message_mode == "safe" {
                mp_xml::build(&[Field::Text("ToUserName", &account.original_id), Field::Text("Encrypt", &encrypted)])
            } else {
                let close = n.body.rfind("</xml>").unwrap_or(n.body.len());
                format!("{}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>", &n.body[..close])
            }
        }
        _ => n.body.clone(),
    };
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = with_query(&n.notify_url, &pairs);
    send_and_record(app, &n, &url, body, |text| (true, read_reply(&account, text))).await;
}

/// Sends one claimed component push (verify ticket or authorisation event)
/// to the third party's event URL: always sealed with the component's key,
/// the trailing appid and the `AppId` element being the component appid;
/// the third party must answer `success`.
pub(crate) async fn deliver_component(app: &App, n: Notification) {
    let component = match app.store.component(n.appid.as_deref().unwrap_or_default()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::error!(notification.id = n.id, "a component push's component does not exist");
            return;
        }
        Err(e) => {
            tracing::warn!(notification.id = n.id, error = %e, "loading a component for a push failed");
            return;
        }
    };
    let timestamp = app.clock.wall_now().unix().to_string();
    let nonce = (u32::from_be_bytes(app.rng.bytes()) % 1_000_000_000).to_string();
    let encrypted =
        match mp_crypto::encrypt(&component.encoding_aes_key, &component.component_appid, &app.rng.bytes(), &n.body) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(notification.id = n.id, error = %e, "encrypting a component push failed");
                return;
            }
        };
    let sig = signature(&[&component.token, &timestamp, &nonce]);
    let msg_sig = signature(&[&component.token, &timestamp, &nonce, &encrypted]);
    let url = with_query(
        &n.notify_url,
        &[
            ("signature", &sig),
            ("timestamp", &timestamp),
            ("nonce", &nonce),
            ("encrypt_type", "aes"),
            ("msg_signature", &msg_sig),
        ],
    );
    let body = mp_xml::build(&[Field::Text("AppId", &component.component_appid), Field::Text("Encrypt", &encrypted)]);
    send_and_record(app, &n, &url, body, |text| (text.trim() == "success", None)).await;
}

/// Posts `body` to `url` within the reply window and records the attempt;
/// `judge` reads a 2xx answer: whether it counts as delivered, and the
/// reply to keep.
async fn send_and_record(
    app: &App,
    n: &Notification,
    url: &str,
    body: String,
    judge: impl FnOnce(&str) -> (bool, Option<Value>),
) {
    let attempt_no = n.attempts + 1;
    let attempted_at = app.clock.business_now().unix();
    let started = Instant::now();
    let (http_status, mut error, text) = match app.outbound.post(url) {
        Err(refusal) => (None, Some(refusal.to_string()), None),
        Ok(request) => {
            let sent = request.header("content-type", "text/xml").timeout(REPLY_WINDOW).body(body).send().await;
            match sent {
                Ok(resp) => {
                    let status = i64::from(resp.status().as_u16());
                    match resp.text().await {
                        Ok(t) => (Some(status), None, Some(t)),
                        Err(e) => (Some(status), Some(crate::outbox::error_chain(&e)), None),
                    }
                }
                Err(e) => (None, Some(crate::outbox::error_chain(&e)), None),
            }
        }
    };
    let (delivered, reply) = match (&text, http_status) {
        (Some(t), Some(s)) if (200..300).contains(&s) => {
            let (ok, reply) = judge(t);
            if !ok {
                error = Some(format!("answered {:?}, not success", t.chars().take(80).collect::<String>()));
            }
            (ok, reply)
        }
        _ => (false, None),
    };
    let after = if delivered {
        AfterAttempt::Delivered
    } else if attempt_no >= TRIES {
        AfterAttempt::GiveUp
    } else {
        AfterAttempt::RetryAt(attempted_at + RETRY_AFTER_S)
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let error = error.map(|e| e.chars().take(300).collect());
    let attempt = Attempt { attempt_no, attempted_at, http_status, error, duration_ms };
    if let Some(reply) = &reply {
        if let Err(e) = app.store.set_notification_reply(n.id, &reply.to_string()).await {
            tracing::warn!(notification.id = n.id, error = %e, "keeping a passive reply failed");
        }
    }
    if let Err(e) = app.store.record_attempt(n.id, &attempt, after).await {
        tracing::warn!(notification.id = n.id, error = %e, "recording a push attempt failed; it will be sent again");
    }
}

/// The passive reply in a server's answer: nothing for an empty body or
/// `success`; the XML read by tag name, decrypted first if it is sealed
/// (its `MsgSignature` must verify).
fn read_reply(account: &MpAccount, text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() || text == "success" {
        return None;
    }
    let mut fields = mp_xml::parse(text)?;
    if let Some(encrypted) = fields.get("Encrypt").cloned() {
        let ts = fields.get("TimeStamp").cloned().unwrap_or_default();
        let nonce = fields.get("Nonce").cloned().unwrap_or_default();
        let claimed = fields.get("MsgSignature").cloned().unwrap_or_default();
        if signature(&[&account.token, &ts, &nonce, &encrypted]) != claimed {
            return Some(json!({"error": "the reply's MsgSignature does not verify"}));
        }
        let plain = mp_crypto::decrypt(&account.encoding_aes_key, &account.appid, &encrypted).ok()?;
        fields = mp_xml::parse(&plain)?;
    }
    let msg_type = fields.get("MsgType")?.to_ascii_lowercase();
    let mut out = json!({"msg_type": msg_type});
    match msg_type.as_str() {
        "text" => out["content"] = json!(fields.get("Content").cloned().unwrap_or_default()),
        "image" => out["media_id"] = json!(fields.get("Image.MediaId").cloned().unwrap_or_default()),
        "voice" => out["media_id"] = json!(fields.get("Voice.MediaId").cloned().unwrap_or_default()),
        "news" => {
            let mut articles = Vec::new();
            for i in 0.. {
                let Some(title) = fields.get(&format!("Articles.item[{i}].Title")) else { break };
                let get = |f: &str| fields.get(&format!("Articles.item[{i}].{f}")).cloned().unwrap_or_default();
                articles.push(json!({"title": title, "description": get("Description"), "pic_url": get("PicUrl"), "url": get("Url")}));
            }
            out["articles"] = json!(articles);
        }
        _ => {}
    }
    Some(out)
}

/// Runs the URL verification handshake (`echostr`, §4.1) against `url`
/// with the account's Token: the server must answer the echostr verbatim.
pub async fn verify_server(app: &App, account: &MpAccount, url: &str) -> Result<(), String> {
    handshake(app, &account.token, url).await
}

/// The `echostr` handshake against `url`, signed with `token`.
pub async fn handshake(app: &App, token: &str, url: &str) -> Result<(), String> {
    let timestamp = app.clock.wall_now().unix().to_string();
    let nonce = (u32::from_be_bytes(app.rng.bytes()) % 1_000_000_000).to_string();
    let echostr = (u64::from_be_bytes(app.rng.bytes()) % 10_000_000_000_000_000).to_string();
    let sig = signature(&[token, &timestamp, &nonce]);
    let full =
        with_query(url, &[("signature", &sig), ("timestamp", &timestamp), ("nonce", &nonce), ("echostr", &echostr)]);
    let request = app.outbound.get(&full).map_err(|e| e.to_string())?;
    let resp = request
        .timeout(REPLY_WINDOW)
        .send()
        .await
        .map_err(|e| format!("the server did not answer: {}", crate::outbox::error_chain(&e)))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if status.is_success() && body.trim() == echostr {
        Ok(())
    } else {
        Err(format!(
            "the server answered {status} with {:?}, not the echostr",
            body.chars().take(80).collect::<String>()
        ))
    }
}

/// Why a server setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("no official account {0}")]
    NoAccount(String),
    #[error("message_mode is plain, compatible or safe")]
    BadMode,
    #[error("the URL must be http(s)")]
    BadUrl,
    #[error("URL verification failed: {0}")]
    Handshake(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Sets an account's server: the handshake runs first when the URL
/// changes, and the setting takes effect at once.
pub async fn set_server(app: &App, appid: &str, url: &str, mode: &str) -> Result<(), ServerError> {
    let account = app
        .store
        .mp_account(appid)
        .await
        .map_err(Internal::from)?
        .ok_or_else(|| ServerError::NoAccount(appid.into()))?;
    if !MODES.contains(&mode) {
        return Err(ServerError::BadMode);
    }
    let parsed = url::Url::parse(url).map_err(|_| ServerError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ServerError::BadUrl);
    }
    if account.server_url.as_deref() != Some(url) {
        verify_server(app, &account, url).await.map_err(ServerError::Handshake)?;
    }
    app.store.set_mp_server(appid, Some(url), mode).await.map_err(Internal::from)?;
    Ok(())
}
