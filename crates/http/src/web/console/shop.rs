//! An official account's shop in the consoles
//! (`/console/accounts/{appid}/shop`, for the account's merchant or
//! provider): its orders (ship one, or close it with a full refund) and
//! its products with each SKU's price and stock (add stock). Products
//! themselves are made through the shop API. Every change here calls the
//! use case the shop API calls (`koudai_app::commerce::shop_orders::ship`
//! and `close`, `shop::add_stock`), so the console and the API apply the
//! same rules; a refusal is shown in the shop API's words.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_app::commerce::shop;
use koudai_app::commerce::shop_orders::{self, Shipment};
use koudai_domain::shop::OrderStatus;
use koudai_protocol::times::format_bill_time;
use koudai_store::MpAccount;

use super::gate::{account_for, check_csrf, manager, see_other, Gate, NoticeQuery, Reach, Visitor};
use super::operator::Chrome;
use crate::mp::Failure;
use crate::state::HttpState;
use crate::web::page::render;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/accounts/{appid}/shop", get(shop_page))
        .route("/console/accounts/{appid}/orders/{order_id}/ship", post(ship))
        .route("/console/accounts/{appid}/orders/{order_id}/close", post(close_order))
        .route("/console/accounts/{appid}/products/{product_id}/stock", post(add_stock))
}

struct ConsoleSku {
    sku_id: String,
    price: String,
    quantity: i64,
}

struct ConsoleProduct {
    product_id: String,
    name: String,
    on_shelf: bool,
    skus: Vec<ConsoleSku>,
}

struct ConsoleOrder {
    order_id: String,
    created: String,
    buyer: String,
    product: String,
    count: i64,
    total: String,
    status: OrderStatus,
    status_text: &'static str,
    receiver: String,
    delivery: String,
    rights_reason: String,
}

#[derive(Template)]
#[template(path = "console/shop.html")]
struct ShopPage {
    chrome: Chrome,
    appid: String,
    name: String,
    products: Vec<ConsoleProduct>,
    orders: Vec<ConsoleOrder>,
    companies: &'static [&'static str],
}

async fn shop_view(state: &HttpState, v: &Visitor, a: &MpAccount, chrome: Chrome) -> Result<Response, Gate> {
    let app = &state.app;
    let mut products = Vec::new();
    for p in app.store.products(&a.appid, None).await? {
        let body: serde_json::Value = serde_json::from_str(&p.body).unwrap_or_default();
        let skus = app
            .store
            .skus(&p.product_id)
            .await?
            .into_iter()
            .map(|k| ConsoleSku { sku_id: k.sku_id, price: crate::web::page::yuan(k.price), quantity: k.quantity })
            .collect();
        products.push(ConsoleProduct {
            product_id: p.product_id,
            name: body["product_base"]["name"].as_str().unwrap_or_default().to_owned(),
            on_shelf: p.on_shelf.0,
            skus,
        });
    }
    let orders = app
        .store
        .shop_orders(&a.appid, None, None, None)
        .await?
        .into_iter()
        .map(|o| ConsoleOrder {
            created: format_bill_time(o.created_at),
            buyer: o.consumer.clone(),
            product: o.product_name.clone(),
            count: o.product_count,
            total: crate::web::page::yuan(o.total_price),
            status: o.status,
            status_text: crate::web::shop::status_text(o.status),
            receiver: format!(
                "{} {} · {} {} {} {}",
                o.receiver_name,
                o.receiver_mobile,
                o.receiver_province,
                o.receiver_city,
                o.receiver_zone,
                o.receiver_address
            ),
            delivery: format!("{} {}", o.delivery_company, o.delivery_id).trim().to_owned(),
            rights_reason: o.rights_reason.clone(),
            order_id: o.order_id,
        })
        .collect();
    let _ = v;
    let page = ShopPage {
        chrome,
        appid: a.appid.clone(),
        name: a.name.clone(),
        products,
        orders,
        companies: &koudai_domain::shop::DELIVERY_COMPANIES,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn shop_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let chrome = Chrome::of(&v, q.notice.as_deref());
    shop_view(&state, &v, &a, chrome).await
}

async fn shop_failed(state: &HttpState, v: &Visitor, a: &MpAccount, message: String) -> Result<Response, Gate> {
    let mut chrome = Chrome::of(v, None);
    chrome.error = Some(message);
    shop_view(state, v, a, chrome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ShipForm {
    csrf: String,
    company: String,
    track: String,
    quantity: String,
    sku_info: String,
}

/// Back to the shop page with `notice`, or the page again with the
/// refusal as the shop API words it.
async fn after(
    state: &HttpState,
    v: &Visitor,
    a: &MpAccount,
    result: Result<(), Failure>,
    notice: &str,
) -> Result<Response, Gate> {
    match result {
        Ok(()) => Ok(see_other(&format!("/console/accounts/{}/shop?notice={notice}", a.appid))),
        Err(Failure::Internal(e)) => Err(e.into()),
        Err(Failure::Refused(e)) => shop_failed(state, v, a, e.errmsg).await,
    }
}

async fn ship(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, order_id)): Path<(String, String)>,
    Form(f): Form<ShipForm>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let shipment =
        Shipment::Express { company: f.company.trim().to_owned(), track: f.track.trim().to_owned(), others: false };
    let result = async {
        let o = shop_orders::order(&state.app, &a, &order_id).await?;
        Ok::<_, Failure>(shop_orders::ship(&state.app, &o, &shipment).await?)
    }
    .await;
    after(&state, &v, &a, result, "order-shipped").await
}

async fn close_order(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, order_id)): Path<(String, String)>,
    Form(f): Form<ShipForm>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    let result = async {
        let o = shop_orders::order(&state.app, &a, &order_id).await?;
        Ok::<_, Failure>(shop_orders::close(&state.app, &o).await?)
    }
    .await;
    after(&state, &v, &a, result, "order-closed").await
}

async fn add_stock(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path((appid, product_id)): Path<(String, String)>,
    Form(f): Form<ShipForm>,
) -> Result<Response, Gate> {
    let v = manager(&state, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = account_for(&state.app, &v, &appid, Reach::Manage, "manage_account").await?;
    // A quantity that is not a whole number reads as 0: not positive.
    let quantity = f.quantity.trim().parse::<i64>().unwrap_or(0);
    let result = async {
        let p = shop::product(&state.app, &a, &product_id).await?;
        Ok::<_, Failure>(shop::add_stock(&state.app, &p, &f.sku_info, quantity).await?)
    }
    .await;
    after(&state, &v, &a, result, "stock-added").await
}
