//! Placing, querying and closing orders (§2, §3).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use koudai_app::payments::{self, PrepayCommand};
use koudai_domain::{ids, order, FieldError, TradeType};
use koudai_protocol::{crypto, times};
use koudai_store::Order;

use super::auth::{json_value, required, required_text, typed, Signed};
use super::error::V3Error;
use crate::state::HttpState;

#[derive(Deserialize)]
struct PrepayBody {
    appid: Option<String>,
    mchid: Option<String>,
    description: Option<String>,
    out_trade_no: Option<String>,
    notify_url: Option<String>,
    amount: Option<AmountBody>,
    attach: Option<String>,
    time_expire: Option<String>,
    payer: Option<PayerBody>,
    scene_info: Option<SceneBody>,
    #[serde(rename = "settle_info")]
    _settle_info: Option<SettleBody>,
    #[serde(rename = "support_fapiao")]
    _support_fapiao: Option<bool>,
}

#[derive(Deserialize)]
struct AmountBody {
    total: Option<i64>,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct PayerBody {
    openid: Option<String>,
}

#[derive(Deserialize)]
struct SceneBody {
    payer_client_ip: Option<String>,
    device_id: Option<String>,
    h5_info: Option<H5InfoBody>,
}

#[derive(Deserialize)]
struct H5InfoBody {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct SettleBody {
    #[serde(rename = "profit_sharing")]
    _profit_sharing: Option<bool>,
}

/// Reads a prepay body into a command: every field checked, every
/// `PARAM_ERROR` naming its field.
fn prepay_command(trade_type: TradeType, raw: &[u8], require_https: bool) -> Result<PrepayCommand, V3Error> {
    let value = json_value(raw)?;
    let b: PrepayBody = typed(&value)?;
    let field = V3Error::body_field;
    let appid = required_text(b.appid, "appid")?;
    let mchid = required_text(b.mchid, "mchid")?;
    let description = required_text(b.description, "description")?;
    order::check_length("description", &description, 1, 127).map_err(field)?;
    let out_trade_no = required_text(b.out_trade_no, "out_trade_no")?;
    order::check_out_trade_no(&out_trade_no).map_err(field)?;
    let notify_url = required_text(b.notify_url, "notify_url")?;
    order::check_notify_url(&notify_url, require_https).map_err(field)?;
    let amount = required(b.amount, "amount")?;
    let total_fen = required(amount.total, "amount.total")?;
    order::check_total(total_fen).map_err(field)?;
    if let Some(currency) = &amount.currency {
        order::check_currency(currency).map_err(field)?;
    }
    if let Some(a) = &b.attach {
        order::check_length("attach", a, 0, 128).map_err(field)?;
    }
    let time_expire = match &b.time_expire {
        None => None,
        Some(s) => Some(times::parse_rfc3339(s).ok_or_else(|| {
            field(FieldError::new("time_expire", "time_expire 格式错误，应为RFC3339格式的date-time字符串"))
        })?),
    };
    let payer_openid = b.payer.and_then(|p| p.openid);
    let device_id = b.scene_info.as_ref().and_then(|s| s.device_id.clone());
    match trade_type {
        TradeType::Jsapi if payer_openid.is_none() => return Err(field(FieldError::missing("payer.openid"))),
        TradeType::H5 => {
            let scene = required(b.scene_info, "scene_info")?;
            required_text(scene.payer_client_ip, "scene_info.payer_client_ip")?;
            let h5 = required(scene.h5_info, "scene_info.h5_info")?;
            let kind = required_text(h5.kind, "scene_info.h5_info.type")?;
            if !["Wap", "iOS", "Android"].contains(&kind.as_str()) {
                return Err(field(FieldError::new("scene_info.h5_info.type", "场景类型只能是iOS、Android或Wap")));
            }
        }
        _ => {}
    }
    Ok(PrepayCommand {
        mchid,
        appid,
        out_trade_no,
        trade_type,
        description,
        attach: b.attach,
        notify_url,
        total_fen,
        payer_openid,
        device_id,
        time_expire,
        params_digest: params_digest(trade_type.as_str(), &value),
    })
}

/// Same parameters (and endpoint) → same digest; that is what
/// "re-submitting the same order" means. `Value`'s `Display` writes object
/// keys sorted (serde_json without `preserve_order`; a test pins it), so
/// the digest does not depend on the client's key order.
pub fn params_digest(endpoint: &str, value: &serde_json::Value) -> String {
    let mut text = String::with_capacity(endpoint.len() + 256);
    if !endpoint.is_empty() {
        text.push_str(endpoint);
        text.push('\n');
    }
    text.push_str(&value.to_string());
    ids::upper_hex(&crypto::sha256(text.as_bytes()))
}

async fn prepay(state: HttpState, req: Signed, trade_type: TradeType) -> Result<Response, V3Error> {
    let app = &state.app;
    let cmd = prepay_command(trade_type, &req.body, app.require_https())?;
    let order = payments::prepay(app, &req.merchant, cmd).await?;
    let out = match trade_type {
        TradeType::Jsapi | TradeType::App => json!({"prepay_id": order.prepay_id}),
        TradeType::Native => json!({"code_url": payments::code_url(&order.pay_token)}),
        TradeType::H5 => {
            json!({"h5_url": format!("{}/pay/h5?prepay_id={}", app.config.base_url, order.prepay_id)})
        }
    };
    ok(&out)
}

/// A 200 with `value` as JSON.
pub fn ok<T: serde::Serialize>(value: &T) -> Result<Response, V3Error> {
    let body = serde_json::to_vec(value).map_err(|e| V3Error::bug(format!("serialising the response: {e}")))?;
    Ok((StatusCode::OK, body).into_response())
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791897 (JSAPI下单)
pub async fn prepay_jsapi(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, TradeType::Jsapi).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791877 (Native下单)
pub async fn prepay_native(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, TradeType::Native).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791834 (H5下单)
pub async fn prepay_h5(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, TradeType::H5).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791856 (APP下单)
pub async fn prepay_app(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, TradeType::App).await
}

#[derive(Deserialize)]
struct MchidQuery {
    mchid: Option<String>,
}

/// The `mchid` query parameter of the query endpoints: required, and it must
/// be the signer's own.
fn query_mchid(req: &Signed) -> Result<(), V3Error> {
    let q: MchidQuery = req.query()?;
    match q.mchid.as_deref() {
        None | Some("") => Err(V3Error::field(FieldError::missing("mchid"), "query")),
        Some(m) if m != req.merchant.mchid => {
            Err(V3Error::message(koudai_protocol::ErrorCode::NoAuth, super::error::MCHID_MISMATCH))
        }
        Some(_) => Ok(()),
    }
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791899 (微信支付订单号查询订单)
pub async fn query_by_id(
    State(state): State<HttpState>,
    Path(transaction_id): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    query_mchid(&req)?;
    let order = state.app.store.order_by_transaction_id(&req.merchant.mchid, &transaction_id).await;
    respond_order(&state, order.map_err(|e| V3Error::internal(e.into()))?)
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791900 (商户订单号查询订单)
pub async fn query_by_out_trade_no(
    State(state): State<HttpState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    query_mchid(&req)?;
    let order = state.app.store.order_by_out_trade_no(&req.merchant.mchid, &out_trade_no).await;
    respond_order(&state, order.map_err(|e| V3Error::internal(e.into()))?)
}

fn respond_order(state: &HttpState, order: Option<Order>) -> Result<Response, V3Error> {
    let order = order.ok_or_else(|| V3Error::new(koudai_protocol::ErrorCode::OrderNotExist))?;
    ok(&payments::transaction_view(&order, state.app.clock.business_now()))
}

#[derive(Deserialize)]
struct CloseBody {
    mchid: Option<String>,
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791901 (关闭订单)
pub async fn close(
    State(state): State<HttpState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    let body: CloseBody = req.json()?;
    let mchid = required_text(body.mchid, "mchid")?;
    payments::close(&state.app, &req.merchant, &mchid, &out_trade_no).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
