//! What a consumer does with an official account (protocol notes
//! `wechat-mp.md` §4): messages and events pushed to the account's server,
//! and following ([`follow`], the one place a follow is recorded and
//! attributed). A push is an outbox row of channel `mp` (the outbox signs,
//! encrypts, sends and retries it: five seconds to answer, three tries in
//! all); the XML is the same every time, so the server can deduplicate by
//! `MsgId` (or sender and `CreateTime`). A push that cannot be sent is a
//! [`PushError`]; platform events with no consumer behind them
//! (`poi_check_notify`) go through [`push_system`].

use std::sync::Arc;

use serde_json::Value;

use koudai_domain::ids;
use koudai_domain::schedule::Channel;
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::{MpAccount, NewNotification, NotificationStatus, StoreError};

use crate::{App, Internal};

/// Why a consumer's push was not sent. The refusals' texts are the ones
/// the sandbox and the consumer's pages have always shown.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The sender's openid is not one of the account's.
    #[error("invalid openid")]
    UnknownOpenid,
    /// The account has no server URL to push to.
    #[error("the account has no server URL configured")]
    NoServer,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for PushError {
    fn from(e: StoreError) -> Self {
        PushError::Internal(e.into())
    }
}

/// A push sent now: whether the server took it, its passive reply (as the
/// outbox keeps it) and the push's notification id. (Retries, if it
/// failed, follow in the jobs.)
#[derive(Debug, Clone)]
pub struct Pushed {
    pub delivered: bool,
    pub reply: Option<Value>,
    pub id: i64,
}

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

/// A push of `xml` to the account's server, due now; `None` when the
/// account has no server.
pub fn notification(
    app: &App,
    account: &MpAccount,
    event_type: &str,
    reference: &str,
    xml: String,
) -> Option<NewNotification> {
    let url = account.server_url.clone().filter(|u| !u.is_empty())?;
    let now = app.clock.business_now().unix();
    Some(NewNotification {
        event_id: ids::uuid_v4(&app.rng.bytes()),
        mchid: account.owner_mchid.clone(),
        reference: reference.to_owned(),
        event_type: event_type.to_owned(),
        notify_url: url,
        body: xml,
        next_attempt_at: now,
        created_at: now,
        channel: Channel::Mp,
        key: Some(account.appid.clone()),
    })
}

/// Puts a push in the outbox; returns its notification id. The sender's
/// openid must be one of the account's.
async fn enqueue(app: &App, account: &MpAccount, openid: &str, push: &Push) -> Result<i64, PushError> {
    if !app.store.openid_belongs_to_app(openid, &account.appid).await? {
        return Err(PushError::UnknownOpenid);
    }
    let now = app.clock.business_now().unix();
    let msg_id = i64::from(u32::from_be_bytes(app.rng.bytes())) << 20 | i64::from(u16::from_be_bytes(app.rng.bytes()));
    let xml = message_xml(account, openid, push, now, msg_id);
    let (event_type, reference) = match push {
        Push::Text { .. } => ("mp.text".to_owned(), msg_id.to_string()),
        Push::Event { event, .. } | Push::Scan { event, .. } => {
            (format!("mp.event.{}", event.to_ascii_lowercase()), format!("{openid}:{now}:{event}"))
        }
    };
    let n = notification(app, account, &event_type, &reference, xml).ok_or(PushError::NoServer)?;
    let mut tx = app.store.write().await?;
    let id = koudai_store::notifications::enqueue(&mut tx, &n).await?;
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
    let Some(n) = notification(app, account, event_type, reference, xml) else { return Ok(None) };
    let mut tx = app.store.write().await?;
    let id = koudai_store::notifications::enqueue(&mut tx, &n).await?;
    tx.commit().await?;
    let n = crate::outbox::send_now(app, id).await?;
    Ok(Some(n.status == NotificationStatus::Delivered))
}

/// Pushes what the consumer `openid` sends now and waits for the answer.
pub async fn push_now(app: &Arc<App>, account: &MpAccount, openid: &str, push: &Push) -> Result<Pushed, PushError> {
    let id = enqueue(app, account, openid, push).await?;
    let n = crate::outbox::send_now(app, id).await?;
    let delivered = n.status == NotificationStatus::Delivered;
    let reply = match n.reply.as_deref() {
        Some(r) => Some(serde_json::from_str(r).map_err(|e| Internal::bug(format!("a kept reply: {e}")))?),
        None => None,
    };
    Ok(Pushed { delivered, reply, id })
}

/// A consumer follows an account: the consumer's openid under it (made on
/// first contact) and, unless already following, the follow recorded and
/// attributed to the discovery click that led to it. Returns the openid and
/// whether the follow is new.
pub async fn follow(app: &App, account: &MpAccount, consumer: &str) -> Result<(String, bool), Internal> {
    let openid = app.store.ensure_openid(consumer, &account.appid, &ids::openid(&app.rng.bytes())).await?;
    if app.store.is_following(&account.appid, &openid).await? {
        return Ok((openid, false));
    }
    app.store.set_following(&account.appid, &openid, true, app.clock.business_now().unix()).await?;
    crate::discovery::attribute_follow(app, consumer, &account.appid).await?;
    Ok((openid, true))
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
) -> Result<(), PushError> {
    let now = app.clock.business_now().unix();
    let event = match push {
        Push::Event { event, .. } | Push::Scan { event, .. } => event.as_str(),
        Push::Text { .. } => "",
    };
    let openid = match event {
        "subscribe" => follow(app, account, login).await?.0,
        other => {
            let openid = app.store.ensure_openid(login, &account.appid, &ids::openid(&app.rng.bytes())).await?;
            if other == "unsubscribe" {
                app.store.set_following(&account.appid, &openid, false, now).await?;
            }
            openid
        }
    };
    tell(app, account, &openid, push, summary).await
}

/// What a consumer (`openid`) did reaches the account: the push, if the
/// account has a server, and the line in the consumer's chat.
pub async fn tell(
    app: &Arc<App>,
    account: &MpAccount,
    openid: &str,
    push: &Push,
    summary: &str,
) -> Result<(), PushError> {
    let id = if account.server_url.as_deref().is_some_and(|u| !u.is_empty()) {
        Some(push_now(app, account, openid, push).await?.id)
    } else {
        None
    };
    app.store.add_chat_line(&account.appid, openid, summary, id, app.clock.business_now().unix()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::PushError;

    #[test]
    fn refusals_read_as_they_always_have() {
        assert_eq!(PushError::UnknownOpenid.to_string(), "invalid openid");
        assert_eq!(PushError::NoServer.to_string(), "the account has no server URL configured");
    }
}
