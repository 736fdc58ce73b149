//! Trade and fund-flow bills (§6): made from the store for one merchant and
//! business day, saved as a snapshot the first time they are asked for (so
//! the hash never changes), and downloaded through a short-lived token.

use std::io::Write as _;

use koudai_domain::fees::{self, business_date, day_start, Rate};
use koudai_domain::ledger::{AccountKind, MovementKind};
use koudai_protocol::bill::{self, FlowRow, TradeBillType, TradeRefund, TradeRow};
use koudai_protocol::times::format_bill_time;
use koudai_protocol::wire::BillLink;
use koudai_store::{FlowLine, Merchant, NewBill, Store, StoreError, TradeLine, TradeScope};

use crate::access::authz::{self, Action, Denied};
use crate::{App, Internal};

/// How long a download URL works (wall seconds); WeChat says 5 minutes.
const DOWNLOAD_VALID_S: i64 = 300;
/// Bills exist for the last three months.
pub const HISTORY_DAYS: i64 = 92;
/// How long after a business midnight every node is past it (the jobs loop
/// re-reads the business clock every second).
const ALL_NODES_AGREE_S: i64 = 5;
/// One day in seconds.
pub const DAY_S: i64 = 86_400;
/// Letters and digits in a download token.
const TOKEN_LEN: usize = 40;

/// Why there is no bill to download.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    #[error("the day has not ended on the business clock")]
    DayNotOver,
    #[error("the day is more than three months back")]
    TooOld,
    #[error("the day had nothing to bill")]
    Empty,
    #[error("no such download token, or it expired")]
    TokenNotFound,
    #[error("{0}")]
    Refused(authz::Refused),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for BillError {
    fn from(e: StoreError) -> Self {
        BillError::Internal(e.into())
    }
}

fn trade_row(l: &TradeLine) -> TradeRow {
    TradeRow {
        time: format_bill_time(l.time),
        appid: l.appid.clone(),
        mchid: l.sp_mchid.clone().unwrap_or_else(|| l.mchid.clone()),
        sub_mchid: l.sp_mchid.as_ref().map(|_| l.mchid.clone()),
        transaction_id: l.transaction_id.clone(),
        out_trade_no: l.out_trade_no.clone(),
        openid: l.openid.clone(),
        trade_type: l.trade_type.as_str().to_owned(),
        total_fen: l.total_fen,
        refund: l.refund.as_ref().map(|r| TradeRefund {
            refund_id: r.refund_id.clone(),
            out_refund_no: r.out_refund_no.clone(),
            refund_fen: r.refund_fen,
            status: r.status.bill_status(),
            applied_at: format_bill_time(r.created_at),
            succeeded_at: r.success_time.map(format_bill_time).unwrap_or_default(),
        }),
        description: l.description.clone(),
        attach: l.attach.clone().unwrap_or_default(),
        fee_fen: l.fee_fen,
        rate: Rate::from_ppm(l.fee_rate_ppm).percent(),
    }
}

/// 业务名称 and 业务类型 of a posting to a merchant account. Every kind is
/// named, so that a new movement kind cannot reach a bill unnamed.
fn business_names(kind: MovementKind, amount_fen: i64) -> (&'static str, &'static str) {
    use MovementKind as M;
    match kind {
        M::Payment => ("交易", "交易"),
        M::Fee => ("手续费", "扣除交易手续费"),
        M::Refund => ("退款", "退款"),
        M::FeeRefund => ("手续费", "退还交易手续费"),
        M::RefundReversal => ("退款", "退款关闭退回"),
        M::FeeRefundReversal => ("手续费", "退款关闭扣回手续费"),
        M::Settlement if amount_fen < 0 => ("结算", "结算转出"),
        M::Settlement => ("结算", "结算入账"),
        M::Payout => ("提现", "提现到银行账户"),
        M::DepositPaid => ("保证金", "缴纳保证金"),
        M::DepositReleased if amount_fen < 0 => ("保证金", "释放保证金"),
        M::DepositReleased => ("保证金", "保证金退回"),
        M::ProfitShare => ("分账", "分账冻结资金转出"),
        M::ProfitShareSuccess => ("分账", "分账入账"),
        M::ProfitShareReversal => ("分账", "分账失败退回"),
        M::ProfitShareReturn => ("分账回退", "分账回退转出"),
        M::ProfitShareReturnSuccess => ("分账回退", "分账回退入账"),
        // These post to consumer and platform accounts only, never to the
        // merchant accounts a fund-flow bill covers.
        M::TopUp | M::RefundSuccess | M::PayoutConfirmed => ("其他", "其他"),
    }
}

fn flow_row(l: &FlowLine) -> FlowRow {
    let (name, kind) = business_names(l.entry_kind, l.amount_fen);
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
    scope: &TradeScope,
    day: time::Date,
    kind: TradeBillType,
) -> Result<(String, usize), StoreError> {
    let start = day_start(day);
    let lines = store.trade_lines(scope, start, start + DAY_S).await?;
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
    let lines = store.flow_lines(mchid, account, start, start + DAY_S).await?;
    let rows: Vec<FlowRow> = lines.iter().map(flow_row).collect();
    Ok((bill::fund_flow_bill(&rows), rows.len()))
}

/// Checks that `day` is a past business day within the last three months.
fn check_day(app: &App, day: time::Date) -> Result<(), BillError> {
    // A bill is frozen the first time it is made, so it is made only once
    // every node has left its day: nodes re-read a moved sandbox clock every
    // second, so a few seconds after midnight none can still book into it.
    let today = business_date(app.clock.business_now().unix() - ALL_NODES_AGREE_S);
    if day >= today {
        return Err(BillError::DayNotOver);
    }
    if (today - day).whole_days() > HISTORY_DAYS {
        return Err(BillError::TooOld);
    }
    Ok(())
}

async fn link(
    app: &App,
    mchid: &str,
    kind: &str,
    day: time::Date,
    bill_type: &str,
    gzip: bool,
    make: impl std::future::Future<Output = Result<(String, usize), StoreError>>,
) -> Result<BillLink, BillError> {
    let date = fees::format_date(day);
    let stored = match app.store.bill(mchid, kind, &date, bill_type).await? {
        Some(b) => b,
        None => {
            let (content, rows) = make.await?;
            if rows == 0 {
                return Err(BillError::Empty);
            }
            let hash = bill::sha1_hex(&content);
            let new = NewBill { mchid, kind, date: &date, bill_type, content: &content, sha1: &hash };
            app.store.save_bill(&new, app.clock.wall_now().unix()).await?
        }
    };
    let token = app.rng.token(TOKEN_LEN);
    let expires_at = app.clock.wall_now().plus(DOWNLOAD_VALID_S).unix();
    app.store.create_bill_token(&token, stored.id, mchid, gzip, expires_at).await?;
    let mut download_url = format!("{}/v3/billdownload/file?token={token}", app.config.bill_download_base);
    if gzip {
        download_url.push_str("&tartype=gzip");
    }
    Ok(BillLink { hash_type: "SHA1", hash_value: stored.sha1, download_url })
}

/// A trade bill for `day` (`GET /v3/bill/tradebill`): the caller's own,
/// or, for a provider, of the orders it placed (for one sub-merchant with
/// `sub_mchid`). Stored under the caller with the filter in its type, so
/// `ALL` alone always means a merchant's own books.
pub async fn trade_bill(
    app: &App,
    caller: &Merchant,
    sub_mchid: Option<&str>,
    day: time::Date,
    kind: TradeBillType,
    gzip: bool,
) -> Result<BillLink, BillError> {
    check_day(app, day)?;
    let scope = authz::authorize(app, caller, None, sub_mchid, Action::TradeBill).await.map_err(|e| match e {
        Denied::Refused(r) => BillError::Refused(r),
        Denied::MchidMismatch(m) => BillError::Refused(authz::Refused { message: format!("mchid {m}") }),
        Denied::Internal(e) => BillError::Internal(e),
    })?;
    let provider = match &scope.provider {
        Some(p) => Some(p.sp_mchid.clone()),
        None => app.store.provider(&caller.mchid).await?.map(|p| p.sp_mchid),
    };
    let (trade_scope, bill_type) = match provider {
        Some(sp_mchid) => {
            let filter = sub_mchid.unwrap_or("*").to_owned();
            let bill_type = format!("{}:{filter}", kind.as_str());
            (TradeScope::Provider { sp_mchid, sub_mchid: sub_mchid.map(str::to_owned) }, bill_type)
        }
        None => (TradeScope::Merchant(caller.mchid.clone()), kind.as_str().to_owned()),
    };
    let make = make_trade_bill(&app.store, &trade_scope, day, kind);
    link(app, &caller.mchid, "trade", day, &bill_type, gzip, make).await
}

/// A fund-flow bill of `mchid` for `day` (`GET /v3/bill/fundflowbill`);
/// `account_type` is one [`flow_account`] knows.
pub async fn fund_flow_bill(
    app: &App,
    mchid: &str,
    day: time::Date,
    account_type: &str,
    account: AccountKind,
    gzip: bool,
) -> Result<BillLink, BillError> {
    check_day(app, day)?;
    link(app, mchid, "fundflow", day, account_type, gzip, make_flow_bill(&app.store, mchid, day, account)).await
}

/// The bytes behind a download token of `mchid`, gzipped if the token was
/// made for gzip; `(bytes, gzipped)`.
pub async fn download(app: &App, mchid: &str, token: &str) -> Result<(Vec<u8>, bool), BillError> {
    let (stored, gzip) =
        app.store.bill_for_token(token, mchid, app.clock.wall_now().unix()).await?.ok_or(BillError::TokenNotFound)?;
    if !gzip {
        return Ok((stored.content.into_bytes(), false));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zipped = encoder
        .write_all(stored.content.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| Internal::bug(format!("gzip: {e}")))?;
    Ok((zipped, true))
}
