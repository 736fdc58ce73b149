//! Shop orders and their money (protocol notes `wechat-shop.md` §3).
//!
//! A purchase ([`buy`]) reserves the stock and creates the shop order and
//! a JSAPI payment order of the account's owner in one transaction
//! (partner mode for a sub-merchant's account), then pays it from the
//! consumer's wallet through the payment core; the payment, the ledger, the
//! shop order marked paid and the `merchant_order` push to the account's
//! server are one transaction. A payment that fails releases the
//! reservation; the [`sweep`] releases reservations left behind and
//! confirms receipt of orders shipped long ago.
//!
//! The merchant reads its orders ([`order`], [`orders`]), ships one
//! ([`ship`]) or closes a paid, unshipped one ([`close`]: refunded in full
//! through the refund machinery, the stock put back); the consumer confirms
//! receipt and opens and closes a rights case (8) ([`consumer_move`]), which
//! the merchant resolves with a refund through the payment API. Each
//! refuses with its own enum: [`BuyError`], [`OrderError`], [`MoveError`].

use std::sync::Arc;

use serde_json::Value;

use koudai_domain::ids;
use koudai_domain::shop::{self as rules, Delivery, OrderStatus, ShopError};
use koudai_domain::TradeType;
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::{
    Merchant, MpAccount, NewOrderRecord, OrderLocator, PayOutcome, Reservation, ShopMove, ShopOrder, StoreError, TxStep,
};

use crate::commerce::shop::{self, AdmitError};
use crate::mp::push;
use crate::payments::{self, Notice, PlacedOrder};
use crate::{App, Internal};

/// How long a reservation waits for its payment.
const RESERVATION_S: i64 = 15 * 60;
/// Receipt is confirmed by itself this long after shipping (business time).
pub const AUTO_CONFIRM_S: i64 = 10 * 86_400;

/// Where the goods go.
#[derive(Debug, Clone, Default)]
pub struct Address {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub zone: String,
    pub address: String,
}

/// Why a purchase did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BuyError {
    #[error("no official account {0}")]
    NoAccount(String),
    /// The e-commerce rules do not let the account sell (why not).
    #[error("{0}")]
    ShopClosed(String),
    #[error("product {0} is not on this shop's shelves")]
    NotOnShelf(String),
    /// The count is outside 1 to the product's limit (999 without one).
    #[error("count must be 1 to {max}")]
    BadCount { max: i64 },
    #[error("the address needs name, phone, province, city and address")]
    IncompleteAddress,
    #[error("no consumer {0}")]
    NoConsumer(String),
    #[error("product {product_id} has no sku_info {sku:?}")]
    NoSuchSku { product_id: String, sku: String },
    /// The kept product no longer passes the domain's check.
    #[error("the product does not read: {0}")]
    UnreadableProduct(ShopError),
    /// The product's express template was deleted.
    #[error("express template {0} no longer exists")]
    TemplateGone(i64),
    #[error("only {left} left")]
    OutOfStock { left: i64 },
    #[error("the wallet balance does not cover the order")]
    NotEnough,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for BuyError {
    fn from(e: StoreError) -> Self {
        BuyError::Internal(e.into())
    }
}

/// The postage of `count` items (the cheapest listed company, a template,
/// or free).
async fn postage(app: &App, appid: &str, body: &Value, count: i64) -> Result<i64, BuyError> {
    let issued = |_: &str| true;
    let product = rules::validate_product(body, &issued).map_err(BuyError::UnreadableProduct)?;
    Ok(match product.delivery {
        Delivery::Free => 0,
        Delivery::Express(list) => list.iter().map(|(_, p)| *p).min().unwrap_or(0),
        Delivery::Template(id) => match app.store.express(appid, id).await? {
            Some(t) => rules::template_postage(&serde_json::from_str(&t.text).unwrap_or_default(), count),
            None => return Err(BuyError::TemplateGone(id)),
        },
    })
}

/// The `merchant_order` push (§3.3).
fn merchant_order_xml(account: &MpAccount, o: &ShopOrder, now: i64) -> String {
    mp_xml::build(&[
        Field::Text("ToUserName", &account.original_id),
        Field::Text("FromUserName", &o.openid),
        Field::Number("CreateTime", now),
        Field::Text("MsgType", "event"),
        Field::Text("Event", "merchant_order"),
        Field::Text("OrderId", &o.order_id),
        Field::Number("OrderStatus", OrderStatus::Paid.code()),
        Field::Text("ProductId", &o.product_id),
        Field::Text("SkuInfo", &o.sku_info),
    ])
}

/// What a consumer asks to buy.
#[derive(Debug, Clone)]
pub struct Purchase {
    pub appid: String,
    pub consumer: String,
    pub product_id: String,
    pub sku_info: String,
    pub count: i64,
    pub to: Address,
}

/// A purchase that passed the checks: the account, the product's kept
/// body and the SKU's price.
struct Checked {
    account: MpAccount,
    body: Value,
    sku_price: i64,
}

/// A consumer buys `count` of a product's SKU on an account's shop: the
/// purchase is checked and priced, the shop order and its payment order
/// (placed by the payment core) are reserved with the stock, and the
/// payment is made through the payment core, the shop order marked paid and
/// the `merchant_order` push enqueued in its transaction. A payment that
/// fails releases the reservation.
pub async fn buy(app: &Arc<App>, p: &Purchase) -> Result<ShopOrder, BuyError> {
    let now = app.clock.business_now().unix();
    let checked = check_purchase(app, p).await?;
    let express = postage(app, &p.appid, &checked.body, p.count).await?;
    let (shop, payment) = reserve(app, p, &checked, express, now).await?;
    pay(app, p, &checked.account, &shop, &payment, now).await?;
    Ok(app.store.shop_order(&shop.order_id).await?.ok_or_else(|| Internal::bug("a shop order vanished"))?)
}

/// Places the payment order and reserves it with the stock and the shop
/// order.
async fn reserve(
    app: &App,
    p: &Purchase,
    checked: &Checked,
    express: i64,
    now: i64,
) -> Result<(ShopOrder, NewOrderRecord), BuyError> {
    let total = checked.sku_price * p.count + express;
    let owner = app
        .store
        .merchant(&checked.account.owner_mchid)
        .await?
        .ok_or_else(|| Internal::bug("an account of no merchant"))?;
    let openid = app.store.ensure_openid(&p.consumer, &p.appid, &ids::openid(&app.rng.bytes())).await?;
    let order_id = format!("1{:019}", u64::from_be_bytes(app.rng.bytes()) % 10_000_000_000_000_000_000);
    let placed = payment_order(p, checked, &owner, &order_id, &openid, total);
    let payment = payments::placed_record(app, placed).await?;
    let shop = ShopOrder {
        order_id,
        appid: p.appid.clone(),
        mchid: owner.mchid.clone(),
        consumer: p.consumer.clone(),
        openid,
        product_id: p.product_id.clone(),
        product_name: product_name(&checked.body),
        product_img: checked.body["product_base"]["main_img"].as_str().unwrap_or_default().to_owned(),
        sku_info: p.sku_info.clone(),
        product_count: p.count,
        product_price: checked.sku_price,
        express_price: express,
        total_price: total,
        status: OrderStatus::Reserved,
        status_before_rights: None,
        out_trade_no: payment.out_trade_no.clone(),
        transaction_id: None,
        receiver_name: p.to.name.trim().to_owned(),
        receiver_province: p.to.province.trim().to_owned(),
        receiver_city: p.to.city.trim().to_owned(),
        receiver_zone: p.to.zone.trim().to_owned(),
        receiver_address: p.to.address.trim().to_owned(),
        receiver_mobile: p.to.phone.trim().to_owned(),
        delivery_company: String::new(),
        delivery_id: String::new(),
        rights_reason: String::new(),
        created_at: now,
        paid_at: None,
        shipped_at: None,
        finished_at: None,
        closed_at: None,
    };
    match app.store.reserve_shop_order(&shop, &payment).await? {
        Reservation::Reserved(..) => Ok((shop, payment)),
        Reservation::NoSuchSku => {
            Err(BuyError::NoSuchSku { product_id: p.product_id.clone(), sku: p.sku_info.clone() })
        }
        Reservation::OutOfStock { left } => Err(BuyError::OutOfStock { left }),
    }
}

/// The JSAPI payment order of a purchase, the account's owner's (placed
/// by the payment core).
fn payment_order(
    p: &Purchase,
    checked: &Checked,
    owner: &Merchant,
    order_id: &str,
    openid: &str,
    total: i64,
) -> PlacedOrder {
    PlacedOrder {
        owner: owner.clone(),
        account_appid: p.appid.clone(),
        out_trade_no: format!("SHOP{order_id}"),
        trade_type: TradeType::Jsapi,
        description: product_name(&checked.body),
        attach: Some(format!("shop_order:{order_id}")),
        notify_url: String::new(),
        total_fen: total,
        payer: Some(openid.to_owned()),
        store: None,
        payable_s: RESERVATION_S,
        params_digest: format!("shop:{order_id}"),
    }
}

/// Pays the reserved order from the consumer's wallet, the shop order
/// marked paid and the push enqueued in the payment's transaction; a
/// payment that fails releases the reservation.
async fn pay(
    app: &Arc<App>,
    p: &Purchase,
    account: &MpAccount,
    shop: &ShopOrder,
    payment: &NewOrderRecord,
    now: i64,
) -> Result<(), BuyError> {
    let order_id = &shop.order_id;
    let xml = merchant_order_xml(account, shop, now);
    let notice = Notice::Instead(push::notification(app, account, "mp.event.merchant_order", order_id, xml));
    let mark_paid: TxStep = koudai_store::shop_orders::mark_paid;
    let locator = OrderLocator::PrepayId(payment.prepay_id.clone());
    match payments::pay_with(app, locator, &p.consumer, PayOutcome::Success, notice, Some(mark_paid)).await {
        Ok(paid) => {
            crate::discovery::attribute_order(app, &p.consumer, &p.appid, &format!("shop:{order_id}"), &paid).await?;
            Ok(())
        }
        Err(e) => {
            app.store.release_shop_order(order_id, now).await?;
            Err(match e {
                payments::PayError::NotEnough => BuyError::NotEnough,
                payments::PayError::Internal(e) => BuyError::Internal(e),
                other => BuyError::Internal(Internal::bug(format!("paying a shop order: {other}"))),
            })
        }
    }
}

/// Checks a purchase before anything is reserved: the account may sell, the
/// product is on its shelves, the count within its limit, the address
/// complete, the consumer and the SKU exist.
async fn check_purchase(app: &App, p: &Purchase) -> Result<Checked, BuyError> {
    let appid = &p.appid;
    let account = app.store.mp_account(appid).await?.ok_or_else(|| BuyError::NoAccount(appid.clone()))?;
    shop::admit(app, &account).await.map_err(|e| match e {
        AdmitError::NotAllowed(why) => BuyError::ShopClosed(why),
        AdmitError::Internal(e) => BuyError::Internal(e),
    })?;
    let product = app.store.product(appid, &p.product_id).await?.filter(|p| p.on_shelf.0);
    let product = product.ok_or_else(|| BuyError::NotOnShelf(p.product_id.clone()))?;
    let body: Value = serde_json::from_str(&product.body).map_err(|e| Internal::bug(format!("stored product: {e}")))?;
    let buy_limit = body["product_base"]["buy_limit"].as_i64().unwrap_or(0);
    if !(1..=999).contains(&p.count) || (buy_limit > 0 && p.count > buy_limit) {
        return Err(BuyError::BadCount { max: if buy_limit > 0 { buy_limit } else { 999 } });
    }
    let to = &p.to;
    if [&to.name, &to.phone, &to.province, &to.city, &to.address].iter().any(|f| f.trim().is_empty()) {
        return Err(BuyError::IncompleteAddress);
    }
    if app.store.consumer(&p.consumer).await?.is_none() {
        return Err(BuyError::NoConsumer(p.consumer.clone()));
    }
    let sku = app.store.skus(&p.product_id).await?.into_iter().find(|s| s.sku_id == p.sku_info);
    let sku = sku.ok_or_else(|| BuyError::NoSuchSku { product_id: p.product_id.clone(), sku: p.sku_info.clone() })?;
    Ok(Checked { account, body, sku_price: sku.price })
}

fn product_name(body: &Value) -> String {
    body["product_base"]["name"].as_str().unwrap_or_default().to_owned()
}

/// Releases reservations whose payment never came and confirms receipt of
/// orders shipped more than [`AUTO_CONFIRM_S`] ago. Returns how many moved.
pub async fn sweep(app: &App) -> Result<usize, Internal> {
    let now = app.clock.business_now().unix();
    let mut n = 0;
    for id in app.store.stale_reservations(now - RESERVATION_S).await? {
        if app.store.release_shop_order(&id, now).await? {
            n += 1;
        }
    }
    for id in app.store.shipped_before(now - AUTO_CONFIRM_S).await? {
        if app.store.move_shop_order(&id, &[OrderStatus::Shipped], ShopMove::Finish, now).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Why a merchant's call on its shop orders was refused.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The account has no (listed) order by that id.
    #[error("no order {0:?}")]
    NoOrder(String),
    #[error("delivery_company is required")]
    CompanyMissing,
    #[error("delivery_track_no is required")]
    TrackMissing,
    /// Not one of the companies the shop knows, and not said to be another.
    #[error("delivery_company {0} is not a company id (or set is_others to 1)")]
    UnknownCompany(String),
    #[error("delivery_company and delivery_track_no are at most 64 characters")]
    DeliveryTooLong,
    #[error("order {order_id} is not waiting to be shipped (status {status})")]
    NotWaitingToShip { order_id: String, status: OrderStatus },
    #[error("only a paid order not yet shipped can be closed (order {order_id} is in status {status})")]
    NotClosable { order_id: String, status: OrderStatus },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for OrderError {
    fn from(e: StoreError) -> Self {
        OrderError::Internal(e.into())
    }
}

/// An order id as the shop hands them out: at most 24 digits.
fn plain_order_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 24 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `order/getbyid`: the account's order `order_id`.
pub async fn order(app: &App, a: &MpAccount, order_id: &str) -> Result<ShopOrder, OrderError> {
    let o = if plain_order_id(order_id) { app.store.shop_order(order_id).await? } else { None };
    o.filter(|o| o.appid == a.appid && o.status.listed()).ok_or_else(|| OrderError::NoOrder(order_id.to_owned()))
}

/// Which orders `order/getbyfilter` lists: by status, and by creation time.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub begin: Option<i64>,
    pub end: Option<i64>,
}

/// `order/getbyfilter`.
pub async fn orders(app: &App, a: &MpAccount, f: &OrderFilter) -> Result<Vec<ShopOrder>, OrderError> {
    Ok(app.store.shop_orders(&a.appid, f.status, f.begin, f.end).await?)
}

/// How an order goes out.
#[derive(Debug, Clone)]
pub enum Shipment {
    /// Nothing to deliver.
    NoDelivery,
    /// By an express company: one the shop knows, or any other when
    /// `others` says so.
    Express { company: String, track: String, others: bool },
}

/// `order/setdelivery`: a paid order (2) is shipped (3).
pub async fn ship(app: &App, o: &ShopOrder, shipment: &Shipment) -> Result<(), OrderError> {
    let (company, track) = match shipment {
        Shipment::NoDelivery => ("", ""),
        Shipment::Express { company, track, others } => {
            if company.is_empty() {
                return Err(OrderError::CompanyMissing);
            }
            if track.is_empty() {
                return Err(OrderError::TrackMissing);
            }
            if !others && !rules::DELIVERY_COMPANIES.contains(&company.as_str()) {
                return Err(OrderError::UnknownCompany(company.clone()));
            }
            if company.chars().count() > 64 || track.chars().count() > 64 {
                return Err(OrderError::DeliveryTooLong);
            }
            (company.as_str(), track.as_str())
        }
    };
    let now = app.clock.business_now().unix();
    let to = ShopMove::Ship { company, track };
    if !app.store.move_shop_order(&o.order_id, &[OrderStatus::Paid], to, now).await? {
        return Err(OrderError::NotWaitingToShip { order_id: o.order_id.clone(), status: o.status });
    }
    Ok(())
}

/// `order/close`: a paid, unshipped order (2) is closed (6), refunded in
/// full and its stock put back. Other states are refused.
pub async fn close(app: &App, o: &ShopOrder) -> Result<(), OrderError> {
    let now = app.clock.business_now().unix();
    if !app.store.move_shop_order(&o.order_id, &[OrderStatus::Paid], ShopMove::Close, now).await? {
        return Err(OrderError::NotClosable { order_id: o.order_id.clone(), status: o.status });
    }
    if let Err(e) = refund_in_full(app, o, "shop order closed by the merchant").await {
        // Put it back as it was: the close did not happen.
        let _ = app.store.move_shop_order(&o.order_id, &[OrderStatus::Closed], ShopMove::CloseRights, now).await;
        return Err(Internal::bug(format!("refunding a closed shop order: {e}")).into());
    }
    app.store.change_stock(&o.product_id, &o.sku_info, o.product_count).await?;
    Ok(())
}

/// A full refund of an order's payment through the refund machinery, as
/// the merchant (or, for a sub-merchant, its provider) would ask for it.
async fn refund_in_full(app: &App, o: &ShopOrder, reason: &str) -> Result<(), String> {
    let owner = app.store.merchant(&o.mchid).await.map_err(|e| e.to_string())?.ok_or("no merchant")?;
    let (caller, sub) = match &owner.sp_mchid {
        Some(sp) => {
            (app.store.merchant(sp).await.map_err(|e| e.to_string())?.ok_or("no provider")?, Some(owner.mchid.clone()))
        }
        None => (owner, None),
    };
    let cmd = crate::payments::refunds::RefundCommand {
        sub_mchid: sub,
        target: koudai_store::RefundTarget::OutTradeNo(o.out_trade_no.clone()),
        out_refund_no: format!("SHOPR{}", o.order_id),
        reason: Some(reason.to_owned()),
        notify_url: None,
        refund_fen: o.total_price,
        total_fen: o.total_price,
        params_digest: format!("shop-close:{}", o.order_id),
    };
    crate::payments::refunds::create(app, &caller, cmd).await.map(|_| ()).map_err(|e| e.to_string())
}

/// A consumer's move on its own order (sandbox and pages).
#[derive(Debug, Clone)]
pub enum ConsumerMove {
    Confirm,
    OpenRights(String),
    CloseRights,
}

/// Why a consumer's move was refused.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// No (listed) order by that id, or not the consumer's.
    #[error("no order {0}")]
    NoOrder(String),
    #[error("a rights case needs a reason (1 to 200 characters)")]
    NoReason,
    /// Receipt is confirmed of a shipped order only.
    #[error("cannot confirm receipt of order {order_id} in status {status}")]
    NotShipped { order_id: String, status: OrderStatus },
    /// A rights case is opened on a paid, shipped or finished order.
    #[error("cannot open a rights case on order {order_id} in status {status}")]
    RightsNotOpenable { order_id: String, status: OrderStatus },
    #[error("cannot close the rights case of order {order_id} in status {status}")]
    NoRightsCase { order_id: String, status: OrderStatus },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for MoveError {
    fn from(e: StoreError) -> Self {
        MoveError::Internal(e.into())
    }
}

/// Applies a consumer's move: confirm receipt (3 → 5), open a rights case
/// (2, 3 or 5 → 8, with a reason), close it (8 → where it was, or 6 when
/// the merchant refunded the payment in full). `consumer` is the one the
/// order must be of (the sandbox names none).
pub async fn consumer_move(
    app: &App,
    consumer: Option<&str>,
    order_id: &str,
    m: ConsumerMove,
) -> Result<ShopOrder, MoveError> {
    let o = if plain_order_id(order_id) { app.store.shop_order(order_id).await? } else { None };
    let o = o
        .filter(|o| o.status.listed() && consumer.is_none_or(|c| c == o.consumer))
        .ok_or_else(|| MoveError::NoOrder(order_id.to_owned()))?;
    let now = app.clock.business_now().unix();
    use OrderStatus::{Finished, Paid, RightsOpen, Shipped};
    let (order_id, status) = (o.order_id.clone(), o.status);
    let (from, to, refused): (&[OrderStatus], ShopMove<'_>, MoveError) = match &m {
        ConsumerMove::Confirm => (&[Shipped], ShopMove::Finish, MoveError::NotShipped { order_id, status }),
        ConsumerMove::OpenRights(reason) => {
            if reason.trim().is_empty() || reason.chars().count() > 200 {
                return Err(MoveError::NoReason);
            }
            let refused = MoveError::RightsNotOpenable { order_id, status };
            (&[Paid, Shipped, Finished], ShopMove::OpenRights { reason: reason.trim() }, refused)
        }
        ConsumerMove::CloseRights => {
            // Refunded in full (the merchant's answer to the case): closed.
            let payment = app.store.order_by_out_trade_no(&o.mchid, &o.out_trade_no).await?;
            let refunded = payment.is_some_and(|p| p.refunded_fen >= p.total_fen);
            let to = if refunded { ShopMove::Close } else { ShopMove::CloseRights };
            (&[RightsOpen], to, MoveError::NoRightsCase { order_id, status })
        }
    };
    if !app.store.move_shop_order(&o.order_id, from, to, now).await? {
        return Err(refused);
    }
    Ok(app.store.shop_order(&o.order_id).await?.ok_or_else(|| Internal::bug("a shop order vanished"))?)
}
