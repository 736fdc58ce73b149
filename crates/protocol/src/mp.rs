//! The Official Account / third-party platform wire conventions (protocol
//! notes `wechat-mp.md` §1): every business error is HTTP 200 with an
//! integer `errcode` and an `errmsg`; the codes as the real server sends
//! them.

use serde_json::json;

use koudai_domain::mp::{MatchRuleError, MenuError};

/// An `errcode` with its `errmsg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpError {
    pub errcode: i64,
    pub errmsg: String,
}

impl MpError {
    pub fn new(errcode: i64, errmsg: impl Into<String>) -> MpError {
        MpError { errcode, errmsg: errmsg.into() }
    }

    /// `{"errcode": N, "errmsg": "…"}`.
    pub fn body(&self) -> Vec<u8> {
        json!({"errcode": self.errcode, "errmsg": self.errmsg}).to_string().into_bytes()
    }

    pub fn system() -> MpError {
        MpError::new(-1, "system error")
    }
    pub fn invalid_credential() -> MpError {
        MpError::new(40001, "invalid credential, access_token is invalid or not latest")
    }
    pub fn invalid_grant_type() -> MpError {
        MpError::new(40002, "invalid grant_type")
    }
    pub fn invalid_appid() -> MpError {
        MpError::new(40013, "invalid appid")
    }
    pub fn invalid_access_token() -> MpError {
        MpError::new(40014, "invalid access_token")
    }
    pub fn invalid_appsecret() -> MpError {
        MpError::new(40125, "invalid appsecret")
    }
    pub fn invalid_ip(ip: &str) -> MpError {
        MpError::new(40164, format!("invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist"))
    }
    pub fn access_token_missing() -> MpError {
        MpError::new(41001, "access_token missing")
    }
    pub fn appid_missing() -> MpError {
        MpError::new(41002, "appid missing")
    }
    pub fn appsecret_missing() -> MpError {
        MpError::new(41004, "appsecret missing")
    }
    pub fn access_token_expired() -> MpError {
        MpError::new(42001, "access_token expired")
    }
    pub fn require_get() -> MpError {
        MpError::new(43001, "require GET method")
    }
    pub fn require_post() -> MpError {
        MpError::new(43002, "require POST method")
    }
    pub fn empty_post_data() -> MpError {
        MpError::new(44002, "empty post data")
    }
    pub fn daily_quota() -> MpError {
        MpError::new(45009, "reach max api daily quota limit")
    }
    pub fn menu_no_exist() -> MpError {
        MpError::new(46003, "menu no exist")
    }
    pub fn data_format() -> MpError {
        MpError::new(47001, "data format error")
    }
    pub fn api_unauthorized() -> MpError {
        MpError::new(48001, "api unauthorized")
    }
    pub fn no_such_menuid() -> MpError {
        MpError::new(65301, "no such menuid")
    }
    pub fn no_such_user() -> MpError {
        MpError::new(65302, "no such user")
    }
    pub fn no_default_menu() -> MpError {
        MpError::new(65303, "there is no selfmenu, please create selfmenu first")
    }
    pub fn match_rule_empty() -> MpError {
        MpError::new(65304, "match rule empty")
    }
    pub fn menu_count_limit() -> MpError {
        MpError::new(65305, "menu count limit")
    }
    pub fn invalid_args() -> MpError {
        MpError::new(40097, "invalid args")
    }
    pub fn component_not_authorized() -> MpError {
        MpError::new(61003, "component is not authorized by this account")
    }
    pub fn ticket_expired() -> MpError {
        MpError::new(61005, "component ticket is expired")
    }
    pub fn ticket_invalid() -> MpError {
        MpError::new(61006, "component ticket is invalid")
    }
    /// 61007, with what is missing after the canonical text.
    pub fn api_unauthorized_to_component(why: &str) -> MpError {
        MpError::new(61007, format!("api is unauthorized to component: {why}"))
    }
    pub fn code_invalid() -> MpError {
        MpError::new(61009, "code is invalid")
    }
    pub fn code_expired() -> MpError {
        MpError::new(61010, "code is expired")
    }
    pub fn invalid_component() -> MpError {
        MpError::new(61011, "invalid component")
    }
    pub fn invalid_option_name() -> MpError {
        MpError::new(61019, "invalid option name")
    }
    pub fn invalid_option_value() -> MpError {
        MpError::new(61020, "invalid option value")
    }
    pub fn refresh_token_invalid() -> MpError {
        MpError::new(61023, "refresh_token is invalid")
    }
    pub fn match_rule_deprecated() -> MpError {
        MpError::new(65320, "the matchrule field is no longer supported")
    }
    /// 40003: an openid that is not one of the account's.
    pub fn invalid_openid() -> MpError {
        MpError::new(40003, "invalid openid")
    }
    /// 40005: an upload of a type the API does not take.
    pub fn invalid_file_type() -> MpError {
        MpError::new(40005, "invalid file type")
    }
    /// 40009: an image too large (or unreadable as one).
    pub fn invalid_image_size() -> MpError {
        MpError::new(40009, "invalid image size")
    }
    /// 40009, saying the limit.
    pub fn invalid_image_size_limit(limit: &str) -> MpError {
        MpError::new(40009, format!("invalid image size: {limit}"))
    }
    /// 40029: an OAuth code that is not one.
    pub fn invalid_code() -> MpError {
        MpError::new(40029, "invalid code")
    }
    /// 40030: a refresh token that is not one.
    pub fn invalid_refresh_token() -> MpError {
        MpError::new(40030, "invalid refresh_token")
    }
    /// 40053: a QR code's `action_info` that does not read, saying why.
    pub fn invalid_action_info(why: &str) -> MpError {
        MpError::new(40053, format!("invalid action info: {why}"))
    }
    /// 40066: a URL the API does not serve.
    pub fn invalid_url() -> MpError {
        MpError::new(40066, "invalid url")
    }
    /// 40097 naming what is wrong (the shop API's answer to any bad field).
    pub fn invalid_args_because(why: &str) -> MpError {
        MpError::new(40097, format!("invalid args: {why}"))
    }
    /// 40097 with a hint, as the store (POI) API words it.
    pub fn invalid_args_hint(hint: &str) -> MpError {
        MpError::new(40097, format!("invalid args hint: [{hint}]"))
    }
    /// 40113: an upload of a type the shop does not take.
    pub fn unsupported_file_type(which: &str) -> MpError {
        MpError::new(40113, format!("unsupported file type: {which}"))
    }
    /// 40163: an OAuth code used before.
    pub fn code_been_used() -> MpError {
        MpError::new(40163, "code been used")
    }
    /// 41005: a multipart upload without its file.
    pub fn media_data_missing() -> MpError {
        MpError::new(41005, "media data missing")
    }
    /// 41008: no OAuth code.
    pub fn missing_code() -> MpError {
        MpError::new(41008, "missing code")
    }
    /// 42002: a refresh token past its life.
    pub fn refresh_token_expired() -> MpError {
        MpError::new(42002, "refresh_token expired")
    }
    /// 42003: an OAuth code past its life.
    pub fn oauth_code_expired() -> MpError {
        MpError::new(42003, "code expired")
    }
    /// 48001 saying why the API is closed to the account (a capability the
    /// e-commerce rules do not grant it).
    pub fn api_unauthorized_because(why: &str) -> MpError {
        MpError::new(48001, format!("api unauthorized: {why}"))
    }
    /// 65106: a store not approved (yet).
    pub fn poi_not_approved() -> MpError {
        MpError::new(65106, "poi audit state must be approved")
    }
    /// 65107: a store with an update under audit.
    pub fn poi_not_modifiable() -> MpError {
        MpError::new(65107, "not allow modify")
    }
    /// 65115: a poi_id that is not the account's.
    pub fn invalid_poi_id() -> MpError {
        MpError::new(65115, "invalid poi id")
    }
    /// -1 with Koudai's own reason (a push to an account with no server).
    pub fn system_because(why: &str) -> MpError {
        MpError::new(-1, why)
    }
}

impl From<MenuError> for MpError {
    fn from(e: MenuError) -> Self {
        let code = match e {
            MenuError::ButtonSize => 40016,
            MenuError::ButtonType => 40017,
            MenuError::ButtonName => 40018,
            MenuError::ButtonKey => 40019,
            MenuError::ButtonUrl => 40020,
            MenuError::SubLevel => 40022,
            MenuError::SubButtonSize => 40023,
            MenuError::SubType => 40024,
            MenuError::SubName => 40025,
            MenuError::SubKey => 40026,
            MenuError::SubUrl => 40027,
            MenuError::MediaId => 40007,
            MenuError::ArticleId => 53600,
            MenuError::MiniProgram => 40119,
            MenuError::SubMiniProgram => 40120,
            MenuError::JumpDomains => 65316,
            MenuError::Charset => 40033,
        };
        let message = match e {
            MenuError::Charset => {
                "invalid charset. please check your request, if include \\uxxxx will create fail!".to_owned()
            }
            other => other.to_string(),
        };
        MpError::new(code, message)
    }
}

impl From<MatchRuleError> for MpError {
    fn from(e: MatchRuleError) -> Self {
        match e {
            MatchRuleError::Empty => MpError::match_rule_empty(),
            MatchRuleError::Deprecated => MpError::match_rule_deprecated(),
        }
    }
}

/// The `Content-Type` real replies carry (sic).
pub const CONTENT_TYPE: &str = "application/json; encoding=utf-8";

impl From<koudai_domain::poi::PoiError> for MpError {
    /// A store rule names its errcode (the store API's table).
    fn from(e: koudai_domain::poi::PoiError) -> Self {
        MpError::new(e.errcode, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_are_json_integers_with_a_message() {
        let v: serde_json::Value = serde_json::from_slice(&MpError::access_token_expired().body()).unwrap_or_default();
        assert_eq!(v, json!({"errcode": 42001, "errmsg": "access_token expired"}));
        assert_eq!(MpError::from(MenuError::SubUrl).errcode, 40027);
    }
}
