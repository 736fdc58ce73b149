//! The `mp` and `component` channels: pushes to an official account's
//! server (protocol notes `wechat-mp.md` §4) and to a third-party
//! platform's event URL (§6). The row holds the plaintext XML; it is signed
//! with the receiver's Token and, in compatible and safe modes (always for
//! a component), encrypted with its EncodingAESKey when it is sent. The
//! server has five seconds to answer; an account's passive reply is read
//! back (decrypted in safe mode) and kept with the row; a component must
//! answer `success`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use koudai_protocol::mp_crypto::{self, signature};
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::{MpAccount, Notification};

use super::attempt::{refused_by_resolver, Sent};
use crate::runtime::outbound::{error_chain, with_query};
use crate::{App, Rng};

/// How long the receiving server has to answer.
pub const REPLY_WINDOW: Duration = Duration::from_secs(5);

/// A `nonce` as WeChat sends them: up to nine decimal digits.
pub fn nonce(rng: &Rng) -> String {
    (u32::from_be_bytes(rng.bytes()) % 1_000_000_000).to_string()
}

/// Sends one claimed push to an account's server, in the account's message
/// mode.
pub(super) async fn send_account(app: &App, n: &Notification) -> Option<Sent> {
    let account = match app.store.mp_account(n.appid.as_deref().unwrap_or_default()).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::error!(notification.id = n.id, "a push's account does not exist");
            return None;
        }
        Err(e) => {
            tracing::warn!(notification.id = n.id, error = %e, "loading an account for a push failed");
            return None;
        }
    };
    let timestamp = app.clock.wall_now().unix().to_string();
    let nonce = nonce(&app.rng);
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
                        return None;
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
    Some(post_xml(app, &url, body, |text| (true, read_reply(&account, text))).await)
}

/// Sends one claimed component push (verify ticket or authorisation event)
/// to the third party's event URL: always sealed with the component's key,
/// the trailing appid and the `AppId` element being the component appid;
/// the third party must answer `success`.
pub(super) async fn send_component(app: &App, n: &Notification) -> Option<Sent> {
    let component = match app.store.component(n.appid.as_deref().unwrap_or_default()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::error!(notification.id = n.id, "a component push's component does not exist");
            return None;
        }
        Err(e) => {
            tracing::warn!(notification.id = n.id, error = %e, "loading a component for a push failed");
            return None;
        }
    };
    let timestamp = app.clock.wall_now().unix().to_string();
    let nonce = nonce(&app.rng);
    let encrypted =
        match mp_crypto::encrypt(&component.encoding_aes_key, &component.component_appid, &app.rng.bytes(), &n.body) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(notification.id = n.id, error = %e, "encrypting a component push failed");
                return None;
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
    Some(post_xml(app, &url, body, |text| (text.trim() == "success", None)).await)
}

/// Posts `body` to `url` within the reply window; `judge` reads a 2xx
/// answer: whether it counts as delivered, and the reply to keep.
async fn post_xml(app: &App, url: &str, body: String, judge: impl FnOnce(&str) -> (bool, Option<Value>)) -> Sent {
    let attempted_at = app.clock.business_now().unix();
    let started = Instant::now();
    let (http_status, mut error, text, refused) = match app.outbound.post(url) {
        Err(refusal) => (None, Some(refusal.to_string()), None, true),
        Ok(request) => {
            let sent = request.header("content-type", "text/xml").timeout(REPLY_WINDOW).body(body).send().await;
            match sent {
                Ok(resp) => {
                    let status = i64::from(resp.status().as_u16());
                    match resp.text().await {
                        Ok(t) => (Some(status), None, Some(t), false),
                        Err(e) => (Some(status), Some(error_chain(&e)), None, false),
                    }
                }
                Err(e) => (None, Some(error_chain(&e)), None, refused_by_resolver(&e)),
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
    Sent { http_status, delivered, error, refused, reply, attempted_at, started }
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
