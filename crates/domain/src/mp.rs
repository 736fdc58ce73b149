//! Official accounts (protocol notes `wechat-mp.md`): the custom menu's
//! structure and every validation rule of §3.1, each violation named as the
//! real server names it (§3.2); the token and quota rules as data
//! (`data/mp.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize)]
pub struct MenuLimits {
    pub top_name_bytes: usize,
    pub sub_name_bytes: usize,
    pub key_bytes: usize,
    pub url_bytes: usize,
    pub top_buttons: usize,
    pub sub_buttons: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MpRules {
    pub token_lifetime_s: i64,
    pub token_overlap_s: i64,
    pub stable_token_min_s: i64,
    pub conditional_menu_limit: usize,
    pub jump_domain_limit: usize,
    pub limits: MenuLimits,
    pub daily_quota: BTreeMap<String, i64>,
}

/// The rules shipped with Koudai.
pub fn rules() -> &'static MpRules {
    static RULES: std::sync::OnceLock<MpRules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        // Compiled in and read by a unit test: a broken file fails the tests.
        serde_json::from_str(include_str!("../data/mp.json")).unwrap_or(MpRules {
            token_lifetime_s: 7200,
            token_overlap_s: 300,
            stable_token_min_s: 300,
            conditional_menu_limit: 20,
            jump_domain_limit: 3,
            limits: MenuLimits {
                top_name_bytes: 16,
                sub_name_bytes: 60,
                key_bytes: 128,
                url_bytes: 1024,
                top_buttons: 3,
                sub_buttons: 5,
            },
            daily_quota: BTreeMap::new(),
        })
    })
}

/// What is wrong with a menu, in the server's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MenuError {
    #[error("invalid button size")]
    ButtonSize,
    #[error("invalid button type")]
    ButtonType,
    #[error("invalid button name size")]
    ButtonName,
    #[error("invalid button key size")]
    ButtonKey,
    #[error("invalid button url size")]
    ButtonUrl,
    #[error("invalid sub_menu level")]
    SubLevel,
    #[error("invalid sub button size")]
    SubButtonSize,
    #[error("invalid sub button type")]
    SubType,
    #[error("invalid sub button name size")]
    SubName,
    #[error("invalid sub button key size")]
    SubKey,
    #[error("invalid sub button url size")]
    SubUrl,
    #[error("invalid media_id")]
    MediaId,
    #[error("invalid article_id")]
    ArticleId,
    #[error("invalid use button type")]
    MiniProgram,
    #[error("invalid use sub button type")]
    SubMiniProgram,
    #[error("too many jump domains")]
    JumpDomains,
    #[error("invalid charset")]
    Charset,
}

const KEY_TYPES: &[&str] = &[
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
];

/// A validated button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub name: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sub_button: Vec<Button>,
}

/// The host of an http(s) URL.
fn url_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.host_str().map(str::to_owned))?
}

fn text<'a>(b: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    b.get(field).and_then(Value::as_str)
}

fn leaf(b: &Map<String, Value>, top: bool, domains: &mut Vec<String>) -> Result<Button, MenuError> {
    let limits = &rules().limits;
    let (type_err, key_err, url_err, mini_err) = if top {
        (MenuError::ButtonType, MenuError::ButtonKey, MenuError::ButtonUrl, MenuError::MiniProgram)
    } else {
        (MenuError::SubType, MenuError::SubKey, MenuError::SubUrl, MenuError::SubMiniProgram)
    };
    let kind = text(b, "type").ok_or(type_err)?;
    let name = text(b, "name").unwrap_or_default().to_owned();
    let mut button = Button { name, kind: Some(kind.to_owned()), key: None, url: None, sub_button: vec![] };
    if KEY_TYPES.contains(&kind) {
        let key = text(b, "key").filter(|k| !k.is_empty() && k.len() <= limits.key_bytes).ok_or(key_err)?;
        button.key = Some(key.to_owned());
    } else {
        match kind {
            "view" => {
                let url = text(b, "url").filter(|u| !u.is_empty() && u.len() <= limits.url_bytes).ok_or(url_err)?;
                let host = url_host(url).ok_or(url_err)?;
                if !domains.contains(&host) {
                    domains.push(host);
                }
                button.url = Some(url.to_owned());
            }
            // No mini program is linked to any account yet.
            "miniprogram" => return Err(mini_err),
            // No permanent material or published article exists yet.
            "media_id" | "view_limited" => return Err(MenuError::MediaId),
            "article_id" | "article_view_limited" => return Err(MenuError::ArticleId),
            _ => return Err(type_err),
        }
    }
    Ok(button)
}

/// Checks a menu body (`{"button": [...]}`, as `menu/create` and
/// `addconditional` take it) and returns its buttons.
pub fn validate_menu(body: &Value) -> Result<Vec<Button>, MenuError> {
    let limits = &rules().limits;
    let buttons = body.get("button").and_then(Value::as_array).ok_or(MenuError::ButtonSize)?;
    if buttons.is_empty() || buttons.len() > limits.top_buttons {
        return Err(MenuError::ButtonSize);
    }
    let mut domains = Vec::new();
    let mut out = Vec::new();
    for b in buttons {
        let b = b.as_object().ok_or(MenuError::ButtonSize)?;
        let name = text(b, "name").ok_or(MenuError::ButtonName)?;
        if name.is_empty() || name.len() > limits.top_name_bytes {
            return Err(MenuError::ButtonName);
        }
        match b.get("sub_button") {
            Some(Value::Array(subs)) if !subs.is_empty() || b.get("type").is_none() => {
                if subs.is_empty() || subs.len() > limits.sub_buttons {
                    return Err(MenuError::SubButtonSize);
                }
                let mut children = Vec::new();
                for s in subs {
                    let s = s.as_object().ok_or(MenuError::SubButtonSize)?;
                    if s.get("sub_button").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                        return Err(MenuError::SubLevel);
                    }
                    let sub_name = text(s, "name").ok_or(MenuError::SubName)?;
                    if sub_name.is_empty() || sub_name.len() > limits.sub_name_bytes {
                        return Err(MenuError::SubName);
                    }
                    children.push(leaf(s, false, &mut domains)?);
                }
                out.push(Button { name: name.to_owned(), kind: None, key: None, url: None, sub_button: children });
            }
            Some(Value::Array(_)) | None => out.push(leaf(b, true, &mut domains)?),
            // `sub_button` given as an object or anything but a list.
            Some(_) => return Err(MenuError::ButtonSize),
        }
    }
    if domains.len() > rules().jump_domain_limit {
        return Err(MenuError::JumpDomains);
    }
    Ok(out)
}

/// Whether a raw body holds `\uXXXX` escapes, which `menu/create` refuses
/// (40033): clients must send UTF-8.
pub fn has_unicode_escapes(raw: &[u8]) -> bool {
    raw.windows(2).any(|w| w == b"\\u")
}

/// A conditional menu's rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_platform_type: Option<String>,
}

/// Why a match rule is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MatchRuleError {
    #[error("matchrule is empty")]
    Empty,
    #[error("the field is no longer supported")]
    Deprecated,
}

/// Checks `matchrule`: at least one of `tag_id` and `client_platform_type`
/// (1 iOS, 2 Android, 3 other); the old personal fields are refused.
pub fn validate_matchrule(rule: Option<&Value>) -> Result<MatchRule, MatchRuleError> {
    let rule = rule.and_then(Value::as_object).ok_or(MatchRuleError::Empty)?;
    for old in ["sex", "country", "province", "city", "language", "group_id"] {
        if rule.get(old).is_some_and(|v| !v.is_null() && v.as_str() != Some("")) {
            return Err(MatchRuleError::Deprecated);
        }
    }
    let as_text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let tag_id = rule.get("tag_id").and_then(as_text);
    let platform = rule.get("client_platform_type").and_then(as_text);
    if let Some(p) = &platform {
        if !["1", "2", "3"].contains(&p.as_str()) {
            return Err(MatchRuleError::Empty);
        }
    }
    if tag_id.is_none() && platform.is_none() {
        return Err(MatchRuleError::Empty);
    }
    Ok(MatchRule { tag_id, client_platform_type: platform })
}

/// Whether a rule matches a follower on `platform` with `tags`.
pub fn rule_matches(rule: &MatchRule, platform: &str, tags: &[String]) -> bool {
    rule.client_platform_type.as_deref().is_none_or(|p| p == platform)
        && rule.tag_id.as_ref().is_none_or(|t| tags.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rules_file_loads() {
        let r: MpRules = serde_json::from_str(include_str!("../data/mp.json")).unwrap();
        assert_eq!(r.token_lifetime_s, 7200);
        assert!(r.daily_quota.contains_key("menu/create"));
    }

    #[test]
    fn every_violation_is_named() {
        let click = |name: &str| json!({"type": "click", "name": name, "key": "K"});
        let cases: Vec<(Value, MenuError)> = vec![
            (json!({}), MenuError::ButtonSize),
            (json!({"button": []}), MenuError::ButtonSize),
            (json!({"button": [click("a"), click("b"), click("c"), click("d")]}), MenuError::ButtonSize),
            (json!({"menu": {"button": [click("a")]}}), MenuError::ButtonSize),
            (json!({"button": [{"name": "m", "sub_button": {"list": []}}]}), MenuError::ButtonSize),
            (json!({"button": [{"name": "a", "type": "teleport", "key": "K"}]}), MenuError::ButtonType),
            (json!({"button": [{"name": "a"}]}), MenuError::ButtonType),
            (json!({"button": [click("")]}), MenuError::ButtonName),
            (json!({"button": [click("十七个字节的名字呀")]}), MenuError::ButtonName),
            (json!({"button": [{"type": "click", "name": "a"}]}), MenuError::ButtonKey),
            (json!({"button": [{"type": "click", "name": "a", "key": "k".repeat(129)}]}), MenuError::ButtonKey),
            (json!({"button": [{"type": "view", "name": "a"}]}), MenuError::ButtonUrl),
            (json!({"button": [{"type": "view", "name": "a", "url": "ftp://x"}]}), MenuError::ButtonUrl),
            (
                json!({"button": [{"type": "view", "name": "a", "url": format!("https://x.cn/{}", "p".repeat(1024))}]}),
                MenuError::ButtonUrl,
            ),
            (
                json!({"button": [{"name": "m", "sub_button": [{"name": "s", "sub_button": [click("x")]}]}]}),
                MenuError::SubLevel,
            ),
            (
                json!({"button": [{"name": "m", "sub_button": [click("1"), click("2"), click("3"), click("4"), click("5"), click("6")]}]}),
                MenuError::SubButtonSize,
            ),
            (json!({"button": [{"name": "m", "sub_button": []}]}), MenuError::SubButtonSize),
            (json!({"button": [{"name": "m", "sub_button": [{"name": "s", "type": "teleport"}]}]}), MenuError::SubType),
            (json!({"button": [{"name": "m", "sub_button": [click(&"长".repeat(21))]}]}), MenuError::SubName),
            (json!({"button": [{"name": "m", "sub_button": [{"name": "s", "type": "click"}]}]}), MenuError::SubKey),
            (
                json!({"button": [{"name": "m", "sub_button": [{"name": "s", "type": "view", "key": "k"}]}]}),
                MenuError::SubUrl,
            ),
            (json!({"button": [{"name": "a", "type": "media_id", "media_id": "x"}]}), MenuError::MediaId),
            (json!({"button": [{"name": "a", "type": "article_id", "article_id": "x"}]}), MenuError::ArticleId),
            (
                json!({"button": [{"name": "a", "type": "miniprogram", "appid": "wx1", "pagepath": "p", "url": "https://a.cn"}]}),
                MenuError::MiniProgram,
            ),
            (
                json!({"button": [{"name": "m", "sub_button": [{"name": "s", "type": "miniprogram", "url": "https://a.cn"}]}]}),
                MenuError::SubMiniProgram,
            ),
            (
                json!({"button": [{"name": "m", "sub_button": [
                    {"type": "view", "name": "1", "url": "https://a.cn"}, {"type": "view", "name": "2", "url": "https://b.cn"},
                    {"type": "view", "name": "3", "url": "https://c.cn"}, {"type": "view", "name": "4", "url": "https://d.cn"}]}]}),
                MenuError::JumpDomains,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(validate_menu(&body), Err(want), "{body}");
        }
        let ok = json!({"button": [click("今日歌曲"), {"name": "菜单", "sub_button": [
            {"type": "view", "name": "搜索", "url": "https://www.soso.com/"}, click("赞一下我们")]}]});
        let menu = validate_menu(&ok).unwrap();
        assert_eq!(menu.len(), 2);
        assert_eq!(menu[1].sub_button.len(), 2);
        assert!(has_unicode_escapes(br#"{"name":"\u4eca"}"#) && !has_unicode_escapes("今".as_bytes()));
    }

    #[test]
    fn match_rules() {
        assert_eq!(validate_matchrule(None), Err(MatchRuleError::Empty));
        assert_eq!(validate_matchrule(Some(&json!({}))), Err(MatchRuleError::Empty));
        assert_eq!(validate_matchrule(Some(&json!({"sex": "1"}))), Err(MatchRuleError::Deprecated));
        assert_eq!(validate_matchrule(Some(&json!({"client_platform_type": "9"}))), Err(MatchRuleError::Empty));
        let r = validate_matchrule(Some(&json!({"client_platform_type": "3"}))).unwrap();
        assert!(rule_matches(&r, "3", &[]) && !rule_matches(&r, "1", &[]));
    }
}
