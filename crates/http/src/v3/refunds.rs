//! Refunds (§4): apply and query.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use koudai_app::payments::refunds::{self, RefundCommand};
use koudai_domain::{order, refund, FieldError};
use koudai_store::RefundTarget;

use super::auth::Signed;
use super::body::{json_value, ok, params_digest, required, required_text, typed};
use super::error::V3Error;
use crate::state::HttpState;

#[derive(Deserialize)]
struct RefundBody {
    sub_mchid: Option<String>,
    transaction_id: Option<String>,
    out_trade_no: Option<String>,
    out_refund_no: Option<String>,
    reason: Option<String>,
    notify_url: Option<String>,
    funds_account: Option<String>,
    amount: Option<RefundAmountBody>,
}

#[derive(Deserialize)]
struct RefundAmountBody {
    refund: Option<i64>,
    total: Option<i64>,
    currency: Option<String>,
    from: Option<Vec<FromBody>>,
}

#[derive(Deserialize)]
struct FromBody {
    account: Option<String>,
    amount: Option<i64>,
}

fn refund_command(raw: &[u8], require_https: bool) -> Result<RefundCommand, V3Error> {
    let value = json_value(raw)?;
    let b: RefundBody = typed(&value)?;
    let field = V3Error::body_field;
    let target = match (b.transaction_id.filter(|t| !t.is_empty()), b.out_trade_no.filter(|n| !n.is_empty())) {
        (Some(t), _) => RefundTarget::TransactionId(t),
        (None, Some(n)) => RefundTarget::OutTradeNo(n),
        (None, None) => {
            return Err(field(FieldError::new("out_trade_no", "transaction_id 和 out_trade_no 必须二选一填写")));
        }
    };
    let out_refund_no = required_text(b.out_refund_no, "out_refund_no")?;
    refund::check_out_refund_no(&out_refund_no).map_err(field)?;
    if let Some(r) = &b.reason {
        order::check_length("reason", r, 0, 80).map_err(field)?;
    }
    let notify_url = b.notify_url.filter(|u| !u.is_empty());
    if let Some(u) = &notify_url {
        order::check_notify_url(u, require_https).map_err(field)?;
    }
    if b.funds_account.as_deref().is_some_and(|a| a != "AVAILABLE") {
        return Err(field(FieldError::new("funds_account", "funds_account 只能是 AVAILABLE")));
    }
    let amount = required(b.amount, "amount")?;
    let refund_fen = required(amount.refund, "amount.refund")?;
    let total_fen = required(amount.total, "amount.total")?;
    if refund_fen <= 0 {
        return Err(field(FieldError::new("amount.refund", "amount.refund 必须大于0")));
    }
    order::check_total(total_fen)
        .map_err(|_| field(FieldError::new("amount.total", "amount.total 必须是1到1亿分之间的整数")))?;
    if amount.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err(field(FieldError::new("amount.currency", "amount.currency 只能是 CNY")));
    }
    if let Some(list) = &amount.from {
        let mut sum = 0i64;
        for (i, item) in list.iter().enumerate() {
            match (item.account.as_deref(), item.amount) {
                (Some("AVAILABLE" | "UNAVAILABLE"), Some(p)) if p > 0 => {
                    sum = sum
                        .checked_add(p)
                        .ok_or_else(|| field(FieldError::new("amount.from", "amount.from 各项之和超出范围")))?;
                }
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
    Ok(RefundCommand {
        sub_mchid: b.sub_mchid.filter(|s| !s.is_empty()),
        target,
        out_refund_no,
        reason: b.reason,
        notify_url,
        refund_fen,
        total_fen,
        params_digest: params_digest("", &value),
    })
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791862 (退款申请)
pub async fn create(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let cmd = refund_command(&req.body, state.app.require_https())?;
    ok(&refunds::create(&state.app, &req.merchant, cmd).await?)
}

#[derive(Deserialize)]
struct SubMchidQuery {
    sub_mchid: Option<String>,
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791863 (查询单笔退款)
pub async fn query(
    State(state): State<HttpState>,
    Path(out_refund_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    let q: SubMchidQuery = req.query()?;
    let sub_mchid = q.sub_mchid.as_deref().filter(|s| !s.is_empty());
    ok(&refunds::query(&state.app, &req.merchant, sub_mchid, &out_refund_no).await?)
}
