//! Trade and fund-flow bills (§6): made from the store for one merchant and
//! business day, saved as a snapshot the first time they are asked for (so
//! the hash never changes), and downloaded through a short-lived token.

use std::io::Write as _;

use koudai_domain::fees::{self, business_date, day_start, Rate};
use koudai_domain::ledger::{movement, AccountKind};
use koudai_domain::refund::RefundStatus;
use koudai_protocol::bill::{self, FlowRow, TradeBillType, TradeRefund, TradeRow};
use koudai_protocol::times::format_bill_time;
use koudai_protocol::wire::BillLink;
use koudai_protocol::{ApiError, ErrorCode};
use koudai_store::{FlowLine, NewBill, Store, StoreError, StoredBill, TradeLine};

use crate::api::ApiFailure;
use crate::app::SharedState;
use crate::demo::random_token;

/// How long a download URL works (wall seconds); WeChat says 5 minutes.
const DOWNLOAD_VALID_S: i64 = 300;
/// Bills exist for the last three months.
const HISTORY_DAYS: i64 = 92;

fn trade_row(l: &TradeLine) -> TradeRow {
    TradeRow {
        time: format_bill_time(l.time),
        appid: l.appid.clone(),
        mchid: l.mchid.clone(),
        transaction_id: l.transaction_id.clone(),
        out_trade_no: l.out_trade_no.clone(),
        openid: l.openid.clone(),
        trade_type: l.trade_type.clone(),
        total_fen: l.total_fen,
        refund: l.refund.as_ref().map(|r| TradeRefund {
            refund_id: r.refund_id.clone(),
            out_refund_no: r.out_refund_no.clone(),
            refund_fen: r.refund_fen,
            status: RefundStatus::parse(&r.status).map_or("PROCESSING", RefundStatus::bill_status),
            applied_at: format_bill_time(r.created_at),
            succeeded_at: r.success_time.map(format_bill_time).unwrap_or_default(),
        }),
        description: l.description.clone(),
        attach: l.attach.clone().unwrap_or_default(),
        fee_fen: l.fee_fen,
        rate: Rate::from_ppm(l.fee_rate_ppm).percent(),
    }
}

/// 业务名称 and 业务类型 of a posting.
fn business_names(kind: &str, amount_fen: i64) -> (&'static str, &'static str) {
    match kind {
        movement::PAYMENT => ("交易", "交易"),
        movement::FEE => ("手续费", "扣除交易手续费"),
        movement::REFUND => ("退款", "退款"),
        movement::FEE_REFUND => ("手续费", "退还交易手续费"),
        movement::REFUND_REVERSAL => ("退款", "退款关闭退回"),
        movement::FEE_REFUND_REVERSAL => ("手续费", "退款关闭扣回手续费"),
        movement::SETTLEMENT if amount_fen < 0 => ("结算", "结算转出"),
        movement::SETTLEMENT => ("结算", "结算入账"),
        movement::PAYOUT => ("提现", "提现到银行账户"),
        movement::DEPOSIT_PAID => ("保证金", "缴纳保证金"),
        movement::DEPOSIT_RELEASED if amount_fen < 0 => ("保证金", "释放保证金"),
        movement::DEPOSIT_RELEASED => ("保证金", "保证金退回"),
        _ => ("其他", "其他"),
    }
}

fn flow_row(l: &FlowLine) -> FlowRow {
    let (name, kind) = business_names(&l.entry_kind, l.amount_fen);
    FlowRow {
        time: format_bill_time(l.time),
        business_no: l.reference.clone(),
        flow_no: format!("{:020}", l.posting_id),
        business_name: name.into(),
        business_type: kind.into(),
        amount_fen: l.amount_fen,
        balance_fen: l.balance_after_fen.unwrap_or(0),
        applicant: "system".into(),
        remark: String::new(),
        voucher: l.voucher.clone().unwrap_or_default(),
    }
}

/// Which account a fund-flow bill covers: `BASIC` is the merchant's
/// available (settled) funds, `OPERATION` its pending (unsettled) funds,
/// and `DEPOSIT` (a Koudai extension) its deposit. Koudai keeps no separate
/// fee account: fees are deducted per payment from the pending funds.
pub fn flow_account(account_type: &str) -> Option<AccountKind> {
    match account_type {
        "BASIC" => Some(AccountKind::MerchantAvailable),
        "OPERATION" => Some(AccountKind::MerchantPending),
        "DEPOSIT" => Some(AccountKind::MerchantDeposit),
        _ => None,
    }
}

/// Makes a trade bill from the store.
pub async fn make_trade_bill(
    store: &Store,
    mchid: &str,
    day: time::Date,
    kind: TradeBillType,
) -> Result<(String, usize), StoreError> {
    let start = day_start(day);
    let lines = store.trade_lines(mchid, start, start + 24 * 3600).await?;
    let rows: Vec<TradeRow> = lines.iter().map(trade_row).collect();
    let n = rows
        .iter()
        .filter(|r| match kind {
            TradeBillType::All => true,
            TradeBillType::Success => r.refund.is_none(),
            TradeBillType::Refund => r.refund.is_some(),
        })
        .count();
    Ok((bill::trade_bill(kind, &rows), n))
}

/// Makes a fund-flow bill from the store.
pub async fn make_flow_bill(
    store: &Store,
    mchid: &str,
    day: time::Date,
    account: AccountKind,
) -> Result<(String, usize), StoreError> {
    let start = day_start(day);
    let lines = store.flow_lines(mchid, account, start, start + 24 * 3600).await?;
    let rows: Vec<FlowRow> = lines.iter().map(flow_row).collect();
    Ok((bill::fund_flow_bill(&rows), rows.len()))
}

fn param(field: &str, message: &str) -> ApiFailure {
    ApiError::with_message(ErrorCode::ParamError, message)
        .detail(serde_json::json!({"field": field, "location": "query"}))
        .into()
}

/// Checks `bill_date`: a past business day within the last three months.
fn bill_day(state: &SharedState, bill_date: Option<&str>) -> Result<time::Date, ApiFailure> {
    let raw = bill_date.filter(|s| !s.is_empty()).ok_or_else(|| param("bill_date", "参数“bill_date”是必填项"))?;
    let day = fees::parse_date(raw).ok_or_else(|| param("bill_date", "bill_date 格式应为YYYY-MM-DD"))?;
    let today = business_date(state.clock.business_now());
    if day >= today {
        return Err(
            ApiError::with_message(ErrorCode::NoStatisticalData, "账单日期须为已结束的自然日（次日生成）").into()
        );
    }
    if (today - day).whole_days() > HISTORY_DAYS {
        return Err(ApiError::with_message(ErrorCode::NoStatisticalData, "仅支持下载三个月内的账单").into());
    }
    Ok(day)
}

fn tar_type(value: Option<&str>) -> Result<bool, ApiFailure> {
    match value {
        None | Some("") => Ok(false),
        Some("GZIP") => Ok(true),
        Some(_) => Err(param("tar_type", "tar_type 只能是 GZIP")),
    }
}

async fn link(
    state: &SharedState,
    mchid: &str,
    kind: &str,
    day: time::Date,
    bill_type: &str,
    gzip: bool,
    make: impl std::future::Future<Output = Result<(String, usize), StoreError>>,
) -> Result<BillLink, ApiFailure> {
    let date = fees::format_date(day);
    let stored = match state.store.bill(mchid, kind, &date, bill_type).await? {
        Some(b) => b,
        None => {
            let (content, rows) = make.await?;
            if rows == 0 {
                return Err(ApiError::with_message(ErrorCode::NoStatisticalData, "当日无账单数据").into());
            }
            let hash = bill::sha1_hex(&content);
            let new = NewBill { mchid, kind, date: &date, bill_type, content: &content, sha1: &hash };
            state.store.save_bill(&new, state.clock.wall_now()).await?
        }
    };
    let token = random_token(40);
    state.store.create_bill_token(&token, stored.id, mchid, gzip, state.clock.wall_now() + DOWNLOAD_VALID_S).await?;
    let mut download_url = format!("{}/v3/billdownload/file?token={token}", state.bill_download_base);
    if gzip {
        download_url.push_str("&tartype=gzip");
    }
    Ok(BillLink { hash_type: "SHA1", hash_value: stored.sha1, download_url })
}

/// `GET /v3/bill/tradebill`.
pub async fn trade_bill(
    state: &SharedState,
    mchid: &str,
    bill_date: Option<&str>,
    bill_type: Option<&str>,
    tar: Option<&str>,
) -> Result<BillLink, ApiFailure> {
    let day = bill_day(state, bill_date)?;
    let kind = match bill_type.filter(|s| !s.is_empty()) {
        None => TradeBillType::All,
        Some(t) => {
            TradeBillType::parse(t).ok_or_else(|| param("bill_type", "bill_type 只支持 ALL、SUCCESS、REFUND"))?
        }
    };
    let gzip = tar_type(tar)?;
    link(state, mchid, "trade", day, kind.as_str(), gzip, make_trade_bill(&state.store, mchid, day, kind)).await
}

/// `GET /v3/bill/fundflowbill`.
pub async fn fund_flow_bill(
    state: &SharedState,
    mchid: &str,
    bill_date: Option<&str>,
    account_type: Option<&str>,
    tar: Option<&str>,
) -> Result<BillLink, ApiFailure> {
    let day = bill_day(state, bill_date)?;
    let account_type = account_type.filter(|s| !s.is_empty()).unwrap_or("BASIC");
    let account = flow_account(account_type).ok_or_else(|| {
        param("account_type", "account_type 只支持 BASIC（已结算资金）、OPERATION（未结算资金）、DEPOSIT（保证金）")
    })?;
    let gzip = tar_type(tar)?;
    link(state, mchid, "fundflow", day, account_type, gzip, make_flow_bill(&state.store, mchid, day, account)).await
}

/// `GET /v3/billdownload/file?token=…`: the bill bytes, gzipped if asked.
pub async fn download(state: &SharedState, mchid: &str, token: Option<&str>) -> Result<(Vec<u8>, bool), ApiFailure> {
    let token = token.filter(|t| !t.is_empty()).ok_or_else(|| param("token", "参数“token”是必填项"))?;
    let (stored, gzip): (StoredBill, bool) =
        state.store.bill_for_token(token, mchid, state.clock.wall_now()).await?.ok_or_else(|| {
            ApiFailure::from(ApiError::with_message(ErrorCode::ResourceNotExists, "下载链接不存在或已过期"))
        })?;
    if !gzip {
        return Ok((stored.content.into_bytes(), false));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zipped = encoder.write_all(stored.content.as_bytes()).and_then(|()| encoder.finish()).map_err(|e| {
        ApiFailure { error: ApiError::new(ErrorCode::SystemError), mode: None, internal: Some(format!("gzip: {e}")) }
    })?;
    Ok((zipped, true))
}
