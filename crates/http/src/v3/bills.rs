//! Bills (§6): apply for a trade or fund-flow bill, download it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use koudai_app::payments::bills;
use koudai_domain::fees;
use koudai_domain::FieldError;
use koudai_protocol::bill::TradeBillType;

use super::auth::Signed;
use super::body::ok;
use super::error::V3Error;
use crate::state::HttpState;

#[derive(Deserialize)]
struct BillQuery {
    bill_date: Option<String>,
    bill_type: Option<String>,
    account_type: Option<String>,
    tar_type: Option<String>,
    sub_mchid: Option<String>,
}

fn param(field: &str, message: &str) -> V3Error {
    V3Error::field(FieldError::new(field, message), "query")
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn bill_day(q: &BillQuery) -> Result<time::Date, V3Error> {
    let raw = non_empty(&q.bill_date).ok_or_else(|| param("bill_date", "参数“bill_date”是必填项"))?;
    fees::parse_date(raw).ok_or_else(|| param("bill_date", "bill_date 格式应为YYYY-MM-DD"))
}

fn gzip(q: &BillQuery) -> Result<bool, V3Error> {
    match non_empty(&q.tar_type) {
        None => Ok(false),
        Some("GZIP") => Ok(true),
        Some(_) => Err(param("tar_type", "tar_type 只能是 GZIP")),
    }
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791868 (申请交易账单)
pub async fn trade_bill(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let q: BillQuery = req.query()?;
    let day = bill_day(&q)?;
    let kind = match non_empty(&q.bill_type) {
        None => TradeBillType::All,
        Some(t) => {
            TradeBillType::parse(t).ok_or_else(|| param("bill_type", "bill_type 只支持 ALL、SUCCESS、REFUND"))?
        }
    };
    let sub_mchid = non_empty(&q.sub_mchid);
    ok(&bills::trade_bill(&state.app, &req.merchant, sub_mchid, day, kind, gzip(&q)?).await?)
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791869 (申请资金账单)
pub async fn fund_flow_bill(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let q: BillQuery = req.query()?;
    let day = bill_day(&q)?;
    let account_type = non_empty(&q.account_type).unwrap_or("BASIC");
    let account = bills::flow_account(account_type).ok_or_else(|| {
        param("account_type", "account_type 只支持 BASIC（已结算资金）、OPERATION（未结算资金）、DEPOSIT（保证金）")
    })?;
    let link = bills::fund_flow_bill(&state.app, &req.merchant.mchid, day, account_type, account, gzip(&q)?).await?;
    ok(&link)
}

#[derive(Deserialize)]
struct DownloadQuery {
    token: Option<String>,
}

// https://pay.weixin.qq.com/doc/v3/merchant/4012791870 (下载账单)
pub async fn download(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let q: DownloadQuery = req.query()?;
    let token = non_empty(&q.token).ok_or_else(|| param("token", "参数“token”是必填项"))?;
    let (bytes, gzipped) = bills::download(&state.app, &req.merchant.mchid, token).await?;
    let content_type = if gzipped { "application/x-gzip" } else { "text/plain; charset=utf-8" };
    Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response())
}
