//! The errcodes of the third-party platform's API (`/cgi-bin/component/…`,
//! protocol notes `wechat-mp.md` §6.2) and of web OAuth (`/sns/…`, §5): the
//! refusals of `koudai_app::mp::component` and `koudai_app::mp::oauth` as
//! the real server words them, each pinned in the tests below.

use koudai_app::mp::component::{
    AuthorizationRefusal, AuthorizerInfoError, AuthorizerListError, AuthorizerTokenError, ComponentAuthError,
    ComponentTokenError, CredentialRefusal, OauthRefusal, OptionError, PreAuthCodeError, QueryAuthError,
    StartPushError, TokenRefusal,
};
use koudai_app::mp::oauth::{ExchangeError, RefreshError, UserTokenError};
use koudai_protocol::mp::MpError;

use super::Failure;

impl From<CredentialRefusal> for Failure {
    fn from(e: CredentialRefusal) -> Self {
        Failure::Refused(match e {
            CredentialRefusal::AppidMissing => MpError::appid_missing(),
            CredentialRefusal::UnknownComponent => MpError::invalid_component(),
            CredentialRefusal::SecretMissing => MpError::appsecret_missing(),
            CredentialRefusal::WrongSecret => MpError::invalid_appsecret(),
        })
    }
}

impl From<ComponentTokenError> for Failure {
    fn from(e: ComponentTokenError) -> Self {
        Failure::Refused(match e {
            ComponentTokenError::Credentials(r) => return r.into(),
            ComponentTokenError::Quota => MpError::daily_quota(),
            ComponentTokenError::TicketInvalid => MpError::ticket_invalid(),
            ComponentTokenError::TicketExpired => MpError::ticket_expired(),
            ComponentTokenError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<StartPushError> for Failure {
    fn from(e: StartPushError) -> Self {
        match e {
            StartPushError::Credentials(r) => r.into(),
            StartPushError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<TokenRefusal> for Failure {
    fn from(e: TokenRefusal) -> Self {
        Failure::Refused(match e {
            TokenRefusal::Missing => MpError::access_token_missing(),
            TokenRefusal::Invalid => MpError::invalid_credential(),
            TokenRefusal::Expired => MpError::access_token_expired(),
            TokenRefusal::OtherComponent => MpError::invalid_component(),
        })
    }
}

impl From<ComponentAuthError> for Failure {
    fn from(e: ComponentAuthError) -> Self {
        match e {
            ComponentAuthError::Token(r) => r.into(),
            ComponentAuthError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<PreAuthCodeError> for Failure {
    fn from(e: PreAuthCodeError) -> Self {
        match e {
            PreAuthCodeError::Quota => MpError::daily_quota().into(),
            PreAuthCodeError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<AuthorizationRefusal> for Failure {
    fn from(e: AuthorizationRefusal) -> Self {
        Failure::Refused(match e {
            AuthorizationRefusal::AppidMissing => MpError::appid_missing(),
            AuthorizationRefusal::NotAuthorized => MpError::component_not_authorized(),
        })
    }
}

impl From<QueryAuthError> for Failure {
    fn from(e: QueryAuthError) -> Self {
        Failure::Refused(match e {
            QueryAuthError::Quota => MpError::daily_quota(),
            QueryAuthError::CodeInvalid => MpError::code_invalid(),
            QueryAuthError::CodeExpired => MpError::code_expired(),
            QueryAuthError::Authorization(r) => return r.into(),
            QueryAuthError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<AuthorizerTokenError> for Failure {
    fn from(e: AuthorizerTokenError) -> Self {
        Failure::Refused(match e {
            AuthorizerTokenError::Quota => MpError::daily_quota(),
            AuthorizerTokenError::RefreshTokenInvalid => MpError::refresh_token_invalid(),
            AuthorizerTokenError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<AuthorizerInfoError> for Failure {
    fn from(e: AuthorizerInfoError) -> Self {
        Failure::Refused(match e {
            AuthorizerInfoError::Quota => MpError::daily_quota(),
            AuthorizerInfoError::Authorization(r) => return r.into(),
            AuthorizerInfoError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<AuthorizerListError> for Failure {
    fn from(e: AuthorizerListError) -> Self {
        Failure::Refused(match e {
            AuthorizerListError::Quota => MpError::daily_quota(),
            AuthorizerListError::BadPage => MpError::invalid_args(),
            AuthorizerListError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<OptionError> for Failure {
    fn from(e: OptionError) -> Self {
        Failure::Refused(match e {
            OptionError::Authorization(r) => return r.into(),
            OptionError::UnknownName => MpError::invalid_option_name(),
            OptionError::BadValue => MpError::invalid_option_value(),
            OptionError::Internal(e) => return Failure::Internal(e),
        })
    }
}

/// A component acting for an account without the right to (61007, saying
/// why).
impl From<OauthRefusal> for Failure {
    fn from(e: OauthRefusal) -> Self {
        Failure::Refused(match &e {
            OauthRefusal::UnknownComponent(_) | OauthRefusal::NotAuthorized(_) | OauthRefusal::SetNotGranted(_) => {
                MpError::api_unauthorized_to_component(&e.to_string())
            }
        })
    }
}

impl From<ExchangeError> for Failure {
    fn from(e: ExchangeError) -> Self {
        Failure::Refused(match e {
            ExchangeError::GrantType => MpError::invalid_grant_type(),
            ExchangeError::AppidMissing => MpError::appid_missing(),
            ExchangeError::UnknownAppid => MpError::invalid_appid(),
            ExchangeError::WrongSecret => MpError::invalid_appsecret(),
            ExchangeError::ComponentToken(r) => return r.into(),
            ExchangeError::NotAllowed(r) => return r.into(),
            ExchangeError::CodeMissing => MpError::missing_code(),
            ExchangeError::CodeInvalid => MpError::invalid_code(),
            ExchangeError::CodeUsed => MpError::code_been_used(),
            ExchangeError::CodeExpired => MpError::oauth_code_expired(),
            ExchangeError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<RefreshError> for Failure {
    fn from(e: RefreshError) -> Self {
        Failure::Refused(match e {
            RefreshError::GrantType => MpError::invalid_grant_type(),
            RefreshError::AppidMissing => MpError::appid_missing(),
            RefreshError::UnknownAppid => MpError::invalid_appid(),
            RefreshError::ComponentToken(r) => return r.into(),
            RefreshError::NotAllowed(r) => return r.into(),
            RefreshError::RefreshTokenInvalid => MpError::invalid_refresh_token(),
            RefreshError::RefreshTokenExpired => MpError::refresh_token_expired(),
            RefreshError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<UserTokenError> for Failure {
    fn from(e: UserTokenError) -> Self {
        Failure::Refused(match e {
            UserTokenError::Missing => MpError::access_token_missing(),
            UserTokenError::Invalid => MpError::invalid_credential(),
            UserTokenError::Expired => MpError::access_token_expired(),
            UserTokenError::WrongOpenid => MpError::invalid_openid(),
            UserTokenError::BaseScope => MpError::api_unauthorized(),
            UserTokenError::Internal(e) => return Failure::Internal(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use koudai_app::Internal;

    use super::*;

    /// The `(errcode, errmsg)` a failure answers with.
    fn wire(f: impl Into<Failure>) -> (i64, String) {
        match f.into() {
            Failure::Refused(e) => (e.errcode, e.errmsg),
            Failure::Internal(_) => (-1, "system error".into()),
        }
    }

    fn bug() -> Internal {
        Internal::bug("x")
    }

    fn pin<E: Into<Failure>>(cases: Vec<(E, i64, &str)>) {
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    const QUOTA: (i64, &str) = (45009, "reach max api daily quota limit");
    const NOT_OURS: &str = "api is unauthorized to component: the account has not authorised third-party platform \
                            wxc0ffee";
    const NO_SET: &str = "api is unauthorized to component: web OAuth on behalf of the account needs permission set \
                          4 or 9 granted and the provider's privilege behind it";

    fn credentials() -> Vec<(CredentialRefusal, i64, &'static str)> {
        vec![
            (CredentialRefusal::AppidMissing, 41002, "appid missing"),
            (CredentialRefusal::UnknownComponent, 61011, "invalid component"),
            (CredentialRefusal::SecretMissing, 41004, "appsecret missing"),
            (CredentialRefusal::WrongSecret, 40125, "invalid appsecret"),
        ]
    }

    fn tokens() -> Vec<(TokenRefusal, i64, &'static str)> {
        vec![
            (TokenRefusal::Missing, 41001, "access_token missing"),
            (TokenRefusal::Invalid, 40001, "invalid credential, access_token is invalid or not latest"),
            (TokenRefusal::Expired, 42001, "access_token expired"),
            (TokenRefusal::OtherComponent, 61011, "invalid component"),
        ]
    }

    fn authorizations() -> Vec<(AuthorizationRefusal, i64, &'static str)> {
        vec![
            (AuthorizationRefusal::AppidMissing, 41002, "appid missing"),
            (AuthorizationRefusal::NotAuthorized, 61003, "component is not authorized by this account"),
        ]
    }

    fn oauth_refusals() -> Vec<(OauthRefusal, i64, &'static str)> {
        vec![
            (
                OauthRefusal::UnknownComponent("wxc0ffee".into()),
                61007,
                "api is unauthorized to component: no third-party platform wxc0ffee",
            ),
            (OauthRefusal::NotAuthorized("wxc0ffee".into()), 61007, NOT_OURS),
            (OauthRefusal::SetNotGranted(vec![4, 9]), 61007, NO_SET),
        ]
    }

    #[test]
    fn component_credentials_refused() {
        pin(credentials());
        let mut cases: Vec<(ComponentTokenError, i64, &str)> =
            credentials().into_iter().map(|(r, c, m)| (ComponentTokenError::Credentials(r), c, m)).collect();
        cases.extend([
            (ComponentTokenError::Quota, QUOTA.0, QUOTA.1),
            (ComponentTokenError::TicketInvalid, 61006, "component ticket is invalid"),
            (ComponentTokenError::TicketExpired, 61005, "component ticket is expired"),
            (ComponentTokenError::Internal(bug()), -1, "system error"),
        ]);
        pin(cases);
        let mut cases: Vec<(StartPushError, i64, &str)> =
            credentials().into_iter().map(|(r, c, m)| (StartPushError::Credentials(r), c, m)).collect();
        cases.push((StartPushError::Internal(bug()), -1, "system error"));
        pin(cases);
    }

    #[test]
    fn component_tokens_refused() {
        pin(tokens());
        let mut cases: Vec<(ComponentAuthError, i64, &str)> =
            tokens().into_iter().map(|(r, c, m)| (ComponentAuthError::Token(r), c, m)).collect();
        cases.push((ComponentAuthError::Internal(bug()), -1, "system error"));
        pin(cases);
    }

    #[test]
    fn component_calls_refused() {
        pin(vec![(PreAuthCodeError::Quota, QUOTA.0, QUOTA.1), (PreAuthCodeError::Internal(bug()), -1, "system error")]);
        pin(authorizations());
        let mut cases: Vec<(QueryAuthError, i64, &str)> =
            authorizations().into_iter().map(|(r, c, m)| (QueryAuthError::Authorization(r), c, m)).collect();
        cases.extend([
            (QueryAuthError::Quota, QUOTA.0, QUOTA.1),
            (QueryAuthError::CodeInvalid, 61009, "code is invalid"),
            (QueryAuthError::CodeExpired, 61010, "code is expired"),
            (QueryAuthError::Internal(bug()), -1, "system error"),
        ]);
        pin(cases);
        pin(vec![
            (AuthorizerTokenError::Quota, QUOTA.0, QUOTA.1),
            (AuthorizerTokenError::RefreshTokenInvalid, 61023, "refresh_token is invalid"),
            (AuthorizerTokenError::Internal(bug()), -1, "system error"),
        ]);
        let mut cases: Vec<(AuthorizerInfoError, i64, &str)> =
            authorizations().into_iter().map(|(r, c, m)| (AuthorizerInfoError::Authorization(r), c, m)).collect();
        cases.extend([
            (AuthorizerInfoError::Quota, QUOTA.0, QUOTA.1),
            (AuthorizerInfoError::Internal(bug()), -1, "system error"),
        ]);
        pin(cases);
        pin(vec![
            (AuthorizerListError::Quota, QUOTA.0, QUOTA.1),
            (AuthorizerListError::BadPage, 40097, "invalid args"),
            (AuthorizerListError::Internal(bug()), -1, "system error"),
        ]);
        let mut cases: Vec<(OptionError, i64, &str)> =
            authorizations().into_iter().map(|(r, c, m)| (OptionError::Authorization(r), c, m)).collect();
        cases.extend([
            (OptionError::UnknownName, 61019, "invalid option name"),
            (OptionError::BadValue, 61020, "invalid option value"),
            (OptionError::Internal(bug()), -1, "system error"),
        ]);
        pin(cases);
    }

    #[test]
    fn oauth_exchanges_refused() {
        pin(oauth_refusals());
        let mut cases: Vec<(ExchangeError, i64, &str)> = vec![
            (ExchangeError::GrantType, 40002, "invalid grant_type"),
            (ExchangeError::AppidMissing, 41002, "appid missing"),
            (ExchangeError::UnknownAppid, 40013, "invalid appid"),
            (ExchangeError::WrongSecret, 40125, "invalid appsecret"),
            (ExchangeError::CodeMissing, 41008, "missing code"),
            (ExchangeError::CodeInvalid, 40029, "invalid code"),
            (ExchangeError::CodeUsed, 40163, "code been used"),
            (ExchangeError::CodeExpired, 42003, "code expired"),
            (ExchangeError::Internal(bug()), -1, "system error"),
        ];
        cases.extend(tokens().into_iter().map(|(r, c, m)| (ExchangeError::ComponentToken(r), c, m)));
        cases.extend(oauth_refusals().into_iter().map(|(r, c, m)| (ExchangeError::NotAllowed(r), c, m)));
        pin(cases);
        let mut cases: Vec<(RefreshError, i64, &str)> = vec![
            (RefreshError::GrantType, 40002, "invalid grant_type"),
            (RefreshError::AppidMissing, 41002, "appid missing"),
            (RefreshError::UnknownAppid, 40013, "invalid appid"),
            (RefreshError::RefreshTokenInvalid, 40030, "invalid refresh_token"),
            (RefreshError::RefreshTokenExpired, 42002, "refresh_token expired"),
            (RefreshError::Internal(bug()), -1, "system error"),
        ];
        cases.extend(tokens().into_iter().map(|(r, c, m)| (RefreshError::ComponentToken(r), c, m)));
        cases.extend(oauth_refusals().into_iter().map(|(r, c, m)| (RefreshError::NotAllowed(r), c, m)));
        pin(cases);
    }

    #[test]
    fn user_tokens_refused() {
        pin(vec![
            (UserTokenError::Missing, 41001, "access_token missing"),
            (UserTokenError::Invalid, 40001, "invalid credential, access_token is invalid or not latest"),
            (UserTokenError::Expired, 42001, "access_token expired"),
            (UserTokenError::WrongOpenid, 40003, "invalid openid"),
            (UserTokenError::BaseScope, 48001, "api unauthorized"),
            (UserTokenError::Internal(bug()), -1, "system error"),
        ]);
    }
}
