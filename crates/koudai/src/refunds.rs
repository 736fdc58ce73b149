//! Refunds as a service shared by the APIv3 handlers, the worker and the
//! sandbox API: applying (§4.2), presenting (§4.3), and finishing with the
//! `REFUND.*` notification (§5.1).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use koudai_domain::refund::{self, RefundRefusal, RefundStatus};
use koudai_domain::{ids, order, FieldError};
use koudai_protocol::fields::Fields;
use koudai_protocol::wire::{self, RefundAmount, RefundNotice, RefundNoticeAmount};
use koudai_protocol::{times, ApiError, ErrorCode};
use koudai_store::{Merchant, NewNotification, Order, Refund, RefundCreated, RefundError, RefundRequest, RefundTarget};

use crate::api::ApiFailure;
use crate::app::SharedState;
use crate::payments::{business_datetime, random, seal_notification, Event};

fn field(e: FieldError) -> ApiFailure {
    ApiError::field(e, "body").into()
}

const RECEIVED_ACCOUNT: &str = "支付用户零钱";

/// The refund object of create and query.
pub fn refund_view(r: &Refund, o: &Order) -> wire::Refund {
    wire::Refund {
        refund_id: r.refund_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        transaction_id: o.transaction_id.clone().unwrap_or_default(),
        out_trade_no: o.out_trade_no.clone(),
        channel: "ORIGINAL",
        user_received_account: RECEIVED_ACCOUNT,
        success_time: r.success_time.map(times::format_rfc3339),
        create_time: times::format_rfc3339(r.created_at),
        status: r.status.as_str(),
        funds_account: r.funds_account.clone(),
        amount: RefundAmount {
            total: o.total_fen,
            refund: r.refund_fen,
            from: vec![],
            payer_total: o.total_fen,
            payer_refund: r.refund_fen,
            settlement_refund: r.refund_fen,
            settlement_total: o.total_fen,
            discount_refund: 0,
            currency: "CNY",
            refund_fee: r.fee_refund_fen,
        },
        promotion_detail: vec![],
    }
}

/// The decrypted resource of a refund notification.
pub fn refund_notice(r: &Refund, o: &Order) -> RefundNotice {
    RefundNotice {
        mchid: o.mchid.clone(),
        transaction_id: o.transaction_id.clone().unwrap_or_default(),
        out_trade_no: o.out_trade_no.clone(),
        refund_id: r.refund_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        refund_status: r.status.as_str(),
        success_time: r.success_time.map(times::format_rfc3339),
        user_received_account: RECEIVED_ACCOUNT,
        amount: RefundNoticeAmount {
            total: o.total_fen,
            refund: r.refund_fen,
            payer_total: o.total_fen,
            payer_refund: r.refund_fen,
        },
    }
}

/// `POST /v3/refund/domestic/refunds`: returns the refund object.
pub async fn create(state: &SharedState, merchant: &Merchant, body: &[u8]) -> Result<wire::Refund, ApiFailure> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiFailure::from(
            ApiError::with_message(ErrorCode::ParamError, "请求体不是合法的JSON")
                .detail(json!({"location": "body", "issue": e.to_string()})),
        )
    })?;
    let f = Fields::root(&value).map_err(field)?;
    let target = match (f.str_opt("transaction_id").map_err(field)?, f.str_opt("out_trade_no").map_err(field)?) {
        (Some(t), _) if !t.is_empty() => RefundTarget::TransactionId(t.to_owned()),
        (_, Some(n)) if !n.is_empty() => RefundTarget::OutTradeNo(n.to_owned()),
        _ => {
            return Err(field(FieldError::new("out_trade_no", "transaction_id 和 out_trade_no 必须二选一填写")));
        }
    };
    let out_refund_no = f.str_req("out_refund_no").map_err(field)?;
    refund::check_out_refund_no(out_refund_no).map_err(field)?;
    let reason = f.str_opt("reason").map_err(field)?;
    if let Some(r) = reason {
        order::check_length("reason", r, 0, 80).map_err(field)?;
    }
    let notify_url = f.str_opt("notify_url").map_err(field)?.filter(|u| !u.is_empty());
    if let Some(u) = notify_url {
        order::check_notify_url(u, state.require_https()).map_err(field)?;
    }
    if let Some(account) = f.str_opt("funds_account").map_err(field)? {
        if account != "AVAILABLE" {
            return Err(field(FieldError::new("funds_account", "funds_account 只能是 AVAILABLE")));
        }
    }
    let amount = f.obj_req("amount").map_err(field)?;
    let refund_fen = amount.i64_req("refund").map_err(field)?;
    let total_fen = amount.i64_req("total").map_err(field)?;
    if refund_fen <= 0 {
        return Err(field(FieldError::new("amount.refund", "amount.refund 必须大于0")));
    }
    order::check_total(total_fen)
        .map_err(|_| field(FieldError::new("amount.total", "amount.total 必须是1到1亿分之间的整数")))?;
    match amount.str_opt("currency").map_err(field)? {
        None | Some("CNY") => {}
        Some(_) => return Err(field(FieldError::new("amount.currency", "amount.currency 只能是 CNY"))),
    }
    if let Some(from) = value.pointer("/amount/from") {
        let list = from.as_array().ok_or_else(|| field(FieldError::new("amount.from", "amount.from 必须是数组")))?;
        let mut sum = 0i64;
        for (i, item) in list.iter().enumerate() {
            let account = item.get("account").and_then(Value::as_str);
            let part = item.get("amount").and_then(Value::as_i64);
            match (account, part) {
                (Some("AVAILABLE" | "UNAVAILABLE"), Some(p)) if p > 0 => sum += p,
                _ => {
                    return Err(field(FieldError::new(
                        &format!("amount.from[{i}]"),
                        "amount.from 的每一项需要 account（AVAILABLE或UNAVAILABLE）和正整数 amount",
                    )))
                }
            }
        }
        if !list.is_empty() && sum != refund_fen {
            return Err(field(FieldError::new("amount.from", "amount.from 各项之和必须等于 amount.refund")));
        }
    }

    let mut hasher = Sha256::new();
    hasher.update(value.to_string().as_bytes());
    let digest = ids::upper_hex(&hasher.finalize());
    let now = state.clock.business_now();
    let request = RefundRequest {
        mchid: merchant.mchid.clone(),
        target,
        out_refund_no: out_refund_no.to_owned(),
        reason: reason.filter(|r| !r.is_empty()).map(str::to_owned),
        notify_url: notify_url.map(str::to_owned),
        refund_fen,
        total_fen,
        params_digest: digest.clone(),
        refund_id: ids::refund_id(business_datetime(now), &random()),
        now,
    };
    let (refund, order) = match state.store.create_refund(&request).await {
        Ok(RefundCreated::Created(r, o)) => {
            state.wake_worker.notify_one();
            (r, o)
        }
        Ok(RefundCreated::Existing(r, o)) => {
            if r.params_digest != digest {
                return Err(ApiError::with_message(
                    ErrorCode::InvalidRequest,
                    "商户退款单号已被使用，且退款参数不一致",
                )
                .detail(json!({"field": "out_refund_no", "location": "body"}))
                .into());
            }
            (r, o)
        }
        Err(e) => return Err(refund_error(e)),
    };
    Ok(refund_view(&refund, &order))
}

fn refund_error(e: RefundError) -> ApiFailure {
    match e {
        RefundError::OrderNotFound => ApiError::with_message(ErrorCode::ResourceNotExists, "订单不存在").into(),
        RefundError::NotPaid => ApiError::with_message(ErrorCode::ResourceNotExists, "订单未支付，不能退款").into(),
        RefundError::TotalMismatch { stated, actual } => ApiError::with_message(
            ErrorCode::InvalidRequest,
            format!("订单金额与原订单不一致（请求{stated}分，订单{actual}分）"),
        )
        .detail(json!({"field": "amount.total", "location": "body"}))
        .into(),
        RefundError::Refused(r @ RefundRefusal::ExceedsRefundable { .. }) => {
            ApiError::with_message(ErrorCode::InvalidRequest, r.to_string())
                .detail(json!({"field": "amount.refund", "location": "body"}))
                .into()
        }
        RefundError::Refused(r) => ApiError::with_message(ErrorCode::ParamError, r.to_string())
            .detail(json!({"field": "amount.refund", "location": "body"}))
            .into(),
        RefundError::TooMany => {
            ApiError::with_message(ErrorCode::InvalidRequest, "该订单退款次数已达上限（50次）").into()
        }
        RefundError::TooLate => ApiError::with_message(ErrorCode::InvalidRequest, "订单已超过退款期限（一年）").into(),
        RefundError::NotEnough => {
            ApiError::with_message(ErrorCode::NotEnough, "基本账户余额不足，请充值后重新发起").into()
        }
        RefundError::Store(e) => e.into(),
    }
}

/// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
pub async fn query(state: &SharedState, merchant: &Merchant, out_refund_no: &str) -> Result<wire::Refund, ApiFailure> {
    let found = state.store.refund_by_out_refund_no(&merchant.mchid, out_refund_no).await?;
    let (refund, order) =
        found.ok_or_else(|| ApiFailure::from(ApiError::with_message(ErrorCode::ResourceNotExists, "退款单不存在")))?;
    Ok(refund_view(&refund, &order))
}

/// Moves a refund to `to` and enqueues its notification; `Ok(None)` if
/// its state does not allow that.
pub async fn finish(
    state: &SharedState,
    refund_row_id: i64,
    mchid: &str,
    to: RefundStatus,
) -> Result<Option<(Refund, Order)>, ApiFailure> {
    let merchant = state.store.merchant(mchid).await?.ok_or_else(|| ApiFailure {
        error: ApiError::new(ErrorCode::SystemError),
        mode: None,
        internal: Some(format!("refund {refund_row_id} has no merchant {mchid}")),
    })?;
    let now = state.clock.business_now();
    let apiv3_key = merchant.apiv3_key.clone();
    let notify = Box::new(move |r: &Refund, o: &Order| -> Result<NewNotification, String> {
        let (event_type, summary) = r.status.event().ok_or("no event for this state")?;
        let plaintext = serde_json::to_vec(&refund_notice(r, o)).map_err(|e| e.to_string())?;
        let event = Event { event_type, summary, original_type: "refund" };
        seal_notification(&event, &plaintext, &apiv3_key, now, (&o.mchid, &r.out_refund_no, &r.notify_url))
    });
    let done = state.store.finish_refund(refund_row_id, to, now, notify).await?;
    if done.is_some() {
        state.wake_worker.notify_one();
    }
    Ok(done)
}

/// Finishes every refund whose processing time has passed: `SUCCESS`.
pub async fn finish_due(state: &SharedState) -> Result<usize, ApiFailure> {
    let due = state.store.due_refunds(state.clock.business_now(), 64).await?;
    let mut n = 0;
    for (id, mchid) in due {
        if finish(state, id, &mchid, RefundStatus::Success).await?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}
