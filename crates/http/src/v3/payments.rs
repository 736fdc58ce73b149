//! Placing, querying and closing orders (§2, §3).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use koudai_app::payments::{self, OrderKey, OrderParties, PayerId, PrepayCommand};
use koudai_domain::{order, FieldError, TradeType};
use koudai_protocol::times;
use koudai_protocol::wire::StoreInfo;

use super::auth::Signed;
use super::body::{json_value, ok, params_digest, required, required_text, typed};
use super::error::V3Error;
use crate::state::HttpState;

#[derive(Deserialize)]
struct PrepayBody {
    appid: Option<String>,
    mchid: Option<String>,
    sp_appid: Option<String>,
    sp_mchid: Option<String>,
    sub_appid: Option<String>,
    sub_mchid: Option<String>,
    description: Option<String>,
    out_trade_no: Option<String>,
    notify_url: Option<String>,
    amount: Option<AmountBody>,
    attach: Option<String>,
    time_expire: Option<String>,
    payer: Option<PayerBody>,
    scene_info: Option<SceneBody>,
    settle_info: Option<SettleBody>,
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
    sp_openid: Option<String>,
    sub_openid: Option<String>,
}

#[derive(Deserialize)]
struct SceneBody {
    payer_client_ip: Option<String>,
    device_id: Option<String>,
    h5_info: Option<H5InfoBody>,
    store_info: Option<StoreInfoBody>,
}

#[derive(Deserialize)]
struct StoreInfoBody {
    id: Option<String>,
    name: Option<String>,
    area_code: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct H5InfoBody {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct SettleBody {
    profit_sharing: Option<bool>,
}

/// Direct (`/v3/pay/transactions/…`) or partner (`/v3/pay/partner/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Direct,
    Partner,
}

/// Reads a prepay body into a command: every field checked, every
/// `PARAM_ERROR` naming its field.
fn prepay_command(
    mode: Mode,
    trade_type: TradeType,
    raw: &[u8],
    require_https: bool,
) -> Result<PrepayCommand, V3Error> {
    let value = json_value(raw)?;
    let b: PrepayBody = typed(&value)?;
    let field = V3Error::body_field;
    let parties = match mode {
        Mode::Direct => {
            OrderParties::Direct { appid: required_text(b.appid, "appid")?, mchid: required_text(b.mchid, "mchid")? }
        }
        Mode::Partner => OrderParties::Partner {
            sp_appid: required_text(b.sp_appid, "sp_appid")?,
            sp_mchid: required_text(b.sp_mchid, "sp_mchid")?,
            sub_mchid: required_text(b.sub_mchid, "sub_mchid")?,
            sub_appid: b.sub_appid.filter(|a| !a.is_empty()),
        },
    };
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
    let payer = payer(mode, b.payer);
    if let (OrderParties::Partner { sub_appid: None, .. }, Some(PayerId::SubOpenid(_))) = (&parties, &payer) {
        return Err(field(FieldError::new("sub_appid", "使用payer.sub_openid时sub_appid必填")));
    }
    let device_id = b.scene_info.as_ref().and_then(|s| s.device_id.clone());
    let store = match b.scene_info.as_ref().and_then(|s| s.store_info.as_ref()) {
        None => None,
        Some(si) => Some(store_info(si)?),
    };
    match trade_type {
        TradeType::Jsapi if payer.is_none() => {
            let name = if mode == Mode::Direct { "payer.openid" } else { "payer.sp_openid" };
            return Err(field(FieldError::missing(name)));
        }
        TradeType::H5 => check_h5_scene(b.scene_info)?,
        _ => {}
    }
    let endpoint = match mode {
        Mode::Direct => trade_type.as_str().to_owned(),
        Mode::Partner => format!("partner/{}", trade_type.as_str()),
    };
    Ok(PrepayCommand {
        parties,
        out_trade_no,
        trade_type,
        description,
        attach: b.attach,
        notify_url,
        total_fen,
        payer,
        device_id,
        time_expire,
        profit_sharing: b.settle_info.and_then(|s| s.profit_sharing).unwrap_or(false),
        store,
        params_digest: params_digest(&endpoint, &value),
    })
}

/// Who pays: `payer.openid` (direct), or `payer.sp_openid` before
/// `payer.sub_openid` (partner); empty strings are absent.
fn payer(mode: Mode, payer: Option<PayerBody>) -> Option<PayerId> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    match (mode, payer) {
        (_, None) => None,
        (Mode::Direct, Some(p)) => non_empty(p.openid).map(PayerId::Openid),
        (Mode::Partner, Some(p)) => match (non_empty(p.sp_openid), non_empty(p.sub_openid)) {
            (Some(sp), _) => Some(PayerId::Openid(sp)),
            (None, Some(sub)) => Some(PayerId::SubOpenid(sub)),
            (None, None) => None,
        },
    }
}

/// `scene_info.store_info`: an id, and each field within its length.
fn store_info(si: &StoreInfoBody) -> Result<StoreInfo, V3Error> {
    let field = V3Error::body_field;
    let id = si.id.clone().filter(|i| !i.is_empty());
    let id = id.ok_or_else(|| field(FieldError::missing("scene_info.store_info.id")))?;
    let too_long = |v: &Option<String>, max: usize| v.as_ref().is_some_and(|v| v.chars().count() > max);
    for (name, v, max) in [
        ("scene_info.store_info.id", &Some(id.clone()), 32),
        ("scene_info.store_info.name", &si.name, 256),
        ("scene_info.store_info.area_code", &si.area_code, 32),
        ("scene_info.store_info.address", &si.address, 512),
    ] {
        if too_long(v, max) {
            return Err(field(FieldError::new(name, format!("{name}长度不能超过{max}"))));
        }
    }
    Ok(StoreInfo { id, name: si.name.clone(), area_code: si.area_code.clone(), address: si.address.clone() })
}

/// An H5 payment names the payer's IP and the kind of page it is made on.
fn check_h5_scene(scene: Option<SceneBody>) -> Result<(), V3Error> {
    let scene = required(scene, "scene_info")?;
    required_text(scene.payer_client_ip, "scene_info.payer_client_ip")?;
    let h5 = required(scene.h5_info, "scene_info.h5_info")?;
    let kind = required_text(h5.kind, "scene_info.h5_info.type")?;
    if !["Wap", "iOS", "Android"].contains(&kind.as_str()) {
        return Err(V3Error::body_field(FieldError::new("scene_info.h5_info.type", "场景类型只能是iOS、Android或Wap")));
    }
    Ok(())
}

async fn prepay(state: HttpState, req: Signed, mode: Mode, trade_type: TradeType) -> Result<Response, V3Error> {
    let app = &state.app;
    let cmd = prepay_command(mode, trade_type, &req.body, app.require_https())?;
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

// https://pay.weixin.qq.com/doc/v3/merchant/4012791897 (JSAPI下单)
pub async fn prepay_jsapi(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Direct, TradeType::Jsapi).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791877 (Native下单)
pub async fn prepay_native(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Direct, TradeType::Native).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791834 (H5下单)
pub async fn prepay_h5(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Direct, TradeType::H5).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791856 (APP下单)
pub async fn prepay_app(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Direct, TradeType::App).await
}

// https://pay.weixin.qq.com/doc/v3/partner/4012738519 (服务商JSAPI下单)
pub async fn partner_prepay_jsapi(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Partner, TradeType::Jsapi).await
}

// https://pay.weixin.qq.com/doc/v3/partner/4012738659 (服务商Native下单)
pub async fn partner_prepay_native(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Partner, TradeType::Native).await
}

// 服务商H5下单
pub async fn partner_prepay_h5(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Partner, TradeType::H5).await
}

// 服务商APP下单
pub async fn partner_prepay_app(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    prepay(state, req, Mode::Partner, TradeType::App).await
}

#[derive(Deserialize)]
struct MchidQuery {
    mchid: Option<String>,
    sp_mchid: Option<String>,
    sub_mchid: Option<String>,
}

/// The merchant numbers a query names: `mchid` (direct) or `sp_mchid` and
/// `sub_mchid` (partner), each required.
fn query_parties(req: &Signed, mode: Mode) -> Result<(String, Option<String>), V3Error> {
    let q: MchidQuery = req.query()?;
    let need = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty()).ok_or_else(|| V3Error::field(FieldError::missing(name), "query"))
    };
    match mode {
        Mode::Direct => Ok((need(q.mchid, "mchid")?, None)),
        Mode::Partner => Ok((need(q.sp_mchid, "sp_mchid")?, Some(need(q.sub_mchid, "sub_mchid")?))),
    }
}

async fn query(state: &HttpState, req: &Signed, mode: Mode, key: OrderKey) -> Result<Response, V3Error> {
    let (named, sub_mchid) = query_parties(req, mode)?;
    ok(&payments::query(&state.app, &req.merchant, &named, sub_mchid.as_deref(), &key).await?)
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791899 (微信支付订单号查询订单)
pub async fn query_by_id(
    State(state): State<HttpState>,
    Path(transaction_id): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    query(&state, &req, Mode::Direct, OrderKey::TransactionId(transaction_id)).await
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791900 (商户订单号查询订单)
pub async fn query_by_out_trade_no(
    State(state): State<HttpState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    query(&state, &req, Mode::Direct, OrderKey::OutTradeNo(out_trade_no)).await
}

// 服务商：微信支付订单号查询订单
pub async fn partner_query_by_id(
    State(state): State<HttpState>,
    Path(transaction_id): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    query(&state, &req, Mode::Partner, OrderKey::TransactionId(transaction_id)).await
}

// 服务商：商户订单号查询订单
pub async fn partner_query_by_out_trade_no(
    State(state): State<HttpState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    query(&state, &req, Mode::Partner, OrderKey::OutTradeNo(out_trade_no)).await
}

#[derive(Deserialize)]
struct CloseBody {
    mchid: Option<String>,
    sp_mchid: Option<String>,
    sub_mchid: Option<String>,
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791901 (关闭订单)
pub async fn close(
    State(state): State<HttpState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    let body: CloseBody = req.json()?;
    let mchid = required_text(body.mchid, "mchid")?;
    payments::close(&state.app, &req.merchant, &mchid, None, &out_trade_no).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// 服务商：关闭订单
pub async fn partner_close(
    State(state): State<HttpState>,
    Path(out_trade_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    let body: CloseBody = req.json()?;
    let sp_mchid = required_text(body.sp_mchid, "sp_mchid")?;
    let sub_mchid = required_text(body.sub_mchid, "sub_mchid")?;
    payments::close(&state.app, &req.merchant, &sp_mchid, Some(&sub_mchid), &out_trade_no).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
