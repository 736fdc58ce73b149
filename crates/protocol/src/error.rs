//! The error catalogue: every error Koudai answers on its WeChat-compatible
//! surfaces, with its code, HTTP status and default message.
//!
//! `docs/errors.md` is generated from [`ErrorCode::ALL`] by a test, which
//! fails when the committed file differs.

use serde_json::{json, Value};

use koudai_domain::FieldError;

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ParamError,
    InvalidRequest,
    MchNotExists,
    AppidMchidNotMatch,
    OrderClosed,
    OrderPaid,
    SignError,
    Unauthorized,
    NoAuth,
    OutTradeNoUsed,
    NotEnough,
    OpenidMismatch,
    OrderNotExist,
    ResourceNotExists,
    NoStatisticalData,
    RuleLimit,
    InvalidState,
    NotFound,
    MethodNotAllowed,
    FrequencyLimited,
    SystemError,
    ServiceUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::ParamError,
        ErrorCode::InvalidRequest,
        ErrorCode::MchNotExists,
        ErrorCode::AppidMchidNotMatch,
        ErrorCode::OrderClosed,
        ErrorCode::OrderPaid,
        ErrorCode::SignError,
        ErrorCode::Unauthorized,
        ErrorCode::NoAuth,
        ErrorCode::OutTradeNoUsed,
        ErrorCode::NotEnough,
        ErrorCode::OpenidMismatch,
        ErrorCode::OrderNotExist,
        ErrorCode::ResourceNotExists,
        ErrorCode::NoStatisticalData,
        ErrorCode::RuleLimit,
        ErrorCode::InvalidState,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::FrequencyLimited,
        ErrorCode::SystemError,
        ErrorCode::ServiceUnavailable,
    ];

    /// `(code, status, default message, when it is answered)`.
    pub fn entry(self) -> (&'static str, u16, &'static str, &'static str) {
        match self {
            ErrorCode::ParamError => ("PARAM_ERROR", 400, "参数错误", "A field is missing, has the wrong type or breaks a format rule; `detail.field` names it."),
            ErrorCode::InvalidRequest => ("INVALID_REQUEST", 400, "无效请求", "The request is well formed but breaks a business rule."),
            ErrorCode::MchNotExists => ("MCH_NOT_EXISTS", 400, "商户号不存在", "The `mchid` in the body is not a merchant of this platform."),
            ErrorCode::AppidMchidNotMatch => ("APPID_MCHID_NOT_MATCH", 400, "appid和mch_id不匹配", "The `appid` is not bound to the `mchid`."),
            ErrorCode::OrderClosed => ("ORDER_CLOSED", 400, "订单已关闭", "The order was closed or has expired."),
            ErrorCode::OrderPaid => ("ORDERPAID", 400, "该订单已支付", "The order was already paid, so it cannot be placed again or closed. (v3 use of this code is not confirmed by WeChat's documentation; third-party code expects it.)"),
            ErrorCode::SignError => ("SIGN_ERROR", 401, "签名错误，请检查后再试", "The `Authorization` header is missing or malformed, the timestamp is more than 5 minutes off, the nonce was used before, the serial is unknown, or the signature does not verify. `detail` says which."),
            ErrorCode::Unauthorized => ("UNAUTHORIZED", 401, "缺少或错误的访问令牌", "Koudai's own APIs (sandbox): the `Authorization: Bearer` token is missing or wrong."),
            ErrorCode::NoAuth => ("NO_AUTH", 403, "商户无权限", "The merchant is not allowed to use this interface, or the signing key does not belong to it; payments: its deposit is not paid in full, or its fee rule is not in the fee schedule. The message says which."),
            ErrorCode::OutTradeNoUsed => ("OUT_TRADE_NO_USED", 403, "商户订单号重复", "The `out_trade_no` was used before with different parameters."),
            ErrorCode::NotEnough => ("NOT_ENOUGH", 403, "用户账户余额不足", "Payments: the paying consumer's wallet balance does not cover the order. Refunds: the merchant's funds (pending for unsettled orders, available for settled ones) do not cover the refund."),
            ErrorCode::OpenidMismatch => ("OPENID_MISMATCH", 403, "openid和appid不匹配", "The consumer paying is not the `payer.openid` of a JSAPI order, or the openid does not belong to the app."),
            ErrorCode::OrderNotExist => ("ORDER_NOT_EXIST", 404, "订单不存在", "No order with this `out_trade_no` / `transaction_id` for this merchant."),
            ErrorCode::ResourceNotExists => ("RESOURCE_NOT_EXISTS", 404, "资源不存在", "The resource does not exist: refunds, an unknown `out_refund_no`, or a refund of an unknown or unpaid order; `/v3/certificates`, the merchant uses public-key mode and has no platform certificate; bill downloads, an unknown or expired token."),
            ErrorCode::NoStatisticalData => ("NO_STATISTICAL_DATA", 400, "账单不存在", "Bills: the day has not ended yet on the business clock, is more than three months back, or had no payments or refunds."),
            ErrorCode::RuleLimit => ("RULE_LIMIT", 403, "交易金额超过商户单笔限额", "The amount exceeds the single-payment limit of the merchant's fee rule (some settlement rules allow at most 3,000 CNY)."),
            ErrorCode::InvalidState => ("INVALID_STATE", 409, "当前状态不允许该操作", "Sandbox API: the object's state does not allow the action asked for (an application's decision or signature)."),
            ErrorCode::NotFound => ("NOT_FOUND", 404, "请求的资源不存在", "No such path."),
            ErrorCode::MethodNotAllowed => ("METHOD_NOT_ALLOWED", 405, "请求方法不被允许", "The path exists but not for this HTTP method."),
            ErrorCode::FrequencyLimited => ("FREQUENCY_LIMITED", 429, "频率超限", "Too many requests; retry later."),
            ErrorCode::SystemError => ("SYSTEM_ERROR", 500, "系统繁忙，请稍后重试", "An internal failure; nothing was changed and the same request may be retried."),
            ErrorCode::ServiceUnavailable => ("SERVICE_UNAVAILABLE", 503, "服务不可用，请稍后重试", "The database is unreachable or the server is shutting down."),
        }
    }

    pub fn code(self) -> &'static str {
        self.entry().0
    }

    pub fn status(self) -> u16 {
        self.entry().1
    }

    pub fn default_message(self) -> &'static str {
        self.entry().2
    }
}

/// An error response: `{"code", "message", "detail"?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> ApiError {
        ApiError { code, message: code.default_message().to_owned(), detail: None }
    }

    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), detail: None }
    }

    pub fn detail(mut self, detail: Value) -> ApiError {
        self.detail = Some(detail);
        self
    }

    /// A `PARAM_ERROR` naming the field, with `location` `body`, `query` or
    /// `uri_template`.
    pub fn field(err: FieldError, location: &str) -> ApiError {
        ApiError::with_message(ErrorCode::ParamError, err.message)
            .detail(json!({"field": err.field, "location": location}))
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The response body.
    pub fn body(&self) -> Vec<u8> {
        let mut v = json!({"code": self.code.code(), "message": self.message});
        if let (Some(d), Value::Object(m)) = (&self.detail, &mut v) {
            m.insert("detail".into(), d.clone());
        }
        v.to_string().into_bytes()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code.code(), self.message)
    }
}

/// The catalogue as Markdown, for `docs/errors.md`.
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# Errors\n\n\
         <!-- Generated from crates/protocol/src/error.rs by the test `errors_doc_is_current`; do not edit. -->\n\n\
         Every error on the WeChat-compatible surfaces (`/v3/…`) and on the sandbox API has the body\n\
         `{\"code\": \"…\", \"message\": \"…\", \"detail\": {…}}` (`detail` optional) and the HTTP status below.\n\
         Clients branch on the status first, then on `code`; `message` is for people. A 5xx never carries\n\
         internal details: they go to the server log, tagged with the response's `Request-ID`.\n\n\
         | code | status | default message | when |\n| --- | --- | --- | --- |\n",
    );
    for c in ErrorCode::ALL {
        let (code, status, message, when) = c.entry();
        out.push_str(&format!("| `{code}` | {status} | {message} | {when} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert!((400..600).contains(&c.status()));
        }
    }

    #[test]
    fn pinned_mappings() {
        assert_eq!((ErrorCode::SignError.code(), ErrorCode::SignError.status()), ("SIGN_ERROR", 401));
        assert_eq!(ErrorCode::OutTradeNoUsed.status(), 403);
        assert_eq!(ErrorCode::OrderNotExist.status(), 404);
        assert_eq!(ErrorCode::NotEnough.status(), 403);
        assert_eq!(ErrorCode::OrderClosed.status(), 400);
    }

    #[test]
    fn body_shape() {
        let e = ApiError::field(FieldError::missing("description"), "body");
        let v: Value = serde_json::from_slice(&e.body()).unwrap_or_default();
        assert_eq!(v["code"], "PARAM_ERROR");
        assert_eq!(v["detail"]["field"], "description");
        assert_eq!(v["detail"]["location"], "body");
        let plain: Value = serde_json::from_slice(&ApiError::new(ErrorCode::OrderNotExist).body()).unwrap_or_default();
        assert_eq!(plain, json!({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}));
    }

    #[test]
    fn errors_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let want = catalogue_markdown();
        if std::env::var_os("KOUDAI_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/errors.md is stale: run `KOUDAI_BLESS=1 cargo test -p koudai-protocol errors_doc`");
    }
}
