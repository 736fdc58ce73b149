//! The consumer's shop on an account's page: the shop home (its shelves
//! and every product on a shelf), a product page with the SKU choice, the
//! purchase (address, paid from the wallet: a real JSAPI payment of the
//! merchant), "my orders", and an order's page where the consumer confirms
//! receipt and opens or closes a rights case. Signed in with the wallet
//! (the account page's login); every form carries the session's CSRF token.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::Value;

use koudai_app::commerce::shop::{self, AdmitError};
use koudai_app::commerce::shop_orders::{self, Address, BuyError, ConsumerMove, MoveError, Purchase};
use koudai_domain::shop::{self as rules, OrderStatus};
use koudai_store::{MpAccount, ProductRow, Session, ShopOrder};

use super::page::{render, yuan, PageError};
use super::session::{self, csrf_matches};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/mp/{appid}/shop", get(home))
        .route("/mp/{appid}/shop/{product_id}", get(product_page))
        .route("/mp/{appid}/shop/{product_id}/buy", post(buy))
        .route("/mp/{appid}/orders", get(my_orders))
        .route("/mp/{appid}/orders/{order_id}", get(order_page))
        .route("/mp/{appid}/orders/{order_id}/act", post(act))
}

async fn account(state: &HttpState, appid: &str) -> Result<MpAccount, PageError> {
    let plain = !appid.is_empty() && appid.len() <= 64 && appid.bytes().all(|b| b.is_ascii_alphanumeric());
    let found = if plain { state.app.store.mp_account(appid).await? } else { None };
    found.ok_or_else(|| PageError::NotFound("公众号不存在".into()))
}

/// The shop's account, which the e-commerce rules must let run a shop.
async fn shop_account(state: &HttpState, appid: &str) -> Result<MpAccount, PageError> {
    let a = account(state, appid).await?;
    match shop::admit(&state.app, &a).await {
        Ok(()) => Ok(a),
        Err(AdmitError::NotAllowed(why)) => {
            Err(PageError::NotFound(format!("这个公众号没有开通商店 This account has no shop ({why})")))
        }
        Err(AdmitError::Internal(e)) => Err(PageError::Internal(e)),
    }
}

struct Card {
    product_id: String,
    name: String,
    img: String,
    price: String,
}

struct ShelfView {
    name: String,
    cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "shop/home.html")]
struct HomePage {
    appid: String,
    name: String,
    shelves: Vec<ShelfView>,
    all: Vec<Card>,
    signed_in: bool,
}

fn body_of(p: &ProductRow) -> Value {
    serde_json::from_str(&p.body).unwrap_or_default()
}

async fn card(state: &HttpState, p: &ProductRow) -> Result<Card, PageError> {
    let body = body_of(p);
    let skus = state.app.store.skus(&p.product_id).await?;
    let price = skus.iter().map(|s| s.price).min().unwrap_or(0);
    Ok(Card {
        product_id: p.product_id.clone(),
        name: body["product_base"]["name"].as_str().unwrap_or_default().to_owned(),
        img: body["product_base"]["main_img"].as_str().unwrap_or_default().to_owned(),
        price: yuan(price),
    })
}

async fn home(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let a = shop_account(&state, &appid).await?;
    let on_shelf = app.store.products(&a.appid, Some(true)).await?;
    let mut all = Vec::new();
    for p in &on_shelf {
        all.push(card(&state, p).await?);
    }
    let mut shelves = Vec::new();
    for s in app.store.shelves(&a.appid).await? {
        let data: Value = serde_json::from_str(&s.data).unwrap_or_default();
        let mut groups = Vec::new();
        for m in data["module_infos"].as_array().into_iter().flatten() {
            if let Some(g) = m["group_info"]["group_id"].as_i64() {
                groups.push(g);
            }
            for g in m["group_infos"]["groups"].as_array().into_iter().flatten() {
                groups.extend(g["group_id"].as_i64());
            }
        }
        let mut cards = Vec::new();
        for g in groups {
            for pid in app.store.group_products(g).await? {
                if let Some(p) = on_shelf.iter().find(|p| p.product_id == pid) {
                    if !cards.iter().any(|c: &Card| c.product_id == pid) {
                        cards.push(card(&state, p).await?);
                    }
                }
            }
        }
        shelves.push(ShelfView { name: s.name, cards });
    }
    let signed_in = session::current(app, &jar).await?.is_some();
    Ok(render(StatusCode::OK, &HomePage { appid: a.appid, name: a.name, shelves, all, signed_in }))
}

struct SkuOption {
    sku_id: String,
    label: String,
    price: String,
    quantity: i64,
}

#[derive(Template)]
#[template(path = "shop/product.html")]
struct ProductPage {
    appid: String,
    account_name: String,
    product_id: String,
    name: String,
    img: String,
    detail: Vec<(bool, String)>,
    options: Vec<SkuOption>,
    buy_limit: i64,
    postage: String,
    csrf: Option<String>,
    error: Option<String>,
    form: BuyForm,
}

/// A SKU's label from the category's names (`颜色 Colour: 白色 White`).
fn sku_label(category_id: &str, sku_id: &str) -> String {
    if sku_id.is_empty() {
        return "默认 Standard".into();
    }
    let cat = rules::category(category_id);
    sku_id
        .split(';')
        .map(|pair| {
            let (id, vid) = pair.split_once(':').unwrap_or((pair, ""));
            let attr = cat.and_then(|c| c.sku_table.iter().find(|a| a.id == id));
            let value = attr.and_then(|a| a.value_list.iter().find(|v| v.id == vid));
            let attr_name = attr.map_or_else(|| id.trim_start_matches('$').to_owned(), |a| a.name.clone());
            let value_name = value.map_or_else(|| vid.trim_start_matches('$').to_owned(), |v| v.name.clone());
            format!("{attr_name}: {value_name}")
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

async fn product_view(
    state: &HttpState,
    a: &MpAccount,
    p: &ProductRow,
    s: Option<&Session>,
    error: Option<String>,
    form: BuyForm,
) -> Result<ProductPage, PageError> {
    let body = body_of(p);
    let base = &body["product_base"];
    let category = rules::id_text(base["category_id"].get(0)).unwrap_or_default();
    let detail = base["detail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| match (d["text"].as_str(), d["img"].as_str()) {
            (Some(t), _) => Some((false, t.to_owned())),
            (_, Some(i)) => Some((true, i.to_owned())),
            _ => None,
        })
        .collect();
    let options = state
        .app
        .store
        .skus(&p.product_id)
        .await?
        .into_iter()
        .map(|k| SkuOption {
            label: sku_label(&category, &k.sku_id),
            sku_id: k.sku_id,
            price: yuan(k.price),
            quantity: k.quantity,
        })
        .collect();
    let postage = match body["delivery_info"]["delivery_type"].as_i64() {
        _ if body["attrext"]["isPostFree"].as_i64() == Some(1) => "包邮 Free shipping".to_owned(),
        Some(1) => "按运费模板 By the shop's postage template".to_owned(),
        _ => {
            let min = body["delivery_info"]["express"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["price"].as_i64())
                .min();
            format!("运费 Postage ¥{}", yuan(min.unwrap_or(0)))
        }
    };
    Ok(ProductPage {
        appid: a.appid.clone(),
        account_name: a.name.clone(),
        product_id: p.product_id.clone(),
        name: base["name"].as_str().unwrap_or_default().to_owned(),
        img: base["main_img"].as_str().unwrap_or_default().to_owned(),
        detail,
        options,
        buy_limit: base["buy_limit"].as_i64().filter(|l| *l > 0).unwrap_or(999),
        postage,
        csrf: s.map(|s| s.csrf.expose().clone()),
        error,
        form,
    })
}

async fn on_shelf(state: &HttpState, a: &MpAccount, product_id: &str) -> Result<ProductRow, PageError> {
    let plain =
        !product_id.is_empty() && product_id.len() <= 64 && product_id.bytes().all(|b| b.is_ascii_alphanumeric());
    let p = if plain { state.app.store.product(&a.appid, product_id).await? } else { None };
    p.filter(|p| p.on_shelf.0)
        .ok_or_else(|| PageError::NotFound("商品不存在或已下架 No such product on the shelves".into()))
}

async fn product_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, product_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let a = shop_account(&state, &appid).await?;
    let p = on_shelf(&state, &a, &product_id).await?;
    let s = session::current(&state.app, &jar).await?;
    let page =
        product_view(&state, &a, &p, s.as_ref(), None, BuyForm { count: "1".into(), ..BuyForm::default() }).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct BuyForm {
    csrf: String,
    sku_info: String,
    count: String,
    name: String,
    phone: String,
    province: String,
    city: String,
    zone: String,
    address: String,
}

async fn buy(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, product_id)): Path<(String, String)>,
    Form(f): Form<BuyForm>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let a = shop_account(&state, &appid).await?;
    let p = on_shelf(&state, &a, &product_id).await?;
    let Some(s) = session::current(app, &jar).await? else {
        return Err(PageError::BadRequest("请先在公众号页面登录 Sign in on the account's page first".into()));
    };
    if !csrf_matches(&s, &f.csrf) {
        return Err(PageError::BadRequest("表单已过期，请刷新页面后重试".into()));
    }
    let count = f.count.trim().parse::<i64>().unwrap_or(0);
    let purchase = Purchase {
        appid: a.appid.clone(),
        consumer: s.login.clone(),
        product_id: p.product_id.clone(),
        sku_info: f.sku_info.clone(),
        count,
        to: Address {
            name: f.name.clone(),
            phone: f.phone.clone(),
            province: f.province.clone(),
            city: f.city.clone(),
            zone: f.zone.clone(),
            address: f.address.clone(),
        },
    };
    let failed = |m: String| async {
        let page = product_view(&state, &a, &p, Some(&s), Some(m), f.clone()).await?;
        Ok::<Response, PageError>(render(StatusCode::CONFLICT, &page))
    };
    match shop_orders::buy(app, &purchase).await {
        Ok(o) => Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/mp/{}/orders/{}?notice=paid", a.appid, o.order_id))],
        )
            .into_response()),
        Err(BuyError::Internal(e)) => Err(PageError::Internal(e)),
        Err(BuyError::NotEnough) => failed("钱包余额不足 Your wallet balance does not cover this order".into()).await,
        Err(e @ BuyError::OutOfStock { .. }) => failed(format!("库存不足 Out of stock: {e}")).await,
        Err(
            e @ (BuyError::NoAccount(_)
            | BuyError::ShopClosed(_)
            | BuyError::NotOnShelf(_)
            | BuyError::BadCount { .. }
            | BuyError::IncompleteAddress
            | BuyError::NoConsumer(_)
            | BuyError::NoSuchSku { .. }
            | BuyError::UnreadableProduct(_)
            | BuyError::TemplateGone(_)),
        ) => failed(e.to_string()).await,
    }
}

struct OrderLine {
    order_id: String,
    product_name: String,
    count: i64,
    total: String,
    status: &'static str,
}

/// How a status reads.
pub fn status_text(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Paid => "待发货 Paid, to ship",
        OrderStatus::Shipped => "已发货 Shipped",
        OrderStatus::Finished => "已完成 Finished",
        OrderStatus::Closed => "已关闭 Closed",
        OrderStatus::RightsOpen => "维权中 Rights case open",
        OrderStatus::Reserved => "处理中 Pending",
    }
}

#[derive(Template)]
#[template(path = "shop/orders.html")]
struct OrdersPage {
    appid: String,
    name: String,
    orders: Vec<OrderLine>,
}

async fn signed_in(state: &HttpState, jar: &CookieJar) -> Result<Session, PageError> {
    session::current(&state.app, jar)
        .await?
        .ok_or_else(|| PageError::BadRequest("请先在公众号页面登录 Sign in on the account's page first".into()))
}

async fn my_orders(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
) -> Result<Response, PageError> {
    let a = account(&state, &appid).await?;
    let s = signed_in(&state, &jar).await?;
    let orders = state
        .app
        .store
        .consumer_shop_orders(&s.login)
        .await?
        .into_iter()
        .filter(|o| o.appid == a.appid)
        .map(|o| OrderLine {
            order_id: o.order_id,
            product_name: o.product_name,
            count: o.product_count,
            total: yuan(o.total_price),
            status: status_text(o.status),
        })
        .collect();
    Ok(render(StatusCode::OK, &OrdersPage { appid: a.appid, name: a.name, orders }))
}

#[derive(Template)]
#[template(path = "shop/order.html")]
struct OrderPage {
    appid: String,
    name: String,
    o: ShopOrder,
    status: &'static str,
    total: String,
    unit: String,
    postage: String,
    csrf: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn own_order(state: &HttpState, a: &MpAccount, s: &Session, order_id: &str) -> Result<ShopOrder, PageError> {
    let plain = !order_id.is_empty() && order_id.len() <= 24 && order_id.bytes().all(|b| b.is_ascii_digit());
    let o = if plain { state.app.store.shop_order(order_id).await? } else { None };
    o.filter(|o| o.appid == a.appid && o.consumer == s.login && o.status.listed())
        .ok_or_else(|| PageError::NotFound("订单不存在 No such order".into()))
}

fn order_view(
    a: &MpAccount,
    o: ShopOrder,
    s: &Session,
    notice: Option<&'static str>,
    error: Option<String>,
) -> OrderPage {
    OrderPage {
        appid: a.appid.clone(),
        name: a.name.clone(),
        status: status_text(o.status),
        total: yuan(o.total_price),
        unit: yuan(o.product_price),
        postage: yuan(o.express_price),
        o,
        csrf: s.csrf.expose().clone(),
        notice,
        error,
    }
}

async fn order_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, order_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let a = account(&state, &appid).await?;
    let s = signed_in(&state, &jar).await?;
    let o = own_order(&state, &a, &s, &order_id).await?;
    let notice = match q.get("notice").map(String::as_str) {
        Some("paid") => Some("支付成功 Paid from your wallet"),
        Some("moved") => Some("已更新 Updated"),
        _ => None,
    };
    Ok(render(StatusCode::OK, &order_view(&a, o, &s, notice, None)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActForm {
    csrf: String,
    action: String,
    reason: String,
}

async fn act(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, order_id)): Path<(String, String)>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    let a = account(&state, &appid).await?;
    let s = signed_in(&state, &jar).await?;
    if !csrf_matches(&s, &f.csrf) {
        return Err(PageError::BadRequest("表单已过期，请刷新页面后重试".into()));
    }
    let o = own_order(&state, &a, &s, &order_id).await?;
    let m = match f.action.as_str() {
        "confirm" => ConsumerMove::Confirm,
        "open_rights" => ConsumerMove::OpenRights(f.reason.clone()),
        "close_rights" => ConsumerMove::CloseRights,
        _ => return Err(PageError::BadRequest("未知操作".into())),
    };
    match shop_orders::consumer_move(&state.app, Some(&s.login), &o.order_id, m).await {
        Ok(_) => Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/mp/{}/orders/{}?notice=moved", a.appid, o.order_id))],
        )
            .into_response()),
        Err(MoveError::Internal(e)) => Err(PageError::Internal(e)),
        Err(
            e @ (MoveError::NoOrder(_)
            | MoveError::NoReason
            | MoveError::NotShipped { .. }
            | MoveError::RightsNotOpenable { .. }
            | MoveError::NoRightsCase { .. }),
        ) => Ok(render(StatusCode::CONFLICT, &order_view(&a, o, &s, None, Some(e.to_string())))),
    }
}
