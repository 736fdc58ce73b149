//! How the official-account surface answers (protocol notes `wechat-mp.md`
//! §1): every answer is HTTP 200 JSON; a refusal is `{"errcode", "errmsg"}`
//! with the code the real server gives. The use cases refuse in business
//! terms (their own error enums); this module and its children are the one
//! place those become errcodes, each by an exhaustive `match` (no `_` arm),
//! pinned variant by variant in the tests beside them. `MpError`'s named
//! constructors (`koudai_protocol::mp`) are the only source of codes.

mod commerce;
mod o2o;
mod platform;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use koudai_app::access::eligibility::AdmitError;
use koudai_app::mp::component::ApiRefusal;
use koudai_app::mp::token::{CallError, CredentialError};
use koudai_app::mp::MenuCallError;
use koudai_app::Internal;
use koudai_domain::mp::{MatchRuleError, MenuError};
use koudai_protocol::mp::{MpError, CONTENT_TYPE};

use crate::layers::InternalCause;

/// A refusal of the surface, or our own failure (answered `-1 system
/// error`, its cause logged once with the request id).
#[derive(Debug)]
pub enum Failure {
    Refused(MpError),
    Internal(Internal),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (body, cause) = match self {
            Failure::Refused(e) => (e.body(), None),
            Failure::Internal(e) => (MpError::system().body(), Some(e.to_string())),
        };
        let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        if let Some(cause) = cause {
            resp.extensions_mut().insert(InternalCause(cause));
        }
        resp
    }
}

/// A successful answer: JSON, HTTP 200.
#[derive(Debug)]
pub struct Answer(pub Value);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], self.0.to_string()).into_response()
    }
}

/// What a handler of the surface returns.
pub type Reply = Result<Answer, Failure>;

/// `{"errcode": 0, "errmsg": "ok"}`.
pub fn ok() -> Answer {
    Answer(json!({"errcode": 0, "errmsg": "ok"}))
}

impl From<MpError> for Failure {
    fn from(e: MpError) -> Self {
        Failure::Refused(e)
    }
}

impl From<Internal> for Failure {
    fn from(e: Internal) -> Self {
        Failure::Internal(e)
    }
}

impl From<koudai_store::StoreError> for Failure {
    fn from(e: koudai_store::StoreError) -> Self {
        Failure::Internal(e.into())
    }
}

/// The shop and store APIs refuse an account the e-commerce rules do not
/// open them to with 48001, saying why.
impl From<AdmitError> for Failure {
    fn from(e: AdmitError) -> Self {
        match e {
            AdmitError::NotAllowed(why) => Failure::Refused(MpError::api_unauthorized_because(&why)),
            AdmitError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Refused(match e {
            CallError::Missing => MpError::access_token_missing(),
            CallError::Malformed => MpError::invalid_access_token(),
            CallError::Expired => MpError::access_token_expired(),
            CallError::NotLatest => MpError::invalid_credential(),
            CallError::ComponentToken => MpError::api_unauthorized(),
            CallError::Component(r) => return r.into(),
            CallError::Quota => MpError::daily_quota(),
            CallError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<ApiRefusal> for Failure {
    fn from(e: ApiRefusal) -> Self {
        Failure::Refused(match &e {
            ApiRefusal::NotAuthorized => MpError::component_not_authorized(),
            ApiRefusal::SetNotGranted { .. } | ApiRefusal::PrivilegeLacking(_) => {
                MpError::api_unauthorized_to_component(&e.to_string())
            }
        })
    }
}

impl From<CredentialError> for Failure {
    fn from(e: CredentialError) -> Self {
        Failure::Refused(match e {
            CredentialError::GrantType => MpError::invalid_grant_type(),
            CredentialError::AppidMissing => MpError::appid_missing(),
            CredentialError::SecretMissing => MpError::appsecret_missing(),
            CredentialError::UnknownAppid => MpError::invalid_appid(),
            CredentialError::WrongSecret => MpError::invalid_appsecret(),
            CredentialError::IpNotAllowed(ip) => MpError::invalid_ip(&ip),
            CredentialError::Quota => MpError::daily_quota(),
            CredentialError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<MenuCallError> for Failure {
    fn from(e: MenuCallError) -> Self {
        Failure::Refused(match e {
            MenuCallError::NoMenu => MpError::menu_no_exist(),
            MenuCallError::NoDefaultMenu => MpError::no_default_menu(),
            MenuCallError::MenuLimit => MpError::menu_count_limit(),
            MenuCallError::NoSuchMenuid => MpError::no_such_menuid(),
            MenuCallError::NoSuchUser => MpError::no_such_user(),
            MenuCallError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<MenuError> for Failure {
    fn from(e: MenuError) -> Self {
        Failure::Refused(e.into())
    }
}

impl From<MatchRuleError> for Failure {
    fn from(e: MatchRuleError) -> Self {
        Failure::Refused(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `(errcode, errmsg)` a failure answers with.
    pub(super) fn wire(f: impl Into<Failure>) -> (i64, String) {
        match f.into() {
            Failure::Refused(e) => (e.errcode, e.errmsg),
            Failure::Internal(_) => (-1, "system error".into()),
        }
    }

    #[test]
    fn calls_refused_before_their_use_case() {
        let cases: Vec<(CallError, i64, &str)> = vec![
            (CallError::Missing, 41001, "access_token missing"),
            (CallError::Malformed, 40014, "invalid access_token"),
            (CallError::Expired, 42001, "access_token expired"),
            (CallError::NotLatest, 40001, "invalid credential, access_token is invalid or not latest"),
            (CallError::ComponentToken, 48001, "api unauthorized"),
            (CallError::Component(ApiRefusal::NotAuthorized), 61003, "component is not authorized by this account"),
            (
                CallError::Component(ApiRefusal::SetNotGranted { api: "menu/create".into(), sets: vec![15, 3] }),
                61007,
                "api is unauthorized to component: menu/create needs permission set 15 or 3, which the account has \
                 not granted",
            ),
            (
                CallError::Component(ApiRefusal::PrivilegeLacking(vec!["custom_menu".into()])),
                61007,
                "api is unauthorized to component: the provider no longer holds the operator privilege custom_menu",
            ),
            (CallError::Quota, 45009, "reach max api daily quota limit"),
            (CallError::Internal(Internal::bug("x")), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn credentials_refused() {
        let cases: Vec<(CredentialError, i64, &str)> = vec![
            (CredentialError::GrantType, 40002, "invalid grant_type"),
            (CredentialError::AppidMissing, 41002, "appid missing"),
            (CredentialError::SecretMissing, 41004, "appsecret missing"),
            (CredentialError::UnknownAppid, 40013, "invalid appid"),
            (CredentialError::WrongSecret, 40125, "invalid appsecret"),
            (
                CredentialError::IpNotAllowed("192.0.2.7".into()),
                40164,
                "invalid ip 192.0.2.7 ipv6 ::ffff:192.0.2.7, not in whitelist",
            ),
            (CredentialError::Quota, 45009, "reach max api daily quota limit"),
            (CredentialError::Internal(Internal::bug("x")), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn menu_calls_refused() {
        let cases: Vec<(MenuCallError, i64, &str)> = vec![
            (MenuCallError::NoMenu, 46003, "menu no exist"),
            (MenuCallError::NoDefaultMenu, 65303, "there is no selfmenu, please create selfmenu first"),
            (MenuCallError::MenuLimit, 65305, "menu count limit"),
            (MenuCallError::NoSuchMenuid, 65301, "no such menuid"),
            (MenuCallError::NoSuchUser, 65302, "no such user"),
            (MenuCallError::Internal(Internal::bug("x")), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }
}
