//! Shop orders and their money (protocol notes `wechat-shop.md` §3): a
//! purchase reserves the stock and creates the shop order and a JSAPI
//! payment order of the account's owner in one transaction (partner mode
//! for a sub-merchant's account), then pays it from the consumer's wallet
//! through the payment core; the payment, the ledger, the shop order marked
//! paid and the `merchant_order` push to the account's server are one
//! transaction. A payment that fails
//! releases the reservation; a sweep releases reservations left behind and
//! confirms receipt of orders shipped long ago. Closing a paid, unshipped
//! order refunds it in full through the refund machinery and puts the
//! stock back; a rights case (8) is opened and closed by the consumer, and
//! the merchant resolves it with a refund through the payment API.

use std::sync::Arc;

use serde_json::{json, Value};

use koudai_domain::eligibility as eligibility_rules;
use koudai_domain::ids;
use koudai_domain::shop::{self as rules, Delivery, OrderStatus};
use koudai_domain::TradeType;
use koudai_protocol::mp::MpError;
use koudai_protocol::mp_xml::{self, Field};
use koudai_store::{MpAccount, OrderLocator, PayOutcome, Reservation, ShopMove, ShopOrder, TxStep};

use crate::commerce::shop::success;
use crate::mp::{push, MpFailure};
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
    #[error("{0}")]
    Refused(String),
    #[error("only {left} left")]
    OutOfStock { left: i64 },
    #[error("the wallet balance does not cover the order")]
    NotEnough,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<koudai_store::StoreError> for BuyError {
    fn from(e: koudai_store::StoreError) -> Self {
        BuyError::Internal(e.into())
    }
}

fn refused(m: impl Into<String>) -> BuyError {
    BuyError::Refused(m.into())
}

/// The postage of `count` items (the cheapest listed company, a template,
/// or free).
async fn postage(app: &App, appid: &str, body: &Value, count: i64) -> Result<i64, BuyError> {
    let issued = |_: &str| true;
    let product =
        rules::validate_product(body, &issued).map_err(|e| refused(format!("the product does not read: {e}")))?;
    Ok(match product.delivery {
        Delivery::Free => 0,
        Delivery::Express(list) => list.iter().map(|(_, p)| *p).min().unwrap_or(0),
        Delivery::Template(id) => match app.store.express(appid, id).await? {
            Some(t) => rules::template_postage(&serde_json::from_str(&t.text).unwrap_or_default(), count),
            None => return Err(refused(format!("express template {id} no longer exists"))),
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

/// A consumer buys `count` of a product's SKU on an account's shop: the
/// purchase is checked and priced, the shop order and its payment order
/// (placed by the payment core) are reserved with the stock, and the
/// payment is made through the payment core, the shop order marked paid and
/// the `merchant_order` push enqueued in its transaction. A payment that
/// fails releases the reservation.
pub async fn buy(app: &Arc<App>, p: &Purchase) -> Result<ShopOrder, BuyError> {
    let now = app.clock.business_now();
    let (account, body, sku_price) = check_purchase(app, p, now.unix()).await?;
    let express = postage(app, &p.appid, &body, p.count).await?;
    let total = sku_price * p.count + express;
    let owner =
        app.store.merchant(&account.owner_mchid).await?.ok_or_else(|| Internal::bug("an account of no merchant"))?;
    let openid = app.store.ensure_openid(&p.consumer, &p.appid, &ids::openid(&app.rng.bytes())).await?;
    let order_id = format!("1{:019}", u64::from_be_bytes(app.rng.bytes()) % 10_000_000_000_000_000_000);
    let placed = PlacedOrder {
        owner: owner.clone(),
        account_appid: p.appid.clone(),
        out_trade_no: format!("SHOP{order_id}"),
        trade_type: TradeType::Jsapi,
        description: product_name(&body),
        attach: Some(format!("shop_order:{order_id}")),
        notify_url: String::new(),
        total_fen: total,
        payer: Some(openid.clone()),
        store: None,
        payable_s: RESERVATION_S,
        params_digest: format!("shop:{order_id}"),
    };
    let payment = payments::placed_record(app, placed).await?;
    let shop = ShopOrder {
        order_id: order_id.clone(),
        appid: p.appid.clone(),
        mchid: owner.mchid.clone(),
        consumer: p.consumer.clone(),
        openid,
        product_id: p.product_id.clone(),
        product_name: product_name(&body),
        product_img: body["product_base"]["main_img"].as_str().unwrap_or_default().to_owned(),
        sku_info: p.sku_info.clone(),
        product_count: p.count,
        product_price: sku_price,
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
        created_at: now.unix(),
        paid_at: None,
        shipped_at: None,
        finished_at: None,
        closed_at: None,
    };
    match app.store.reserve_shop_order(&shop, &payment).await? {
        Reservation::Reserved(..) => {}
        Reservation::NoSuchSku => {
            return Err(refused(format!("product {} has no sku_info {:?}", p.product_id, p.sku_info)))
        }
        Reservation::OutOfStock { left } => return Err(BuyError::OutOfStock { left }),
    }
    let xml = merchant_order_xml(&account, &shop, now.unix());
    let notice = Notice::Instead(push::notification(app, &account, "mp.event.merchant_order", &order_id, xml));
    let mark_paid: TxStep = koudai_store::shop_orders::mark_paid;
    let locator = OrderLocator::PrepayId(payment.prepay_id.clone());
    match payments::pay_with(app, locator, &p.consumer, PayOutcome::Success, notice, Some(mark_paid)).await {
        Ok(paid) => {
            crate::discovery::attribute_order(app, &p.consumer, &p.appid, &format!("shop:{order_id}"), &paid).await?;
        }
        Err(e) => {
            app.store.release_shop_order(&order_id, now.unix()).await?;
            return Err(match e {
                payments::PayError::NotEnough => BuyError::NotEnough,
                payments::PayError::Internal(e) => BuyError::Internal(e),
                other => BuyError::Internal(Internal::bug(format!("paying a shop order: {other}"))),
            });
        }
    }
    Ok(app.store.shop_order(&order_id).await?.ok_or_else(|| Internal::bug("a shop order vanished"))?)
}

/// Checks a purchase before anything is reserved: the account may sell, the
/// product is on its shelves, the count within its limit, the address
/// complete, the consumer and the SKU exist. Returns the account, the
/// product's body and the SKU's price.
async fn check_purchase(app: &App, p: &Purchase, now: i64) -> Result<(MpAccount, Value, i64), BuyError> {
    let appid = &p.appid;
    let account = app.store.mp_account(appid).await?.ok_or_else(|| refused(format!("no official account {appid}")))?;
    if let Err(why) = crate::access::eligibility::check(&app.store, appid, eligibility_rules::SHOP_API, now).await? {
        return Err(refused(why));
    }
    let product = app.store.product(appid, &p.product_id).await?.filter(|p| p.on_shelf.0);
    let product = product.ok_or_else(|| refused(format!("product {} is not on this shop's shelves", p.product_id)))?;
    let body: Value = serde_json::from_str(&product.body).map_err(|e| Internal::bug(format!("stored product: {e}")))?;
    let buy_limit = body["product_base"]["buy_limit"].as_i64().unwrap_or(0);
    if !(1..=999).contains(&p.count) || (buy_limit > 0 && p.count > buy_limit) {
        return Err(refused(format!("count must be 1 to {}", if buy_limit > 0 { buy_limit } else { 999 })));
    }
    let to = &p.to;
    if [&to.name, &to.phone, &to.province, &to.city, &to.address].iter().any(|f| f.trim().is_empty()) {
        return Err(refused("the address needs name, phone, province, city and address"));
    }
    if app.store.consumer(&p.consumer).await?.is_none() {
        return Err(refused(format!("no consumer {}", p.consumer)));
    }
    let sku = app.store.skus(&p.product_id).await?.into_iter().find(|s| s.sku_id == p.sku_info);
    let sku = sku.ok_or_else(|| refused(format!("product {} has no sku_info {:?}", p.product_id, p.sku_info)))?;
    Ok((account, body, sku.price))
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

/// An order as `order/getbyid` and `getbyfilter` show it (§2.5): the id a
/// string, amounts in fen.
pub fn order_json(o: &ShopOrder) -> Value {
    json!({
        "order_id": o.order_id,
        "order_status": o.status.code(),
        "order_total_price": o.total_price,
        "order_create_time": o.created_at,
        "order_express_price": o.express_price,
        "buyer_openid": o.openid,
        "buyer_nick": o.consumer,
        "receiver_name": o.receiver_name,
        "receiver_province": o.receiver_province,
        "receiver_city": o.receiver_city,
        "receiver_zone": o.receiver_zone,
        "receiver_address": o.receiver_address,
        "receiver_mobile": o.receiver_mobile,
        "receiver_phone": o.receiver_mobile,
        "product_id": o.product_id,
        "product_name": o.product_name,
        "product_price": o.product_price,
        "product_sku": o.sku_info,
        "product_count": o.product_count,
        "product_img": o.product_img,
        "delivery_id": o.delivery_id,
        "delivery_company": o.delivery_company,
        "trans_id": o.transaction_id.clone().unwrap_or_default(),
    })
}

fn invalid(m: impl std::fmt::Display) -> MpFailure {
    MpFailure::Refused(MpError::invalid_args_because(&m.to_string()))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The account's order named by the body's `order_id`.
async fn own_order(app: &App, a: &MpAccount, body: &Value) -> Result<ShopOrder, MpFailure> {
    let id = text(body.get("order_id")).unwrap_or_default();
    let plain = !id.is_empty() && id.len() <= 24 && id.bytes().all(|b| b.is_ascii_digit());
    let o = if plain { app.store.shop_order(&id).await? } else { None };
    o.filter(|o| o.appid == a.appid && o.status.listed()).ok_or_else(|| invalid(format!("no order {id:?}")))
}

/// `order/getbyid`.
pub async fn get(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let o = own_order(app, a, body).await?;
    Ok(success(json!({"order": order_json(&o)})))
}

/// `order/getbyfilter`: `status` (2, 3, 5, 8; 6 for closed), `begintime`,
/// `endtime` on the creation time; null is absent.
pub async fn filter(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let status = match body.get("status") {
        None | Some(Value::Null) => None,
        v => Some(
            int(v)
                .and_then(OrderStatus::from_code)
                .filter(|s| s.listed())
                .ok_or_else(|| invalid("status is 2, 3, 5, 6 or 8"))?,
        ),
    };
    let time = |k: &str| match body.get(k) {
        None | Some(Value::Null) => Ok(None),
        v => int(v).map(Some).ok_or_else(|| invalid(format!("{k} is unix seconds"))),
    };
    let list = app.store.shop_orders(&a.appid, status, time("begintime")?, time("endtime")?).await?;
    Ok(success(json!({"order_list": list.iter().map(order_json).collect::<Vec<_>>()})))
}

/// `order/setdelivery`: 2 → 3.
pub async fn set_delivery(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let o = own_order(app, a, body).await?;
    let need = match body.get("need_delivery") {
        None | Some(Value::Null) => 1,
        v => int(v).filter(|n| *n == 0 || *n == 1).ok_or_else(|| invalid("need_delivery is 0 or 1"))?,
    };
    let others = int(body.get("is_others")).unwrap_or(0) == 1;
    let (company, track) = if need == 1 {
        let company = text(body.get("delivery_company")).ok_or_else(|| invalid("delivery_company is required"))?;
        let track = text(body.get("delivery_track_no")).ok_or_else(|| invalid("delivery_track_no is required"))?;
        if !others && !rules::DELIVERY_COMPANIES.contains(&company.as_str()) {
            return Err(invalid(format!("delivery_company {company} is not a company id (or set is_others to 1)")));
        }
        if company.chars().count() > 64 || track.chars().count() > 64 {
            return Err(invalid("delivery_company and delivery_track_no are at most 64 characters"));
        }
        (company, track)
    } else {
        (String::new(), String::new())
    };
    let now = app.clock.business_now().unix();
    if !app
        .store
        .move_shop_order(&o.order_id, &[OrderStatus::Paid], ShopMove::Ship { company: &company, track: &track }, now)
        .await?
    {
        return Err(invalid(format!("order {} is not waiting to be shipped (status {})", o.order_id, o.status)));
    }
    Ok(success(json!({})))
}

/// `order/close`: a paid, unshipped order (2) is closed (6), refunded in
/// full and its stock put back. Other states are refused.
pub async fn close(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let o = own_order(app, a, body).await?;
    let now = app.clock.business_now().unix();
    if !app.store.move_shop_order(&o.order_id, &[OrderStatus::Paid], ShopMove::Close, now).await? {
        return Err(invalid(format!(
            "only a paid order not yet shipped can be closed (order {} is in status {})",
            o.order_id, o.status
        )));
    }
    if let Err(e) = refund_in_full(app, &o, "shop order closed by the merchant").await {
        // Put it back as it was: the close did not happen.
        let _ = app.store.move_shop_order(&o.order_id, &[OrderStatus::Closed], ShopMove::CloseRights, now).await;
        return Err(MpFailure::Internal(Internal::bug(format!("refunding a closed shop order: {e}"))));
    }
    app.store.change_stock(&o.product_id, &o.sku_info, o.product_count).await?;
    Ok(success(json!({})))
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

/// Applies a consumer's move: confirm receipt (3 → 5), open a rights case
/// (2, 3 or 5 → 8, with a reason), close it (8 → where it was, or 6 when
/// the merchant refunded the payment in full).
pub async fn consumer_move(
    app: &App,
    consumer: Option<&str>,
    order_id: &str,
    m: ConsumerMove,
) -> Result<ShopOrder, String> {
    let plain = !order_id.is_empty() && order_id.len() <= 24 && order_id.bytes().all(|b| b.is_ascii_digit());
    let o = if plain { app.store.shop_order(order_id).await.map_err(|e| e.to_string())? } else { None };
    let o = o
        .filter(|o| o.status.listed() && consumer.is_none_or(|c| c == o.consumer))
        .ok_or_else(|| format!("no order {order_id}"))?;
    let now = app.clock.business_now().unix();
    use OrderStatus::{Finished, Paid, RightsOpen, Shipped};
    let (from, to, what): (&[OrderStatus], ShopMove<'_>, &str) = match &m {
        ConsumerMove::Confirm => (&[Shipped], ShopMove::Finish, "confirm receipt of"),
        ConsumerMove::OpenRights(reason) => {
            if reason.trim().is_empty() || reason.chars().count() > 200 {
                return Err("a rights case needs a reason (1 to 200 characters)".into());
            }
            (&[Paid, Shipped, Finished], ShopMove::OpenRights { reason: reason.trim() }, "open a rights case on")
        }
        ConsumerMove::CloseRights => {
            // Refunded in full (the merchant's answer to the case): closed.
            let payment =
                app.store.order_by_out_trade_no(&o.mchid, &o.out_trade_no).await.map_err(|e| e.to_string())?;
            if payment.is_some_and(|p| p.refunded_fen >= p.total_fen) {
                (&[RightsOpen], ShopMove::Close, "close the rights case of")
            } else {
                (&[RightsOpen], ShopMove::CloseRights, "close the rights case of")
            }
        }
    };
    if !app.store.move_shop_order(order_id, from, to, now).await.map_err(|e| e.to_string())? {
        return Err(format!("cannot {what} order {order_id} in status {}", o.status));
    }
    app.store.shop_order(order_id).await.map_err(|e| e.to_string())?.ok_or_else(|| "the order vanished".into())
}
