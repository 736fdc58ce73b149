//! Payments as a service shared by the APIv3 handlers, the cashier pages and
//! the sandbox API: placing orders, paying them from a wallet, closing them,
//! and presenting them as transaction objects.

use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use koudai_domain::order::{self, FieldError, PREPAY_VALID_S};
use koudai_domain::{ids, TradeState, TradeType};
use koudai_protocol::fields::Fields;
use koudai_protocol::wire::{Amount, Notification, Payer, SceneInfo, Transaction};
use koudai_protocol::{times, ApiError, ErrorCode};
use koudai_store::{
    CloseError, CreateOutcome, Merchant, NewNotification, NewOrderRecord, Order, OrderLocator, PayCommand, PayError,
    PayOutcome,
};

use crate::api::ApiFailure;
use crate::app::SharedState;
use crate::demo::random_token;

fn field(e: FieldError) -> ApiFailure {
    ApiError::field(e, "body").into()
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

pub fn business_datetime(unix_s: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix_s).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Places an order (`POST /v3/pay/transactions/{type}`) and returns the
/// response body: `prepay_id`, `code_url` or `h5_url`.
pub async fn prepay(
    state: &SharedState,
    merchant: &Merchant,
    trade_type: TradeType,
    body: &[u8],
) -> Result<Vec<u8>, ApiFailure> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiFailure::from(
            ApiError::with_message(ErrorCode::ParamError, "请求体不是合法的JSON")
                .detail(json!({"location": "body", "issue": e.to_string()})),
        )
    })?;
    let now = state.clock.business_now();
    let new = parse_order(state, merchant, trade_type, &value, now).await?;

    // Same parameters (and endpoint) → same digest; that is what
    // "re-submitting the same order" means.
    let mut hasher = Sha256::new();
    hasher.update(trade_type.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(value.to_string().as_bytes());
    let digest = ids::upper_hex(&hasher.finalize());

    let record = NewOrderRecord {
        params_digest: digest.clone(),
        prepay_id: ids::prepay_id(business_datetime(now), &random()),
        prepay_expires_at: now + PREPAY_VALID_S,
        pay_token: ids::pay_token(&random()),
        created_at: now,
        ..new
    };
    let order = match state.store.create_order(&record).await? {
        CreateOutcome::Created(o) => o,
        CreateOutcome::Existing(o) => {
            if o.params_digest != digest {
                return Err(ApiError::new(ErrorCode::OutTradeNoUsed).into());
            }
            match o.state_at(now) {
                TradeState::Closed | TradeState::Revoked => return Err(ApiError::new(ErrorCode::OrderClosed).into()),
                TradeState::Success | TradeState::Refund => return Err(ApiError::new(ErrorCode::OrderPaid).into()),
                TradeState::NotPay | TradeState::UserPaying | TradeState::PayError if o.prepay_expires_at <= now => {
                    state
                        .store
                        .renew_prepay_id(o.id, &ids::prepay_id(business_datetime(now), &random()), now + PREPAY_VALID_S)
                        .await?
                }
                TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => o,
            }
        }
    };
    let out = match trade_type {
        TradeType::Jsapi | TradeType::App => json!({"prepay_id": order.prepay_id}),
        TradeType::Native => json!({"code_url": code_url(&order.pay_token)}),
        TradeType::H5 => json!({"h5_url": format!("{}/pay/h5?prepay_id={}", state.base_url, order.prepay_id)}),
    };
    Ok(out.to_string().into_bytes())
}

/// `weixin://wxpay/bizpayurl?pr=<token>`, the Native QR code's content.
pub fn code_url(pay_token: &str) -> String {
    format!("weixin://wxpay/bizpayurl?pr={pay_token}")
}

async fn parse_order(
    state: &SharedState,
    merchant: &Merchant,
    trade_type: TradeType,
    value: &Value,
    now: i64,
) -> Result<NewOrderRecord, ApiFailure> {
    let f = Fields::root(value).map_err(field)?;
    let appid = f.str_req("appid").map_err(field)?;
    let mchid = f.str_req("mchid").map_err(field)?;
    let description = f.str_req("description").map_err(field)?;
    order::check_length("description", description, 1, 127).map_err(field)?;
    let out_trade_no = f.str_req("out_trade_no").map_err(field)?;
    order::check_out_trade_no(out_trade_no).map_err(field)?;
    let notify_url = f.str_req("notify_url").map_err(field)?;
    order::check_notify_url(notify_url, state.require_https()).map_err(field)?;
    let amount = f.obj_req("amount").map_err(field)?;
    let total = amount.i64_req("total").map_err(field)?;
    order::check_total(total).map_err(field)?;
    if let Some(currency) = amount.str_opt("currency").map_err(field)? {
        order::check_currency(currency).map_err(field)?;
    }
    let attach = f.str_opt("attach").map_err(field)?;
    if let Some(a) = attach {
        order::check_length("attach", a, 0, 128).map_err(field)?;
    }
    let time_expire = match f.str_opt("time_expire").map_err(field)? {
        None => None,
        Some(s) => Some(times::parse_rfc3339(s).ok_or_else(|| {
            field(FieldError::new("time_expire", "time_expire 格式错误，应为RFC3339格式的date-time字符串"))
        })?),
    };
    let time_expire = order::payable_until(now, time_expire).map_err(field)?;
    let payer_openid = match f.obj_opt("payer").map_err(field)? {
        Some(p) => p.str_opt("openid").map_err(field)?.map(str::to_owned),
        None => None,
    };
    let scene = f.obj_opt("scene_info").map_err(field)?;
    let device_id = match &scene {
        Some(s) => s.str_opt("device_id").map_err(field)?.map(str::to_owned),
        None => None,
    };
    match trade_type {
        TradeType::Jsapi if payer_openid.is_none() => return Err(field(FieldError::missing("payer.openid"))),
        TradeType::H5 => {
            let scene = scene.ok_or_else(|| field(FieldError::missing("scene_info")))?;
            scene.str_req("payer_client_ip").map_err(field)?;
            let h5 = scene.obj_req("h5_info").map_err(field)?;
            let kind = h5.str_req("type").map_err(field)?;
            if !["Wap", "iOS", "Android"].contains(&kind) {
                return Err(field(FieldError::new("scene_info.h5_info.type", "场景类型只能是iOS、Android或Wap")));
            }
        }
        _ => {}
    }
    let settle = f.obj_opt("settle_info").map_err(field)?;
    if let Some(s) = settle {
        s.bool_opt("profit_sharing").map_err(field)?;
    }
    f.bool_opt("support_fapiao").map_err(field)?;

    if mchid != merchant.mchid {
        return Err(match state.store.merchant(mchid).await? {
            None => ApiError::new(ErrorCode::MchNotExists),
            Some(_) => ApiError::with_message(ErrorCode::NoAuth, "请求中的mchid与签名的商户号不一致"),
        }
        .into());
    }
    check_standing(state, mchid, total, now).await?;
    if !state.store.app_bound(appid, mchid).await? {
        return Err(ApiError::new(ErrorCode::AppidMchidNotMatch).into());
    }
    if let Some(openid) = &payer_openid {
        if !state.store.openid_belongs_to_app(openid, appid).await? {
            return Err(ApiError::with_message(ErrorCode::OpenidMismatch, "openid和appid不匹配")
                .detail(json!({"field": "payer.openid", "location": "body"}))
                .into());
        }
    }
    Ok(NewOrderRecord {
        mchid: mchid.to_owned(),
        appid: appid.to_owned(),
        out_trade_no: out_trade_no.to_owned(),
        trade_type,
        description: description.to_owned(),
        attach: attach.filter(|a| !a.is_empty()).map(str::to_owned),
        notify_url: notify_url.to_owned(),
        total_fen: total,
        payer_openid,
        device_id,
        params_digest: String::new(),
        time_expire,
        created_at: now,
        prepay_id: String::new(),
        prepay_expires_at: 0,
        pay_token: String::new(),
    })
}

/// A merchant takes payments only with its deposit paid in full and a fee
/// rule the schedule in force knows; the rule may cap single payments.
async fn check_standing(state: &SharedState, mchid: &str, total_fen: i64, now: i64) -> Result<(), ApiFailure> {
    let standing = state
        .store
        .standing(mchid, now)
        .await?
        .ok_or_else(|| ApiFailure::from(ApiError::new(ErrorCode::MchNotExists)))?;
    let Some(rule) = &standing.rule else {
        return Err(ApiError::with_message(
            ErrorCode::NoAuth,
            format!("商户费率规则{}不在现行费率表中，暂不能收款", standing.fee_rule_id),
        )
        .into());
    };
    let missing = standing.deposit_missing_fen();
    if missing > 0 {
        return Err(ApiError::with_message(
            ErrorCode::NoAuth,
            format!(
                "商户保证金未缴足：应缴{}元，已缴{}元，缴足后方可收款",
                koudai_protocol::bill::yuan(rule.deposit_fen),
                koudai_protocol::bill::yuan(standing.deposit_held_fen)
            ),
        )
        .into());
    }
    if let Some(max) = rule.max_single_fen.filter(|max| total_fen > *max) {
        return Err(ApiError::with_message(
            ErrorCode::RuleLimit,
            format!("交易金额超过商户单笔限额{}元", koudai_protocol::bill::yuan(max)),
        )
        .detail(json!({"field": "amount.total", "location": "body"}))
        .into());
    }
    Ok(())
}

/// Closes an order (`POST …/out-trade-no/{no}/close`).
pub async fn close(
    state: &SharedState,
    merchant: &Merchant,
    out_trade_no: &str,
    body: &[u8],
) -> Result<(), ApiFailure> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        ApiFailure::from(
            ApiError::with_message(ErrorCode::ParamError, "请求体不是合法的JSON").detail(json!({"location": "body"})),
        )
    })?;
    let f = Fields::root(&value).map_err(field)?;
    let mchid = f.str_req("mchid").map_err(field)?;
    if mchid != merchant.mchid {
        return Err(ApiError::with_message(ErrorCode::NoAuth, "请求中的mchid与签名的商户号不一致").into());
    }
    match state.store.close_order(mchid, out_trade_no, state.clock.business_now()).await {
        Ok(_) => Ok(()),
        Err(CloseError::NotFound) => Err(ApiError::new(ErrorCode::OrderNotExist).into()),
        Err(CloseError::AlreadyPaid) => Err(ApiError::new(ErrorCode::OrderPaid).into()),
        Err(CloseError::NotAllowed(s)) => {
            Err(ApiError::with_message(ErrorCode::InvalidRequest, format!("订单状态为{s}，不能关闭")).into())
        }
        Err(CloseError::Store(e)) => Err(e.into()),
    }
}

/// The transaction object of an order as seen at business time `now`.
pub fn transaction_view(o: &Order, now: i64) -> Transaction {
    let state = o.state_at(now);
    let paid = matches!(state, TradeState::Success | TradeState::Refund);
    Transaction {
        appid: o.appid.clone(),
        mchid: o.mchid.clone(),
        out_trade_no: o.out_trade_no.clone(),
        transaction_id: o.transaction_id.clone(),
        trade_type: paid.then_some(o.trade_type.as_str()),
        trade_state: state.as_str(),
        trade_state_desc: state.description(),
        bank_type: paid.then_some("OTHERS"),
        attach: o.attach.clone(),
        success_time: o.success_time.map(times::format_rfc3339),
        payer: if paid { o.payer_openid.clone().map(|openid| Payer { openid }) } else { None },
        amount: Amount {
            total: o.total_fen,
            payer_total: paid.then_some(o.total_fen),
            currency: "CNY",
            payer_currency: "CNY",
        },
        scene_info: o.device_id.clone().map(|device_id| SceneInfo { device_id }),
        promotion_detail: vec![],
    }
}

/// Why a consumer's payment failed, in the catalogue's terms.
pub fn pay_error(e: PayError) -> ApiFailure {
    match e {
        PayError::OrderNotFound => ApiError::new(ErrorCode::OrderNotExist).into(),
        PayError::ConsumerNotFound => ApiError::with_message(ErrorCode::ParamError, "付款用户不存在")
            .detail(json!({"field": "consumer", "location": "body"}))
            .into(),
        PayError::Closed => ApiError::new(ErrorCode::OrderClosed).into(),
        PayError::AlreadyPaid => ApiError::new(ErrorCode::OrderPaid).into(),
        PayError::OpenidMismatch => {
            ApiError::with_message(ErrorCode::OpenidMismatch, "该订单指定了其他付款用户").into()
        }
        PayError::NotEnough => ApiError::new(ErrorCode::NotEnough).into(),
        PayError::NoFeeRule(rule) => {
            ApiError::with_message(ErrorCode::NoAuth, format!("商户费率规则{rule}不在现行费率表中，暂不能收款")).into()
        }
        PayError::Notification(e) => {
            ApiFailure { error: ApiError::new(ErrorCode::SystemError), mode: None, internal: Some(e) }
        }
        PayError::Store(e) => e.into(),
    }
}

/// Pays an order as a consumer. On success the `TRANSACTION.SUCCESS`
/// notification is in the outbox and the delivery worker has been woken.
pub async fn pay(
    state: &SharedState,
    locator: OrderLocator,
    consumer_login: &str,
    outcome: PayOutcome,
) -> Result<Order, ApiFailure> {
    let order = state
        .store
        .order_by_locator(&locator)
        .await?
        .ok_or_else(|| ApiFailure::from(ApiError::new(ErrorCode::OrderNotExist)))?;
    let merchant = state.store.merchant(&order.mchid).await?.ok_or_else(|| ApiFailure {
        error: ApiError::new(ErrorCode::SystemError),
        mode: None,
        internal: Some(format!("order {} has no merchant", order.id)),
    })?;
    let now = state.clock.business_now();
    let cmd = PayCommand {
        locator,
        consumer_login: consumer_login.to_owned(),
        now,
        outcome,
        transaction_id: ids::transaction_id(business_datetime(now), &random()),
        fresh_openid: ids::openid(&random()),
    };
    let apiv3_key = merchant.apiv3_key.clone();
    let paid = state
        .store
        .pay_order(&cmd, |paid| {
            let plaintext = serde_json::to_vec(&transaction_view(paid, now)).map_err(|e| e.to_string())?;
            let event =
                Event { event_type: "TRANSACTION.SUCCESS", summary: "支付成功", original_type: "transaction" };
            seal_notification(&event, &plaintext, &apiv3_key, now, (&paid.mchid, &paid.out_trade_no, &paid.notify_url))
        })
        .await
        .map_err(pay_error)?;
    state.wake_worker.notify_one();
    Ok(paid)
}

/// What a notification announces.
pub struct Event {
    pub event_type: &'static str,
    pub summary: &'static str,
    pub original_type: &'static str,
}

/// Encrypts `plaintext` with the merchant's APIv3 key into a notification
/// for the outbox, due now. `to` is `(mchid, reference, notify_url)`.
pub fn seal_notification(
    event: &Event,
    plaintext: &[u8],
    apiv3_key: &str,
    now: i64,
    to: (&str, &str, &str),
) -> Result<NewNotification, String> {
    let sealed = Notification::seal(
        ids::uuid_v4(&random()),
        now,
        event.event_type,
        event.summary,
        event.original_type,
        plaintext,
        apiv3_key,
        &random_token(12),
    )
    .map_err(|e| e.to_string())?;
    Ok(NewNotification {
        event_id: sealed.id.clone(),
        mchid: to.0.to_owned(),
        reference: to.1.to_owned(),
        event_type: sealed.event_type.clone(),
        notify_url: to.2.to_owned(),
        body: serde_json::to_string(&sealed).map_err(|e| e.to_string())?,
        next_attempt_at: now,
        created_at: now,
    })
}
