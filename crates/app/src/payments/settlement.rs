//! The operator's side of money: loading the fee schedule, settling days
//! (also from the worker at each business-day boundary), and verifying the
//! ledger and the bills against each other.

use koudai_domain::fees::{self, business_date, day_start, DEFAULT_SCHEDULE};
use koudai_domain::{ids, BusinessTime, WallTime};
use koudai_protocol::bill::{self, parse_yuan, TradeBillType};
use koudai_store::{Store, StoreError, TradeScope};

use crate::payments::bills::{flow_account, make_trade_bill, DAY_S, HISTORY_DAYS};
use crate::Rng;

/// Loads the schedule shipped with Koudai (a no-op once loaded).
pub async fn load_default_schedule(store: &Store, now: WallTime) -> Result<(), StoreError> {
    store.load_fee_schedule(DEFAULT_SCHEDULE, now.unix()).await.map(|_| ())
}

/// Settles and pays out every business day not yet run, up to the one
/// business time `now` falls on; returns the days run.
pub async fn settle_due_days(store: &Store, rng: &Rng, now: BusinessTime) -> Result<Vec<String>, StoreError> {
    let today = fees::format_date(business_date(now.unix()));
    store.settle_through(&today, now.unix(), |prefix| ids::voucher(prefix, now.datetime(), &rng.bytes())).await
}

/// Runs settlement and payouts for one business day (`YYYY-MM-DD`), even
/// if it ran before (nothing is settled or paid out twice).
pub async fn settle_day(
    store: &Store,
    rng: &Rng,
    date: &str,
    now: BusinessTime,
) -> Result<(Vec<koudai_store::Settled>, Vec<koudai_store::Payout>), StoreError> {
    let voucher = |prefix| ids::voucher(prefix, now.datetime(), &rng.bytes());
    let settled = store.settle(date, now.unix(), || voucher("S")).await?;
    let paid = store.pay_out(date, now.unix(), || voucher("P")).await?;
    Ok((settled, paid))
}

fn summary_fen(summary: &[String], i: usize) -> Option<i64> {
    summary.get(i).and_then(|s| parse_yuan(s))
}

/// Everything wrong with the ledger and the bills: the store's own checks
/// (balanced entries, balances equal to postings, each payment and refund
/// with exactly its entries), then every stored bill and every trade bill
/// of the last three months against the ledger's totals for its day.
pub async fn verify(store: &Store, now: BusinessTime) -> Result<Vec<String>, StoreError> {
    let mut problems = store.ledger_problems().await?;
    for b in store.bills().await? {
        let label = format!("{} bill {} {} of {}", b.bill_kind, b.bill_type, b.bill_date, b.mchid);
        if bill::sha1_hex(&b.content) != b.sha1 {
            problems.push(format!("{label}: content does not match its SHA-1"));
        }
        let Some(day) = fees::parse_date(&b.bill_date) else {
            problems.push(format!("{label}: bad date"));
            continue;
        };
        let Some(summary) = bill::summary(&b.content) else {
            problems.push(format!("{label}: no summary line"));
            continue;
        };
        let start = day_start(day);
        if b.bill_kind == "fundflow" {
            let Some(account) = flow_account(&b.bill_type) else {
                problems.push(format!("{label}: unknown account type"));
                continue;
            };
            let lines = store.flow_lines(&b.mchid, account, start, start + DAY_S).await?;
            let net: i64 = lines.iter().map(|l| l.amount_fen).sum();
            match (summary_fen(&summary, 2), summary_fen(&summary, 4)) {
                (Some(income), Some(expense)) if income - expense == net => {}
                _ => problems.push(format!("{label}: summary {summary:?} does not net to the ledger's {net} fen")),
            }
        } else if b.bill_type == TradeBillType::All.as_str() {
            check_trade_summary(store, &mut problems, &label, &b.mchid, start, &summary).await?;
        }
    }
    for (mchid, start) in store.active_days(now.unix() - HISTORY_DAYS * DAY_S).await? {
        if start + DAY_S > now.unix() {
            continue; // the day is not over
        }
        let (content, _) =
            make_trade_bill(store, &TradeScope::Merchant(mchid.clone()), business_date(start), TradeBillType::All)
                .await?;
        let label = format!("trade bill of {} for {mchid}", fees::format_date(business_date(start)));
        match bill::summary(&content) {
            Some(summary) => check_trade_summary(store, &mut problems, &label, &mchid, start, &summary).await?,
            None => problems.push(format!("{label}: no summary line")),
        }
    }
    Ok(problems)
}

async fn check_trade_summary(
    store: &Store,
    problems: &mut Vec<String>,
    label: &str,
    mchid: &str,
    start: i64,
    summary: &[String],
) -> Result<(), StoreError> {
    let t = store.day_totals(mchid, start, start + DAY_S).await?;
    let count: Option<i64> = summary.first().and_then(|c| c.parse().ok());
    let got = (count, summary_fen(summary, 1), summary_fen(summary, 2), summary_fen(summary, 4));
    let want = (Some(t.payment_count + t.refund_count), Some(t.payments), Some(t.refunds), Some(t.net_fees));
    if got != want {
        problems.push(format!(
            "{label}: bill says (lines, paid, refunded, fees) = {got:?}, the ledger says {want:?} (fen)"
        ));
    }
    Ok(())
}
