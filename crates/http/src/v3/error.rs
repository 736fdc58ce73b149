//! [`V3Error`], the one error type of the `/v3` surface (and of the sandbox
//! API, which answers in the same shape, unsigned), and the translations of
//! every use case's refusals into it: exhaustive matches without `_`, so a
//! new refusal in the application cannot reach a client untranslated.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use koudai_app::parties::onboarding::{ApplyError, MediaError};
use koudai_app::payments::bills::BillError;
use koudai_app::payments::refunds::{OutcomeError, RefundError};
use koudai_app::payments::sharing::ShareError;
use koudai_app::payments::{CloseError, PayError, PrepayError, QueryError};
use koudai_app::Internal;
use koudai_domain::refund::RefundRefusal;
use koudai_domain::FieldError;
use koudai_protocol::{bill, ApiError, ErrorCode};

use crate::layers::InternalCause;

/// An error answer of the `/v3` surface (and of the sandbox API, which uses
/// the same catalogue and shape, unsigned).
#[derive(Debug)]
pub struct V3Error {
    pub error: ApiError,
    /// For 5xx: what went wrong inside, logged by the layers, never sent.
    pub cause: Option<String>,
}

impl V3Error {
    pub fn new(code: ErrorCode) -> V3Error {
        V3Error { error: ApiError::new(code), cause: None }
    }

    pub fn message(code: ErrorCode, message: impl Into<String>) -> V3Error {
        V3Error { error: ApiError::with_message(code, message), cause: None }
    }

    /// `PARAM_ERROR` naming the field; `location` is `body`, `query` or
    /// `uri_template`.
    pub fn field(e: FieldError, location: &str) -> V3Error {
        V3Error { error: ApiError::field(e, location), cause: None }
    }

    /// `PARAM_ERROR` for a body field.
    pub fn body_field(e: FieldError) -> V3Error {
        V3Error::field(e, "body")
    }

    #[must_use]
    pub fn detail(mut self, detail: serde_json::Value) -> V3Error {
        self.error = self.error.detail(detail);
        self
    }

    /// Names the body field at fault in `detail`.
    #[must_use]
    pub fn at(self, field: &str) -> V3Error {
        self.detail(json!({"field": field, "location": "body"}))
    }

    pub fn internal(e: Internal) -> V3Error {
        let code = if e.is_unavailable() { ErrorCode::ServiceUnavailable } else { ErrorCode::SystemError };
        V3Error { error: ApiError::new(code), cause: Some(e.to_string()) }
    }

    /// A bug of our own (say, a body that would not serialise).
    pub fn bug(cause: impl Into<String>) -> V3Error {
        V3Error { error: ApiError::new(ErrorCode::SystemError), cause: Some(cause.into()) }
    }

    /// The body is not JSON at all.
    pub fn not_json(issue: impl std::fmt::Display) -> V3Error {
        V3Error::message(ErrorCode::ParamError, "请求体不是合法的JSON")
            .detail(json!({"location": "body", "issue": issue.to_string()}))
    }
}

impl From<Internal> for V3Error {
    fn from(e: Internal) -> Self {
        V3Error::internal(e)
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp =
            (status, [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], self.error.body())
                .into_response();
        if let Some(cause) = self.cause {
            resp.extensions_mut().insert(InternalCause(cause));
        }
        resp
    }
}

pub(crate) const MCHID_MISMATCH: &str = "请求中的mchid与签名的商户号不一致";

fn no_fee_rule(rule: &str) -> V3Error {
    V3Error::message(ErrorCode::NoAuth, format!("商户费率规则{rule}不在现行费率表中，暂不能收款"))
}

impl From<PrepayError> for V3Error {
    fn from(e: PrepayError) -> Self {
        match e {
            PrepayError::Invalid(f) => V3Error::body_field(f),
            PrepayError::MchidMismatch => V3Error::message(ErrorCode::NoAuth, MCHID_MISMATCH),
            PrepayError::MchNotExists => V3Error::new(ErrorCode::MchNotExists),
            PrepayError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            PrepayError::SubAppidNotMatch => {
                V3Error::message(ErrorCode::InvalidRequest, "sub_appid与sub_mchid不匹配").at("sub_appid")
            }
            PrepayError::NoFeeRule(rule) => no_fee_rule(&rule),
            PrepayError::DepositMissing { due_fen, held_fen } => V3Error::message(
                ErrorCode::NoAuth,
                format!(
                    "商户保证金未缴足：应缴{}元，已缴{}元，缴足后方可收款",
                    bill::yuan(due_fen),
                    bill::yuan(held_fen)
                ),
            ),
            PrepayError::RuleLimit { max_fen } => {
                V3Error::message(ErrorCode::RuleLimit, format!("交易金额超过商户单笔限额{}元", bill::yuan(max_fen)))
                    .at("amount.total")
            }
            PrepayError::AppidMchidNotMatch => V3Error::new(ErrorCode::AppidMchidNotMatch),
            PrepayError::OpenidMismatch => {
                V3Error::message(ErrorCode::OpenidMismatch, "openid和appid不匹配").at("payer.openid")
            }
            PrepayError::OutTradeNoUsed => V3Error::new(ErrorCode::OutTradeNoUsed),
            PrepayError::OrderClosed => V3Error::new(ErrorCode::OrderClosed),
            PrepayError::OrderPaid => V3Error::new(ErrorCode::OrderPaid),
            PrepayError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<CloseError> for V3Error {
    fn from(e: CloseError) -> Self {
        match e {
            CloseError::MchidMismatch => V3Error::message(ErrorCode::NoAuth, MCHID_MISMATCH),
            CloseError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            CloseError::OrderNotExist => V3Error::new(ErrorCode::OrderNotExist),
            CloseError::OrderPaid => V3Error::new(ErrorCode::OrderPaid),
            CloseError::NotAllowed(s) => {
                V3Error::message(ErrorCode::InvalidRequest, format!("订单状态为{s}，不能关闭"))
            }
            CloseError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<QueryError> for V3Error {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::MchidMismatch => V3Error::message(ErrorCode::NoAuth, MCHID_MISMATCH),
            QueryError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            QueryError::OrderNotExist => V3Error::new(ErrorCode::OrderNotExist),
            QueryError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<ShareError> for V3Error {
    fn from(e: ShareError) -> Self {
        match e {
            ShareError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            ShareError::Invalid { field, message } => V3Error::body_field(FieldError::new(field, message)),
            ShareError::Rule(m) => V3Error::message(ErrorCode::InvalidRequest, m),
            ShareError::OrderNotFound => V3Error::message(ErrorCode::ResourceNotExists, "订单不存在"),
            ShareError::NotFound => V3Error::message(ErrorCode::ResourceNotExists, "记录不存在"),
            ShareError::NotEnough(m) => V3Error::message(ErrorCode::NotEnough, m),
            ShareError::NumberUsed => V3Error::message(ErrorCode::InvalidRequest, "商户单号已被使用，且请求参数不一致"),
            ShareError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<MediaError> for V3Error {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Invalid(f) => V3Error::body_field(f),
            MediaError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            MediaError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<ApplyError> for V3Error {
    fn from(e: ApplyError) -> Self {
        let header = |message: &str| {
            V3Error::message(ErrorCode::ParamError, message)
                .detail(json!({"field": "Wechatpay-Serial", "location": "header"}))
        };
        match e {
            ApplyError::Invalid(f) => V3Error::body_field(f),
            ApplyError::MissingSerial => header("HTTP header缺少微信支付平台证书序列号(Wechatpay-Serial)"),
            ApplyError::UnknownSerial => header("平台证书序列号Wechatpay-Serial错误"),
            ApplyError::NotCiphertext(path) => {
                V3Error::message(ErrorCode::ParamError, "请确认待处理的消息是否为加密后的密文").at(&path)
            }
            ApplyError::SensitiveWord { path, word } => {
                V3Error::message(ErrorCode::InvalidRequest, format!("{path} 含有敏感词“{word}”")).at(&path)
            }
            ApplyError::InProgress => {
                V3Error::message(ErrorCode::InvalidRequest, "该业务申请编号的申请单正在处理中，不能以不同内容重复提交")
                    .at("business_code")
            }
            ApplyError::NotFound => V3Error::message(ErrorCode::ParamError, "未能找到申请单"),
            ApplyError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            ApplyError::State(s) => V3Error::message(ErrorCode::InvalidState, format!("申请单状态为{s}，不允许该操作")),
            ApplyError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<PayError> for V3Error {
    fn from(e: PayError) -> Self {
        match e {
            PayError::OrderNotExist => V3Error::new(ErrorCode::OrderNotExist),
            PayError::ConsumerNotFound => V3Error::message(ErrorCode::ParamError, "付款用户不存在").at("consumer"),
            PayError::Closed => V3Error::new(ErrorCode::OrderClosed),
            PayError::AlreadyPaid => V3Error::new(ErrorCode::OrderPaid),
            PayError::PayerMismatch => V3Error::message(ErrorCode::OpenidMismatch, "该订单指定了其他付款用户"),
            PayError::NotEnough => V3Error::new(ErrorCode::NotEnough),
            PayError::NoFeeRule(rule) => no_fee_rule(&rule),
            PayError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<RefundError> for V3Error {
    fn from(e: RefundError) -> Self {
        match e {
            RefundError::OrderNotFound => V3Error::message(ErrorCode::ResourceNotExists, "订单不存在"),
            RefundError::NotPaid => V3Error::message(ErrorCode::ResourceNotExists, "订单未支付，不能退款"),
            RefundError::TotalMismatch { stated, actual } => V3Error::message(
                ErrorCode::InvalidRequest,
                format!("订单金额与原订单不一致（请求{stated}分，订单{actual}分）"),
            )
            .at("amount.total"),
            RefundError::Rule(r @ RefundRefusal::ExceedsRefundable { .. }) => {
                V3Error::message(ErrorCode::InvalidRequest, r.to_string()).at("amount.refund")
            }
            RefundError::Rule(r) => V3Error::message(ErrorCode::ParamError, r.to_string()).at("amount.refund"),
            RefundError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            RefundError::TooMany => V3Error::message(ErrorCode::InvalidRequest, "该订单退款次数已达上限（50次）"),
            RefundError::TooLate => V3Error::message(ErrorCode::InvalidRequest, "订单已超过退款期限（一年）"),
            RefundError::NotEnough => V3Error::message(ErrorCode::NotEnough, "基本账户余额不足，请充值后重新发起"),
            RefundError::OutRefundNoUsed => {
                V3Error::message(ErrorCode::InvalidRequest, "商户退款单号已被使用，且退款参数不一致")
                    .at("out_refund_no")
            }
            RefundError::RefundNotFound => V3Error::message(ErrorCode::ResourceNotExists, "退款单不存在"),
            RefundError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<OutcomeError> for V3Error {
    fn from(e: OutcomeError) -> Self {
        match e {
            OutcomeError::RefundNotFound => V3Error::message(ErrorCode::ResourceNotExists, "退款单不存在"),
            OutcomeError::NotAllowed { from, to } => {
                V3Error::message(ErrorCode::InvalidRequest, format!("退款单状态为{from}，不能变为{to}"))
            }
            OutcomeError::Internal(e) => V3Error::internal(e),
        }
    }
}

impl From<BillError> for V3Error {
    fn from(e: BillError) -> Self {
        match e {
            BillError::DayNotOver => {
                V3Error::message(ErrorCode::NoStatisticalData, "账单日期须为已结束的自然日（次日生成）")
            }
            BillError::TooOld => V3Error::message(ErrorCode::NoStatisticalData, "仅支持下载三个月内的账单"),
            BillError::Empty => V3Error::message(ErrorCode::NoStatisticalData, "当日无账单数据"),
            BillError::TokenNotFound => V3Error::message(ErrorCode::ResourceNotExists, "下载链接不存在或已过期"),
            BillError::Refused(r) => V3Error::message(ErrorCode::NoAuth, r.message),
            BillError::Internal(e) => V3Error::internal(e),
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
