//! Store pay codes: every approved store has a page with a permanent QR
//! code where a consumer enters an amount (or picks one of the store's
//! fixed prices), may follow the account, and pays from the wallet. The
//! payment is a real Native payment of the account's owner (partner mode
//! for a sub-merchant), placed by the platform, attributed to the store in
//! `attach` (`store:<poi_id>`) and `scene_info.store_info`, called back to
//! the store-payment `notify_url` the merchant set in the console, and
//! counted in the sales per store.

use std::sync::Arc;

use serde_json::Value;

use koudai_domain::order::PREPAY_VALID_S;
use koudai_domain::poi::state;
use koudai_domain::{TradeState, TradeType};
use koudai_protocol::wire::StoreInfo;
use koudai_store::{CreateOutcome, MpAccount, Order, OrderLocator, PayOutcome, PoiRow};

use crate::mp::push::{self, Push, PushError};
use crate::payments::{self, PayError, PlacedOrder};
use crate::{App, Internal};

/// The largest amount a pay code takes (100,000.00 yuan); the fee rule's
/// single-payment limit may be lower.
pub const MAX_FEN: i64 = 10_000_000;
/// Fixed prices a store may list.
pub const MAX_PRICES: usize = 12;

/// An approved store's pay code: the store, its account and what it sells
/// at.
#[derive(Debug, Clone)]
pub struct PayCode {
    pub store: PoiRow,
    pub account: MpAccount,
    /// `business_name` and `branch_name`.
    pub name: String,
    /// Province, city, district and street.
    pub address: String,
    pub telephone: String,
    /// Fixed prices (fen); empty: the consumer enters any amount.
    pub prices: Vec<i64>,
}

/// Why a store payment did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StorePayError {
    #[error("no store {0} takes payments")]
    NoStore(String),
    #[error("{0}")]
    Refused(String),
    #[error("the wallet balance does not cover the payment")]
    NotEnough,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<koudai_store::StoreError> for StorePayError {
    fn from(e: koudai_store::StoreError) -> Self {
        StorePayError::Internal(e.into())
    }
}

/// Reads a price list (`12.34, 5` in yuan, or fen when `fen`).
pub fn parse_prices(text: &str) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for part in text.split([',', '，', ' ', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let fen = parse_yuan(part).ok_or_else(|| format!("{part:?} is not an amount like 12.34"))?;
        if !(1..=MAX_FEN).contains(&fen) {
            return Err(format!("{part} is not between 0.01 and {}", MAX_FEN / 100));
        }
        if !out.contains(&fen) {
            out.push(fen);
        }
    }
    if out.len() > MAX_PRICES {
        return Err(format!("at most {MAX_PRICES} prices"));
    }
    out.sort_unstable();
    Ok(out)
}

/// Why a store's fixed prices were not set.
#[derive(Debug, thiserror::Error)]
pub enum PricesError {
    /// The list does not read (the reason, for the page).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Sets a store's fixed prices from a list in yuan (`12.34, 5`); an empty
/// list lets the consumer enter any amount. Returns the prices in fen.
pub async fn set_prices(app: &App, poi_id: &str, text: &str) -> Result<Vec<i64>, PricesError> {
    let prices = parse_prices(text).map_err(PricesError::Invalid)?;
    let stored = prices.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    app.store.set_poi_prices(poi_id, &stored).await.map_err(Internal::from)?;
    Ok(prices)
}

/// `12.34` → 1234 fen; at most two decimals, no sign, no exponent.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('¥');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 9 || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return None;
    }
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse::<i64>().ok()?,
    };
    Some(whole.parse::<i64>().ok()? * 100 + cents)
}

fn text(info: &Value, key: &str) -> String {
    info[key].as_str().unwrap_or_default().trim().to_owned()
}

/// The pay code of an approved store.
pub async fn pay_code(app: &App, poi_id: &str) -> Result<PayCode, StorePayError> {
    let plain = !poi_id.is_empty() && poi_id.len() <= 20 && poi_id.bytes().all(|b| b.is_ascii_digit());
    let store = if plain { app.store.poi(poi_id).await? } else { None };
    let store = store
        .filter(|s| s.available_state == state::APPROVED)
        .ok_or_else(|| StorePayError::NoStore(poi_id.to_owned()))?;
    let account = app.store.mp_account(&store.appid).await?.ok_or_else(|| Internal::bug("a store of no account"))?;
    let info: Value = serde_json::from_str(&store.base_info).map_err(|e| Internal::bug(format!("stored POI: {e}")))?;
    let branch = text(&info, "branch_name");
    let name = if branch.is_empty() {
        text(&info, "business_name")
    } else {
        format!("{}（{branch}）", text(&info, "business_name"))
    };
    let address = ["province", "city", "district", "address"]
        .iter()
        .map(|k| text(&info, k))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("");
    let prices = store.prices.split(',').filter_map(|p| p.trim().parse().ok()).collect();
    Ok(PayCode { name, address, telephone: text(&info, "telephone"), prices, store, account })
}

/// The consumer `consumer` pays `amount_fen` at a store's pay code (as
/// [`pay_code`] read it),
/// following the account first when `follow` (and not following yet).
///
/// `request_key` names the attempt (the page's form carries one, a
/// sandbox caller may send one): the same key again is the same payment,
/// answered with the order already paid, never a second charge; without
/// one, every call is a new payment.
pub async fn pay(
    app: &Arc<App>,
    code: &PayCode,
    consumer: &str,
    amount_fen: i64,
    follow: bool,
    request_key: Option<&str>,
) -> Result<Order, StorePayError> {
    if !(1..=MAX_FEN).contains(&amount_fen) {
        return Err(StorePayError::Refused(format!("the amount must be 0.01 to {} yuan", MAX_FEN / 100)));
    }
    if !code.prices.is_empty() && !code.prices.contains(&amount_fen) {
        return Err(StorePayError::Refused("this store takes only the prices on its pay code".into()));
    }
    if app.store.consumer(consumer).await?.is_none() {
        return Err(StorePayError::Refused(format!("no consumer {consumer}")));
    }
    let account = &code.account;
    let now = app.clock.business_now();
    let owner =
        app.store.merchant(&account.owner_mchid).await?.ok_or_else(|| Internal::bug("an account of no merchant"))?;
    // The owner must be able to take payments at all: fee rule, deposit,
    // the rule's single-payment limit.
    let standing = app.store.standing_for_app(&owner.mchid, &account.appid, now.unix()).await?;
    let (standing, _) = standing.ok_or_else(|| Internal::bug("the owner of an account has no standing"))?;
    payments::check_standing(&standing, amount_fen)
        .map_err(|e| StorePayError::Refused(format!("the merchant cannot take this payment: {e}")))?;
    if follow {
        let (openid, newly) = push::follow(app, account, consumer).await?;
        if newly {
            let push = Push::Event { event: "subscribe".into(), event_key: None };
            match push::tell(app, account, &openid, &push, "关注了公众号").await {
                Ok(()) => {}
                Err(PushError::Internal(e)) => return Err(e.into()),
                Err(e @ (PushError::UnknownOpenid | PushError::NoServer)) => {
                    return Err(StorePayError::Refused(e.to_string()))
                }
            }
        }
    }
    // The merchant's own setting, or (for a sub-merchant) its provider's,
    // which receives the callback.
    let mut notify_url = app.store.store_pay_notify_url(&owner.mchid).await?;
    if let (true, Some(sp)) = (notify_url.is_empty(), &owner.sp_mchid) {
        notify_url = app.store.store_pay_notify_url(sp).await?;
    }
    let store_info = StoreInfo {
        id: code.store.poi_id.clone(),
        name: Some(code.name.clone()).filter(|n| !n.is_empty()),
        area_code: None,
        address: Some(code.address.clone()).filter(|a| !a.is_empty()),
    };
    let out_trade_no = match request_key {
        // 32 characters, the longest out_trade_no.
        Some(key) => {
            let digest = koudai_protocol::envelope::keyed_digest(
                app.config.master_key.expose(),
                format!("koudai/storepay/v1|{}|{consumer}|{key}", code.store.poi_id).as_bytes(),
            );
            format!("STORE{}", &digest[..27])
        }
        None => format!("STORE{:019}", u64::from_be_bytes(app.rng.bytes()) % 10_000_000_000_000_000_000),
    };
    if request_key.is_some() {
        if let Some(o) = app.store.order_by_out_trade_no(&owner.mchid, &out_trade_no).await? {
            return again(app, o, amount_fen, consumer, &account.appid, &out_trade_no).await;
        }
    }
    let placed = PlacedOrder {
        owner,
        account_appid: account.appid.clone(),
        out_trade_no: out_trade_no.clone(),
        trade_type: TradeType::Native,
        description: format!("{} 门店付款", code.name).chars().take(127).collect(),
        attach: Some(format!("store:{}", code.store.poi_id)),
        notify_url,
        total_fen: amount_fen,
        payer: None,
        store: Some(store_info),
        payable_s: PREPAY_VALID_S,
        params_digest: format!("storepay:{out_trade_no}"),
    };
    let order = match payments::place(app, placed).await? {
        CreateOutcome::Created(o) => o,
        // The same attempt, placed a moment ago by a concurrent request.
        CreateOutcome::Existing(o) => return again(app, o, amount_fen, consumer, &account.appid, &out_trade_no).await,
    };
    settle(app, order, consumer, &account.appid, &out_trade_no).await
}

/// The same attempt again: the payment already made, or (if the first try
/// did not finish) this one.
async fn again(
    app: &Arc<App>,
    o: Order,
    amount_fen: i64,
    consumer: &str,
    appid: &str,
    out_trade_no: &str,
) -> Result<Order, StorePayError> {
    if o.total_fen != amount_fen {
        return Err(StorePayError::Refused("this payment was already made with another amount".into()));
    }
    match o.state_at(app.clock.business_now().unix()) {
        TradeState::Success | TradeState::Refund => Ok(o),
        TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => {
            settle(app, o, consumer, appid, out_trade_no).await
        }
        TradeState::Closed | TradeState::Revoked => {
            Err(StorePayError::Refused("this payment did not go through; pay again from the pay code".into()))
        }
    }
}

/// Pays a placed store order from the consumer's wallet.
async fn settle(
    app: &Arc<App>,
    order: Order,
    consumer: &str,
    appid: &str,
    out_trade_no: &str,
) -> Result<Order, StorePayError> {
    let now = app.clock.business_now();
    let e = match payments::pay(app, OrderLocator::PrepayId(order.prepay_id.clone()), consumer, PayOutcome::Success)
        .await
    {
        Ok(paid) => {
            crate::discovery::attribute_order(app, consumer, appid, &format!("store:{out_trade_no}"), &paid).await?;
            return Ok(paid);
        }
        // A concurrent try of the same attempt paid it.
        Err(PayError::AlreadyPaid) => {
            return match app.store.order_by_out_trade_no(&order.mchid, out_trade_no).await? {
                Some(o) => Ok(o),
                None => Err(Internal::bug("a paid store order vanished").into()),
            };
        }
        Err(e) => e,
    };
    // Nothing was taken: the order is closed so it cannot be paid later by
    // surprise.
    if let Err(close) = app.store.close_order(&order.mchid, out_trade_no, now.unix()).await {
        tracing::warn!(out_trade_no, error = %close, "closing an unpaid store payment failed; it expires by itself");
    }
    Err(match e {
        PayError::NotEnough => StorePayError::NotEnough,
        PayError::Internal(e) => StorePayError::Internal(e),
        other => StorePayError::Internal(Internal::bug(format!("paying at a store: {other}"))),
    })
}
