//! Every mapping from a use case's error to the wire, pinned: status, code,
//! message and detail. A change here is a change clients see.

use serde_json::{json, Value};

use koudai_app::payments::bills::BillError;
use koudai_app::payments::refunds::{OutcomeError, RefundError};
use koudai_app::payments::{CloseError, PayError, PrepayError};
use koudai_app::Internal;
use koudai_domain::refund::{RefundRefusal, RefundStatus};
use koudai_domain::{FieldError, TradeState};
use koudai_store::StoreError;

use super::V3Error;

/// `(status, body)` as the client sees it, and whether a cause is logged.
fn wire(e: impl Into<V3Error>) -> (u16, Value, bool) {
    let e = e.into();
    let body = serde_json::from_slice(&e.error.body()).unwrap_or(Value::Null);
    (e.error.status(), body, e.cause.is_some())
}

#[test]
fn prepay_refusals() {
    let cases: Vec<(PrepayError, u16, Value)> = vec![
        (
            PrepayError::Invalid(FieldError::missing("description")),
            400,
            json!({"code": "PARAM_ERROR", "message": "参数“description”是必填项", "detail": {"field": "description", "location": "body"}}),
        ),
        (PrepayError::MchidMismatch, 403, json!({"code": "NO_AUTH", "message": "请求中的mchid与签名的商户号不一致"})),
        (PrepayError::MchNotExists, 400, json!({"code": "MCH_NOT_EXISTS", "message": "商户号不存在"})),
        (
            PrepayError::NoFeeRule("x".into()),
            403,
            json!({"code": "NO_AUTH", "message": "商户费率规则x不在现行费率表中，暂不能收款"}),
        ),
        (
            PrepayError::DepositMissing { due_fen: 5_000_000, held_fen: 100 },
            403,
            json!({"code": "NO_AUTH", "message": "商户保证金未缴足：应缴50000.00元，已缴1.00元，缴足后方可收款"}),
        ),
        (
            PrepayError::RuleLimit { max_fen: 300_000 },
            403,
            json!({"code": "RULE_LIMIT", "message": "交易金额超过商户单笔限额3000.00元", "detail": {"field": "amount.total", "location": "body"}}),
        ),
        (
            PrepayError::AppidMchidNotMatch,
            400,
            json!({"code": "APPID_MCHID_NOT_MATCH", "message": "appid和mch_id不匹配"}),
        ),
        (
            PrepayError::OpenidMismatch,
            403,
            json!({"code": "OPENID_MISMATCH", "message": "openid和appid不匹配", "detail": {"field": "payer.openid", "location": "body"}}),
        ),
        (PrepayError::OutTradeNoUsed, 403, json!({"code": "OUT_TRADE_NO_USED", "message": "商户订单号重复"})),
        (PrepayError::OrderClosed, 400, json!({"code": "ORDER_CLOSED", "message": "订单已关闭"})),
        (PrepayError::OrderPaid, 400, json!({"code": "ORDERPAID", "message": "该订单已支付"})),
    ];
    for (e, status, body) in cases {
        let label = format!("{e:?}");
        assert_eq!(wire(e), (status, body, false), "{label}");
    }
}

#[test]
fn internal_failures_are_generic_and_carry_their_cause() {
    let busy = Internal::Store(StoreError::Unavailable("database is locked".into()));
    assert_eq!(
        wire(PrepayError::Internal(busy)),
        (503, json!({"code": "SERVICE_UNAVAILABLE", "message": "服务不可用，请稍后重试"}), true)
    );
    let lost = Internal::Store(StoreError::Contended("deadlock detected".into()));
    assert_eq!(wire(PayError::Internal(lost)).0, 503, "a race lost even after retries is a try-again");
    let bug = Internal::bug("stored offset is not a number");
    assert_eq!(
        wire(PayError::Internal(bug)),
        (500, json!({"code": "SYSTEM_ERROR", "message": "系统繁忙，请稍后重试"}), true)
    );
    let (_, body, _) = wire(RefundError::Internal(Internal::bug("secret detail")));
    assert!(!body.to_string().contains("secret detail"), "a cause never reaches the client");
}

#[test]
fn close_and_pay_refusals() {
    assert_eq!(wire(CloseError::OrderNotExist).0, 404);
    assert_eq!(wire(CloseError::OrderPaid).1["code"], "ORDERPAID");
    assert_eq!(wire(CloseError::MchidMismatch).1["code"], "NO_AUTH");
    assert_eq!(
        wire(CloseError::NotAllowed(TradeState::Refund)).1,
        json!({"code": "INVALID_REQUEST", "message": "订单状态为REFUND，不能关闭"})
    );
    assert_eq!(wire(PayError::NotEnough), (403, json!({"code": "NOT_ENOUGH", "message": "用户账户余额不足"}), false));
    assert_eq!(wire(PayError::Closed).1["code"], "ORDER_CLOSED");
    assert_eq!(wire(PayError::AlreadyPaid).1["code"], "ORDERPAID");
    assert_eq!(wire(PayError::OrderNotExist).0, 404);
    assert_eq!(wire(PayError::PayerMismatch).1["code"], "OPENID_MISMATCH");
    assert_eq!(wire(PayError::ConsumerNotFound).1["detail"], json!({"field": "consumer", "location": "body"}));
    assert_eq!(wire(PayError::NoFeeRule("r".into())).0, 403);
}

#[test]
fn refund_refusals() {
    assert_eq!(
        wire(RefundError::OrderNotFound),
        (404, json!({"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"}), false)
    );
    assert_eq!(wire(RefundError::NotPaid).1["message"], "订单未支付，不能退款");
    assert_eq!(wire(RefundError::TotalMismatch { stated: 1, actual: 2 }).1["detail"]["field"], "amount.total");
    let over = RefundRefusal::ExceedsRefundable { refundable_fen: 5 };
    assert_eq!(wire(RefundError::Rule(over)).1["code"], "INVALID_REQUEST");
    let refused = || koudai_app::access::authz::Refused { message: "服务商未获得权限".into() };
    assert_eq!(
        wire(RefundError::Refused(refused())),
        (403, json!({"code": "NO_AUTH", "message": "服务商未获得权限"}), false)
    );
    assert_eq!(wire(RefundError::TooMany).1["code"], "INVALID_REQUEST");
    assert_eq!(wire(RefundError::TooLate).1["code"], "INVALID_REQUEST");
    assert_eq!(
        wire(RefundError::NotEnough),
        (403, json!({"code": "NOT_ENOUGH", "message": "基本账户余额不足，请充值后重新发起"}), false)
    );
    assert_eq!(wire(RefundError::OutRefundNoUsed).1["detail"]["field"], "out_refund_no");
    assert_eq!(wire(RefundError::RefundNotFound).1["message"], "退款单不存在");
    assert_eq!(
        wire(OutcomeError::NotAllowed { from: RefundStatus::Success, to: RefundStatus::Closed }).1["message"],
        "退款单状态为SUCCESS，不能变为CLOSED"
    );
    assert_eq!(wire(OutcomeError::RefundNotFound).0, 404);
}

#[test]
fn bill_refusals() {
    assert_eq!(wire(BillError::DayNotOver).1["code"], "NO_STATISTICAL_DATA");
    assert_eq!(wire(BillError::TooOld).0, 400);
    assert_eq!(wire(BillError::Empty).1["message"], "当日无账单数据");
    assert_eq!(wire(BillError::TokenNotFound).0, 404);
    let refused = koudai_app::access::authz::Refused { message: "no".into() };
    assert_eq!(wire(BillError::Refused(refused)).1["code"], "NO_AUTH");
}

#[test]
fn partner_and_sharing_refusals() {
    use koudai_app::payments::sharing::ShareError;
    use koudai_app::payments::QueryError;
    let refused =
        || koudai_app::access::authz::Refused { message: "服务商未获得权限 payment_interface".into() };
    assert_eq!(
        wire(PrepayError::Refused(refused())),
        (403, json!({"code": "NO_AUTH", "message": "服务商未获得权限 payment_interface"}), false)
    );
    assert_eq!(wire(PrepayError::SubAppidNotMatch).1["detail"]["field"], "sub_appid");
    assert_eq!(wire(CloseError::Refused(refused())).0, 403);
    assert_eq!(wire(QueryError::Refused(refused())).1["code"], "NO_AUTH");
    assert_eq!(wire(QueryError::MchidMismatch).1["code"], "NO_AUTH");
    assert_eq!(wire(QueryError::OrderNotExist).0, 404);
    assert_eq!(wire(ShareError::Refused(refused())).0, 403);
    assert_eq!(
        wire(ShareError::Invalid { field: "name", message: "x".into() }).1["detail"],
        json!({"field": "name", "location": "body"})
    );
    assert_eq!(wire(ShareError::Rule("非分账订单不支持分账".into())).1["code"], "INVALID_REQUEST");
    assert_eq!(wire(ShareError::OrderNotFound).0, 404);
    assert_eq!(wire(ShareError::NotFound).1["code"], "RESOURCE_NOT_EXISTS");
    assert_eq!(wire(ShareError::NotEnough("x".into())).1["code"], "NOT_ENOUGH");
    assert_eq!(wire(ShareError::NumberUsed).1["code"], "INVALID_REQUEST");
}

#[test]
fn media_refusals() {
    use koudai_app::parties::onboarding::MediaError;
    let refused =
        || koudai_app::access::authz::Refused { message: "服务商未获得权限 payment_interface".into() };
    assert_eq!(
        wire(MediaError::Invalid(FieldError::missing("meta"))),
        (
            400,
            json!({"code": "PARAM_ERROR", "message": "参数“meta”是必填项", "detail": {"field": "meta", "location": "body"}}),
            false
        )
    );
    assert_eq!(
        wire(MediaError::Refused(refused())),
        (403, json!({"code": "NO_AUTH", "message": "服务商未获得权限 payment_interface"}), false)
    );
    let (status, body, logged) = wire(MediaError::Internal(Internal::from(StoreError::Contended("x".into()))));
    assert_eq!((status, body["code"].as_str(), logged), (503, Some("SERVICE_UNAVAILABLE"), true));
}

#[test]
fn application_refusals() {
    use koudai_app::parties::onboarding::ApplyError;
    use koudai_domain::applyment::ApplymentState;
    let serial = json!({"field": "Wechatpay-Serial", "location": "header"});
    let cases: Vec<(ApplyError, u16, Value)> = vec![
        (
            ApplyError::Invalid(FieldError::missing("business_code")),
            400,
            json!({"code": "PARAM_ERROR", "message": "参数“business_code”是必填项", "detail": {"field": "business_code", "location": "body"}}),
        ),
        (
            ApplyError::MissingSerial,
            400,
            json!({"code": "PARAM_ERROR", "message": "HTTP header缺少微信支付平台证书序列号(Wechatpay-Serial)", "detail": serial}),
        ),
        (
            ApplyError::UnknownSerial,
            400,
            json!({"code": "PARAM_ERROR", "message": "平台证书序列号Wechatpay-Serial错误", "detail": serial}),
        ),
        (
            ApplyError::NotCiphertext("contact_info.contact_name".into()),
            400,
            json!({"code": "PARAM_ERROR", "message": "请确认待处理的消息是否为加密后的密文", "detail": {"field": "contact_info.contact_name", "location": "body"}}),
        ),
        (
            ApplyError::SensitiveWord { path: "subject_info.name".into(), word: "赌".into() },
            400,
            json!({"code": "INVALID_REQUEST", "message": "subject_info.name 含有敏感词“赌”", "detail": {"field": "subject_info.name", "location": "body"}}),
        ),
        (
            ApplyError::InProgress,
            400,
            json!({"code": "INVALID_REQUEST", "message": "该业务申请编号的申请单正在处理中，不能以不同内容重复提交", "detail": {"field": "business_code", "location": "body"}}),
        ),
        (ApplyError::NotFound, 400, json!({"code": "PARAM_ERROR", "message": "未能找到申请单"})),
        (
            ApplyError::Refused(koudai_app::access::authz::Refused { message: "无权限".into() }),
            403,
            json!({"code": "NO_AUTH", "message": "无权限"}),
        ),
        (
            ApplyError::State(ApplymentState::Finished),
            409,
            json!({"code": "INVALID_STATE", "message": "申请单状态为APPLYMENT_STATE_FINISHED，不允许该操作"}),
        ),
    ];
    for (e, status, body) in cases {
        let shown = e.to_string();
        assert_eq!(wire(e), (status, body, false), "{shown}");
    }
    let (status, body, logged) = wire(ApplyError::Internal(Internal::bug("x")));
    assert_eq!((status, body["code"].as_str(), logged), (500, Some("SYSTEM_ERROR"), true));
}
