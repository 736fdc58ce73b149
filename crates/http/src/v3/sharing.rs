//! Profit sharing (§10): receivers, orders, unfreeze, amounts, max ratio,
//! returns. Direct merchants call these for themselves; providers add
//! `sub_mchid`. `name` fields arrive encrypted with the platform key (§2.5).

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use koudai_app::payments::sharing::{self, ReceiverCommand, ReturnCommand, ShareCommand, ShareCommandLine};
use koudai_domain::sharing::{check_out_no, ReceiverType, RelationType};
use koudai_domain::{order, FieldError};
use koudai_protocol::ErrorCode;

use super::auth::Signed;
use super::body::{json_value, ok, params_digest, required, required_text, typed};
use super::error::V3Error;
use crate::state::HttpState;

fn field(name: &str, message: impl Into<String>) -> V3Error {
    V3Error::body_field(FieldError::new(name, message))
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// Decrypts a sensitive field with the platform key the request's
/// `Wechatpay-Serial` names.
fn decrypt(state: &HttpState, req: &Signed, name: &str, ciphertext: &str) -> Result<String, V3Error> {
    let platform = &state.app.platform;
    let Some(serial) = &req.serial else {
        return Err(V3Error::message(ErrorCode::ParamError, "HTTP header缺少微信支付平台证书序列号(Wechatpay-Serial)"));
    };
    if !platform.names_this_key(serial) {
        return Err(V3Error::message(ErrorCode::ParamError, "Wechatpay-Serial 不是平台证书序列号或平台公钥ID"));
    }
    platform.key.decrypt_field(ciphertext).map_err(|_| field(name, "请确认待处理的消息是否为加密后的密文"))
}

fn receiver_type(v: Option<String>, name: &str) -> Result<ReceiverType, V3Error> {
    let v = required_text(v, name)?;
    ReceiverType::parse(&v)
        .ok_or_else(|| field(name, "type 只能是 MERCHANT_ID、PERSONAL_OPENID 或 PERSONAL_SUB_OPENID"))
}

fn check_account(account: &str, name: &str) -> Result<(), V3Error> {
    order::check_length(name, account, 1, 64).map_err(V3Error::body_field)
}

#[derive(Deserialize)]
struct AddReceiverBody {
    sub_mchid: Option<String>,
    appid: Option<String>,
    sub_appid: Option<String>,
    #[serde(rename = "type")]
    receiver_type: Option<String>,
    account: Option<String>,
    name: Option<String>,
    relation_type: Option<String>,
    custom_relation: Option<String>,
}

// 添加分账接收方
pub async fn add_receiver(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let b: AddReceiverBody = req.json()?;
    let receiver_type = receiver_type(b.receiver_type, "type")?;
    let account = required_text(b.account, "account")?;
    check_account(&account, "account")?;
    let relation = required_text(b.relation_type, "relation_type")?;
    let relation_type =
        RelationType::parse(&relation).ok_or_else(|| field("relation_type", "relation_type 取值不合法"))?;
    let name = match non_empty(b.name) {
        Some(c) => Some(decrypt(&state, &req, "name", &c)?),
        None => None,
    };
    let cmd = ReceiverCommand {
        sub_mchid: non_empty(b.sub_mchid),
        appid: required_text(b.appid, "appid")?,
        sub_appid: non_empty(b.sub_appid),
        receiver_type,
        account,
        name,
        relation_type,
        custom_relation: non_empty(b.custom_relation),
    };
    ok(&sharing::add_receiver(&state.app, &req.merchant, cmd).await?)
}

#[derive(Deserialize)]
struct DeleteReceiverBody {
    sub_mchid: Option<String>,
    appid: Option<String>,
    #[serde(rename = "type")]
    receiver_type: Option<String>,
    account: Option<String>,
}

// 删除分账接收方
pub async fn delete_receiver(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let b: DeleteReceiverBody = req.json()?;
    let receiver_type = receiver_type(b.receiver_type, "type")?;
    let account = required_text(b.account, "account")?;
    let appid = required_text(b.appid, "appid")?;
    let sub = non_empty(b.sub_mchid);
    ok(&sharing::delete_receiver(&state.app, &req.merchant, sub.as_deref(), &appid, receiver_type, &account).await?)
}

#[derive(Deserialize)]
struct OrderBody {
    sub_mchid: Option<String>,
    appid: Option<String>,
    sub_appid: Option<String>,
    transaction_id: Option<String>,
    out_order_no: Option<String>,
    receivers: Option<Vec<OrderReceiverBody>>,
    unfreeze_unsplit: Option<bool>,
}

#[derive(Deserialize)]
struct OrderReceiverBody {
    #[serde(rename = "type")]
    receiver_type: Option<String>,
    account: Option<String>,
    name: Option<String>,
    amount: Option<i64>,
    description: Option<String>,
}

// 请求分账
pub async fn create_order(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let value = json_value(&req.body)?;
    let b: OrderBody = typed(&value)?;
    let out_order_no = required_text(b.out_order_no, "out_order_no")?;
    check_out_no("out_order_no", &out_order_no).map_err(V3Error::body_field)?;
    let list = required(b.receivers, "receivers")?;
    if list.is_empty() {
        return Err(field("receivers", "receivers 至少包含一个分账接收方"));
    }
    let mut receivers = Vec::with_capacity(list.len());
    for (i, r) in list.into_iter().enumerate() {
        let at = |f: &str| format!("receivers[{i}].{f}");
        let receiver_type = receiver_type(r.receiver_type, &at("type"))?;
        let account = required_text(r.account, &at("account"))?;
        check_account(&account, &at("account"))?;
        let amount_fen = required(r.amount, &at("amount"))?;
        if amount_fen <= 0 {
            return Err(field(&at("amount"), "分账金额必须大于0"));
        }
        let description = required_text(r.description, &at("description"))?;
        order::check_length(&at("description"), &description, 1, 80).map_err(V3Error::body_field)?;
        if let Some(c) = non_empty(r.name) {
            decrypt(&state, &req, &at("name"), &c)?;
        }
        receivers.push(ShareCommandLine { receiver_type, account, amount_fen, description });
    }
    let cmd = ShareCommand {
        sub_mchid: non_empty(b.sub_mchid),
        appid: required_text(b.appid, "appid")?,
        sub_appid: non_empty(b.sub_appid),
        transaction_id: required_text(b.transaction_id, "transaction_id")?,
        out_order_no,
        receivers,
        unfreeze_unsplit: required(b.unfreeze_unsplit, "unfreeze_unsplit")?,
        params_digest: params_digest("profitsharing/orders", &value),
    };
    ok(&sharing::create_order(&state.app, &req.merchant, cmd).await?)
}

#[derive(Deserialize)]
struct UnfreezeBody {
    sub_mchid: Option<String>,
    transaction_id: Option<String>,
    out_order_no: Option<String>,
    description: Option<String>,
}

// 解冻剩余资金
pub async fn unfreeze(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let value = json_value(&req.body)?;
    let b: UnfreezeBody = typed(&value)?;
    let transaction_id = required_text(b.transaction_id, "transaction_id")?;
    let out_order_no = required_text(b.out_order_no, "out_order_no")?;
    check_out_no("out_order_no", &out_order_no).map_err(V3Error::body_field)?;
    let description = required_text(b.description, "description")?;
    order::check_length("description", &description, 1, 80).map_err(V3Error::body_field)?;
    let digest = params_digest("profitsharing/unfreeze", &value);
    let sub = non_empty(b.sub_mchid);
    let view = sharing::unfreeze(
        &state.app,
        &req.merchant,
        sub.as_deref(),
        &transaction_id,
        &out_order_no,
        &description,
        &digest,
    )
    .await?;
    ok(&view)
}

#[derive(Deserialize)]
struct OrderQuery {
    sub_mchid: Option<String>,
    transaction_id: Option<String>,
}

// 查询分账结果
pub async fn query_order(
    State(state): State<HttpState>,
    Path(out_order_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    let q: OrderQuery = req.query()?;
    let transaction_id =
        non_empty(q.transaction_id).ok_or_else(|| V3Error::field(FieldError::missing("transaction_id"), "query"))?;
    let sub = non_empty(q.sub_mchid);
    ok(&sharing::query_order(&state.app, &req.merchant, sub.as_deref(), &out_order_no, &transaction_id).await?)
}

// 查询剩余待分金额
pub async fn amounts(
    State(state): State<HttpState>,
    Path(transaction_id): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    ok(&sharing::unsplit_amount(&state.app, &req.merchant, &transaction_id).await?)
}

// 查询最大分账比例
pub async fn merchant_config(
    State(state): State<HttpState>,
    Path(sub_mchid): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    ok(&sharing::max_ratio(&state.app, &req.merchant, &sub_mchid).await?)
}

#[derive(Deserialize)]
struct ReturnBody {
    sub_mchid: Option<String>,
    order_id: Option<String>,
    out_order_no: Option<String>,
    out_return_no: Option<String>,
    return_mchid: Option<String>,
    amount: Option<i64>,
    description: Option<String>,
}

// 请求分账回退
pub async fn create_return(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let value = json_value(&req.body)?;
    let b: ReturnBody = typed(&value)?;
    let order_id = non_empty(b.order_id);
    let out_order_no = non_empty(b.out_order_no);
    if order_id.is_none() && out_order_no.is_none() {
        return Err(field("out_order_no", "order_id 和 out_order_no 必须二选一填写"));
    }
    let out_return_no = required_text(b.out_return_no, "out_return_no")?;
    check_out_no("out_return_no", &out_return_no).map_err(V3Error::body_field)?;
    let amount_fen = required(b.amount, "amount")?;
    if amount_fen <= 0 {
        return Err(field("amount", "回退金额必须大于0"));
    }
    let description = required_text(b.description, "description")?;
    order::check_length("description", &description, 1, 80).map_err(V3Error::body_field)?;
    let cmd = ReturnCommand {
        sub_mchid: non_empty(b.sub_mchid),
        order_id,
        out_order_no,
        out_return_no,
        return_mchid: required_text(b.return_mchid, "return_mchid")?,
        amount_fen,
        description,
        params_digest: params_digest("profitsharing/return-orders", &value),
    };
    ok(&sharing::create_return(&state.app, &req.merchant, cmd).await?)
}

#[derive(Deserialize)]
struct ReturnQuery {
    sub_mchid: Option<String>,
    out_order_no: Option<String>,
}

// 查询分账回退结果
pub async fn query_return(
    State(state): State<HttpState>,
    Path(out_return_no): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    let q: ReturnQuery = req.query()?;
    let out_order_no =
        non_empty(q.out_order_no).ok_or_else(|| V3Error::field(FieldError::missing("out_order_no"), "query"))?;
    let sub = non_empty(q.sub_mchid);
    ok(&sharing::query_return(&state.app, &req.merchant, sub.as_deref(), &out_return_no, &out_order_no).await?)
}
