//! The WeChat Shop surface (`/merchant/…` at the host root, protocol notes
//! `wechat-shop.md` §1–§4): POST JSON with `?access_token=` (a GET that
//! carries a body is read the same; the three `getall` take none), HTTP
//! 200 errcode answers, `errmsg: "success"`; an unknown path is 40066.
//!
//! This module owns the shop API's wire: it authenticates the call (an
//! authorizer token needs permission set 5, 61007), admits the account
//! (the `shop_api` capability, 48001 with the reason), reads each body
//! into the typed values of `koudai_app::commerce::shop` and `shop_orders`
//! — a wrong field is 40097 "invalid args: …" naming it, the product,
//! template and shelf documents checked by `koudai_domain::shop` — calls
//! the use case and writes the answer. A body names its target (product,
//! group, order) first: a missing one is reported before the rest of the
//! body is read. Refusals become errcodes in `error/commerce.rs`. Uploaded
//! images are served at `/shop/img/{id}`.

use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::{json, Map, Value};

use koudai_app::commerce::shop::{self, GroupChange, ProductDraft, ProductRecord, ShelfDraft};
use koudai_app::commerce::shop_orders::{self, OrderFilter, Shipment};
use koudai_app::{App, Internal};
use koudai_domain::shop::{self as rules, OrderStatus, ShopError};
use koudai_protocol::mp::MpError;
use koudai_store::{MpAccount, ShelfRow, ShopOrder};

use super::error::{Answer, Failure, Reply};
use super::request::{body, Call};
use crate::state::HttpState;

/// Largest image upload (the use case refuses above 1 MB with 40009).
const MAX_UPLOAD: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<HttpState> {
    Router::new().route("/merchant/{*path}", any(dispatch)).route("/shop/img/{id}", get(image))
}

/// The operations, by path: whether the call needs no body.
const BODYLESS: [&str; 3] = ["express/getall", "group/getall", "shelf/getall"];
const WITH_BODY: [&str; 29] = [
    "order/getbyid",
    "order/getbyfilter",
    "order/setdelivery",
    "order/close",
    "create",
    "del",
    "update",
    "get",
    "getbystatus",
    "modproductstatus",
    "category/getsub",
    "category/getsku",
    "category/getproperty",
    "stock/add",
    "stock/reduce",
    "express/add",
    "express/del",
    "express/update",
    "express/getbyid",
    "group/add",
    "group/del",
    "group/propertymod",
    "group/productmod",
    "group/getbyid",
    "shelf/add",
    "shelf/del",
    "shelf/mod",
    "shelf/getbyid",
    "common/upload_img",
];

async fn dispatch(State(state): State<HttpState>, Path(path): Path<String>, req: Request) -> Reply {
    let app = &state.app;
    let path = path.as_str();
    if !BODYLESS.contains(&path) && !WITH_BODY.contains(&path) {
        return Err(MpError::invalid_url().into());
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (c, b) = Call::of(req);
    if !matches!(c.method, Method::GET | Method::POST) {
        return Err(MpError::require_post().into());
    }
    let token = c.param("access_token");
    let a = koudai_app::mp::token::authenticate(app, Some(token.as_str()), &format!("merchant/{path}")).await?;
    shop::admit(app, &a).await?;
    match path {
        "common/upload_img" => return upload(app, &a, &c, content_type.as_deref(), b).await,
        "express/getall" => return all_express(app, &a).await,
        "group/getall" => return all_groups(app, &a).await,
        "shelf/getall" => return all_shelves(app, &a).await,
        _ => {}
    }
    let (_, v) = body(b).await?;
    if !v.is_object() {
        return Err(MpError::data_format().into());
    }
    match path.split_once('/') {
        Some(("order", op)) => order_call(app, &a, op, &v).await,
        Some(("category", op)) => category_call(op, &v),
        Some(("stock", op)) => stock_call(app, &a, op, &v).await,
        Some(("express", op)) => express_call(app, &a, op, &v).await,
        Some(("group", op)) => group_call(app, &a, op, &v).await,
        Some(("shelf", op)) => shelf_call(app, &a, op, &v).await,
        _ => product_call(app, &a, path, &v).await,
    }
}

/// `GET /shop/img/{id}`: an uploaded image.
async fn image(State(state): State<HttpState>, Path(id): Path<String>) -> Response {
    match shop::image(&state.app, &id).await {
        Ok(Some((content_type, bytes))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400, immutable".into())],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
            r.extensions_mut().insert(crate::layers::InternalCause(e.to_string()));
            r
        }
    }
}

// --- Reading bodies ---

/// A body's fault, naming the field (40097).
fn bad(m: impl Into<String>) -> ShopError {
    ShopError(m.into())
}

/// A whole number, sent as a number or a string.
fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string field ("" when absent or not a string).
fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// An order's field: a non-empty string, or a number as its digits.
fn order_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a field is absent or null.
fn absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

// --- Answers ---

/// `{"errcode": 0, "errmsg": "success", …extra}`.
fn success(extra: Value) -> Answer {
    let mut out = json!({"errcode": 0, "errmsg": "success"});
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    Answer(out)
}

fn done() -> Reply {
    Ok(success(json!({})))
}

// --- Images ---

/// `common/upload_img`: raw bytes (`?filename=`), or multipart (wechatpy's
/// top-level `upload_image`); answers `image_url` and `url`.
async fn upload(app: &App, a: &MpAccount, c: &Call, content_type: Option<&str>, b: axum::body::Body) -> Reply {
    if c.method != Method::POST {
        return Err(MpError::require_post().into());
    }
    let bytes = axum::body::to_bytes(b, MAX_UPLOAD).await.map_err(|_| MpError::invalid_image_size())?;
    let data = upload_data(&c.param("filename"), content_type, &bytes)?;
    let url = shop::upload_image(app, a, data).await?;
    Ok(success(json!({"image_url": url, "url": url})))
}

/// The uploaded file: a multipart body's first non-empty part, or the raw
/// body of a named file.
fn upload_data(filename: &str, content_type: Option<&str>, body: &[u8]) -> Result<Vec<u8>, ShopError> {
    if content_type.is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/")) {
        let parts = koudai_protocol::multipart::parse(content_type, body).map_err(|e| bad(e.to_string()))?;
        parts
            .into_iter()
            .find(|p| !p.data.is_empty())
            .map(|p| p.data)
            .ok_or_else(|| bad("no file in the multipart body"))
    } else if filename.is_empty() {
        Err(bad("filename is required"))
    } else {
        Ok(body.to_vec())
    }
}

// --- Products and stock ---

async fn product_call(app: &App, a: &MpAccount, op: &str, v: &Value) -> Reply {
    let named = || text(v.get("product_id"));
    match op {
        "create" => {
            let draft = product_draft(app, a, v).await?;
            Ok(success(json!({"product_id": shop::create_product(app, a, &draft).await?})))
        }
        "update" => {
            let row = shop::product(app, a, &named()).await?;
            let draft = product_draft(app, a, v).await?;
            shop::update_product(app, a, &row, &draft).await?;
            done()
        }
        "del" => {
            let row = shop::product(app, a, &named()).await?;
            shop::delete_product(app, a, &row).await?;
            done()
        }
        "get" => {
            let row = shop::product(app, a, &named()).await?;
            let info = product_info(&shop::product_record(app, row).await?)?;
            Ok(success(json!({"product_info": info})))
        }
        "getbystatus" => products_by_status(app, a, v).await,
        "modproductstatus" => {
            let row = shop::product(app, a, &named()).await?;
            let on = match int(v.get("status")) {
                Some(1) => true,
                Some(0) => false,
                _ => return Err(bad("status is 1 (on shelf) or 0 (off shelf)").into()),
            };
            shop::set_on_shelf(app, a, &row, on).await?;
            done()
        }
        _ => Err(MpError::invalid_url().into()),
    }
}

/// A product body, checked by the domain against the account's images;
/// kept as sent, without the product id.
async fn product_draft(app: &App, a: &MpAccount, v: &Value) -> Result<ProductDraft, Failure> {
    let issued = shop::issued(app, a).await?;
    let product = rules::validate_product(v, &issued)?;
    let mut kept = v.clone();
    if let Some(o) = kept.as_object_mut() {
        o.remove("product_id");
    }
    Ok(ProductDraft { product, document: kept.to_string() })
}

/// `merchant/getbystatus`: 0 all, 1 on shelf, 2 off.
async fn products_by_status(app: &App, a: &MpAccount, v: &Value) -> Reply {
    let filter = match int(v.get("status")) {
        None | Some(0) => None,
        Some(1) => Some(true),
        Some(2) => Some(false),
        Some(_) => return Err(bad("status is 0 (all), 1 (on shelf) or 2 (off shelf)").into()),
    };
    let mut out = Vec::new();
    for p in shop::products(app, a, filter).await? {
        let mut info = product_info(&p)?;
        info["status"] = json!(if p.row.on_shelf.0 { 1 } else { 2 });
        out.push(info);
    }
    Ok(success(json!({"products_info": out})))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A product as `get` and `getbystatus` show it (§2.1): numbers for
/// category ids, display names for properties, `detail_html`, the SKUs
/// with their stock now.
fn product_info(p: &ProductRecord) -> Result<Value, Failure> {
    let body: Value = serde_json::from_str(&p.row.body).map_err(|e| Internal::bug(format!("stored product: {e}")))?;
    let skus: Vec<Value> = p
        .skus
        .iter()
        .map(|s| {
            json!({"sku_id": s.sku_id, "price": s.price, "ori_price": s.ori_price, "quantity": s.quantity,
                   "icon_url": s.icon_url, "product_code": s.product_code})
        })
        .collect();
    let delivery = match body.get("delivery_info") {
        Some(d) if int(d.get("delivery_type")) == Some(1) => {
            json!({"delivery_type": 1, "template_id": int(d.get("template_id")).unwrap_or_default()})
        }
        Some(d) => d.clone(),
        None => json!({"delivery_type": 0, "template_id": 0, "express": []}),
    };
    Ok(json!({
        "product_id": p.row.product_id,
        "product_base": product_base(&body),
        "sku_list": skus,
        "attrext": body.get("attrext").cloned().unwrap_or_else(|| json!({})),
        "delivery_info": delivery,
    }))
}

/// A kept product's `product_base` as shown: the category id a number,
/// properties by their display names, `detail` as `detail_html`.
fn product_base(body: &Value) -> Value {
    let mut base = body.get("product_base").cloned().unwrap_or_else(|| json!({}));
    let category = rules::id_text(base.get("category_id").and_then(|c| c.get(0))).unwrap_or_default();
    base["category_id"] = json!([category.parse::<u64>().unwrap_or_default()]);
    let properties: Vec<Value> = base
        .get("property")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let (name, value) = rules::property_names(
                &category,
                &rules::id_text(p.get("id")).unwrap_or_default(),
                &rules::id_text(p.get("vid")).unwrap_or_default(),
            );
            json!({"id": name, "vid": value})
        })
        .collect();
    base["property"] = json!(properties);
    let html: String = base
        .get("detail")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| match (d.get("text").and_then(Value::as_str), d.get("img").and_then(Value::as_str)) {
            (Some(t), _) => format!("<p>{}</p>", escape(t)),
            (_, Some(i)) => format!("<p><img src=\"{}\"/></p>", escape(i)),
            _ => String::new(),
        })
        .collect();
    if let Some(o) = base.as_object_mut() {
        o.remove("detail");
        o.insert("detail_html".into(), json!(html));
    }
    base
}

/// `stock/add` and `stock/reduce`.
async fn stock_call(app: &App, a: &MpAccount, op: &str, v: &Value) -> Reply {
    let row = shop::product(app, a, &text(v.get("product_id"))).await?;
    let sku = match v.get("sku_info") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err(bad("sku_info is a string (\"\" for a single-spec product)").into()),
    };
    // A quantity that is not a whole number reads as 0: not positive.
    let quantity = int(v.get("quantity")).unwrap_or(0);
    match op {
        "add" => shop::add_stock(app, &row, &sku, quantity).await?,
        "reduce" => shop::reduce_stock(app, &row, &sku, quantity).await?,
        _ => return Err(MpError::invalid_url().into()),
    }
    done()
}

// --- Categories ---

fn category_call(op: &str, v: &Value) -> Reply {
    let id = rules::id_text(v.get("cate_id")).ok_or_else(|| bad("cate_id is required"))?;
    let named =
        |list: &[rules::Named]| -> Vec<Value> { list.iter().map(|n| json!({"id": n.id, "name": n.name})).collect() };
    match op {
        "getsub" => {
            let list: Vec<Value> =
                shop::sub_categories(&id)?.iter().map(|c| json!({"id": c.id, "name": c.name})).collect();
            Ok(success(json!({"cate_list": list})))
        }
        "getsku" => {
            let table: Vec<Value> = shop::category(&id)?
                .sku_table
                .iter()
                .map(|s| json!({"id": s.id, "name": s.name, "value_list": named(&s.value_list)}))
                .collect();
            Ok(success(json!({"sku_table": table})))
        }
        "getproperty" => {
            let props: Vec<Value> = shop::category(&id)?
                .properties
                .iter()
                .map(|p| json!({"id": p.id, "name": p.name, "property_value": named(&p.property_value)}))
                .collect();
            Ok(success(json!({"properties": props})))
        }
        _ => Err(MpError::invalid_url().into()),
    }
}

// --- Express templates ---

/// The body's `delivery_template`, checked by the domain, as JSON.
fn template_of(v: &Value) -> Result<String, ShopError> {
    let t = v.get("delivery_template").ok_or_else(|| bad("delivery_template is required"))?;
    rules::validate_template(t)?;
    Ok(t.to_string())
}

fn template_id(v: &Value) -> Result<i64, ShopError> {
    int(v.get("template_id")).ok_or_else(|| bad("template_id is required"))
}

/// A template as shown: its document with its `Id`.
fn template_info(t: &shop::ExpressTemplate) -> Value {
    let mut info: Value = serde_json::from_str(&t.document).unwrap_or_else(|_| json!({}));
    info["Id"] = json!(t.id);
    info
}

async fn express_call(app: &App, a: &MpAccount, op: &str, v: &Value) -> Reply {
    match op {
        "add" => {
            let template = template_of(v)?;
            Ok(success(json!({"template_id": shop::add_express(app, a, &template).await?})))
        }
        "del" => {
            shop::delete_express(app, a, template_id(v)?).await?;
            done()
        }
        "update" => {
            let id = template_id(v)?;
            shop::update_express(app, a, id, &template_of(v)?).await?;
            done()
        }
        "getbyid" => {
            let t = shop::express(app, a, template_id(v)?).await?;
            Ok(success(json!({"template_info": template_info(&t)})))
        }
        _ => Err(MpError::invalid_url().into()),
    }
}

/// `express/getall`: `templates_info` (the manual) and `template_info`
/// (what wechatpy's sub-API reads), the same list.
async fn all_express(app: &App, a: &MpAccount) -> Reply {
    let list: Vec<Value> = shop::all_express(app, a).await?.iter().map(template_info).collect();
    Ok(success(json!({"templates_info": list, "template_info": list})))
}

// --- Groups ---

fn group_name(v: Option<&Value>) -> Result<String, ShopError> {
    let name = text(v);
    if name.trim().is_empty() || name.chars().count() > 60 {
        return Err(bad("group_name is required (1 to 60 characters)"));
    }
    Ok(name.trim().to_owned())
}

fn group_id(v: &Value) -> Result<i64, ShopError> {
    int(v.get("group_id")).ok_or_else(|| bad("group_id is required"))
}

async fn group_call(app: &App, a: &MpAccount, op: &str, v: &Value) -> Reply {
    match op {
        "add" => {
            let d = v.get("group_detail").ok_or_else(|| bad("group_detail is required"))?;
            let name = group_name(d.get("group_name"))?;
            let products: Vec<String> = d
                .get("product_list")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| rules::id_text(Some(v)))
                .collect();
            Ok(success(json!({"group_id": shop::add_group(app, a, &name, &products).await?})))
        }
        "del" => {
            shop::delete_group(app, a, group_id(v)?).await?;
            done()
        }
        "propertymod" => {
            let g = shop::group(app, a, group_id(v)?).await?;
            shop::rename_group(app, a, &g, &group_name(v.get("group_name"))?).await?;
            done()
        }
        "productmod" => {
            let g = shop::group(app, a, group_id(v)?).await?;
            let changes = group_changes(app, a, v).await?;
            shop::change_group(app, &g, &changes).await?;
            done()
        }
        "getbyid" => {
            let g = shop::group(app, a, group_id(v)?).await?;
            let products = shop::group_products(app, &g).await?;
            Ok(success(json!({"group_detail": {"group_id": g.id, "group_name": g.name, "product_list": products}})))
        }
        _ => Err(MpError::invalid_url().into()),
    }
}

/// `group/productmod`'s `product` list, `mod_action` 1 adding and 0
/// removing; each change's product is looked up as it is read.
async fn group_changes(app: &App, a: &MpAccount, v: &Value) -> Result<Vec<GroupChange>, Failure> {
    let changes = v.get("product").and_then(Value::as_array).filter(|l| !l.is_empty());
    let changes = changes.ok_or_else(|| bad("product is required"))?;
    let mut out = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let pid =
            rules::id_text(c.get("product_id")).ok_or_else(|| bad(format!("product[{i}].product_id is required")))?;
        let add = match int(c.get("mod_action")) {
            Some(1) => true,
            Some(0) => false,
            _ => return Err(bad(format!("product[{i}].mod_action is 1 (add) or 0 (remove)")).into()),
        };
        out.push(GroupChange { product: shop::product(app, a, &pid).await?, add });
    }
    Ok(out)
}

/// `group/getall`.
async fn all_groups(app: &App, a: &MpAccount) -> Reply {
    let list: Vec<Value> =
        shop::all_groups(app, a).await?.iter().map(|g| json!({"group_id": g.id, "group_name": g.name})).collect();
    Ok(success(json!({"groups_detail": list})))
}

// --- Shelves ---

/// A shelf body: its name, banner and layout, checked by the domain
/// against the account's images.
async fn shelf_draft(app: &App, a: &MpAccount, v: &Value) -> Result<ShelfDraft, Failure> {
    let name = text(v.get("shelf_name"));
    if name.trim().is_empty() {
        return Err(bad("shelf_name is required").into());
    }
    let banner = text(v.get("shelf_banner"));
    let data = v.get("shelf_data").ok_or_else(|| bad("shelf_data is required"))?;
    let issued = shop::issued(app, a).await?;
    let groups = rules::shelf_groups(data, &banner, &issued)?;
    Ok(ShelfDraft { name, banner, layout: data.to_string(), groups })
}

fn shelf_id(v: &Value) -> Result<i64, ShopError> {
    int(v.get("shelf_id")).ok_or_else(|| bad("shelf_id is required"))
}

/// A shelf as shown.
fn shelf_json(s: &ShelfRow) -> Map<String, Value> {
    let data: Value = serde_json::from_str(&s.data).unwrap_or_else(|_| json!({}));
    let mut m = Map::new();
    m.insert("shelf_info".into(), data);
    m.insert("shelf_banner".into(), json!(s.banner));
    m.insert("shelf_name".into(), json!(s.name));
    m.insert("shelf_id".into(), json!(s.id));
    m
}

async fn shelf_call(app: &App, a: &MpAccount, op: &str, v: &Value) -> Reply {
    match op {
        "add" => {
            let shelf = shelf_draft(app, a, v).await?;
            Ok(success(json!({"shelf_id": shop::add_shelf(app, a, &shelf).await?})))
        }
        "del" => {
            shop::delete_shelf(app, a, shelf_id(v)?).await?;
            done()
        }
        "mod" => {
            let id = shelf_id(v)?;
            let shelf = shelf_draft(app, a, v).await?;
            shop::update_shelf(app, a, id, &shelf).await?;
            done()
        }
        // The shelf's fields at the top level.
        "getbyid" => Ok(success(Value::Object(shelf_json(&shop::shelf(app, a, shelf_id(v)?).await?)))),
        _ => Err(MpError::invalid_url().into()),
    }
}

/// `shelf/getall`.
async fn all_shelves(app: &App, a: &MpAccount) -> Reply {
    let list: Vec<Value> = shop::all_shelves(app, a).await?.iter().map(|s| Value::Object(shelf_json(s))).collect();
    Ok(success(json!({"shelves": list})))
}

// --- Orders ---

/// An order as `order/getbyid` and `getbyfilter` show it (§2.5): the id a
/// string, amounts in fen.
fn order_json(o: &ShopOrder) -> Value {
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

async fn order_call(app: &App, a: &MpAccount, op: &str, v: &Value) -> Reply {
    let named = || order_text(v.get("order_id")).unwrap_or_default();
    match op {
        "getbyid" => {
            let o = shop_orders::order(app, a, &named()).await?;
            Ok(success(json!({"order": order_json(&o)})))
        }
        "getbyfilter" => {
            let list = shop_orders::orders(app, a, &order_filter(v)?).await?;
            Ok(success(json!({"order_list": list.iter().map(order_json).collect::<Vec<_>>()})))
        }
        "setdelivery" => {
            let o = shop_orders::order(app, a, &named()).await?;
            shop_orders::ship(app, &o, &shipment(v)?).await?;
            done()
        }
        "close" => {
            let o = shop_orders::order(app, a, &named()).await?;
            shop_orders::close(app, &o).await?;
            done()
        }
        _ => Err(MpError::invalid_url().into()),
    }
}

/// `order/getbyfilter`'s body: `status` (2, 3, 5, 8; 6 for closed),
/// `begintime`, `endtime` on the creation time; null is absent.
fn order_filter(v: &Value) -> Result<OrderFilter, ShopError> {
    let status = match v.get("status") {
        s if absent(s) => None,
        s => Some(
            int(s)
                .and_then(OrderStatus::from_code)
                .filter(|s| s.listed())
                .ok_or_else(|| bad("status is 2, 3, 5, 6 or 8"))?,
        ),
    };
    let time = |k: &str| match v.get(k) {
        t if absent(t) => Ok(None),
        t => int(t).map(Some).ok_or_else(|| bad(format!("{k} is unix seconds"))),
    };
    Ok(OrderFilter { status, begin: time("begintime")?, end: time("endtime")? })
}

/// `order/setdelivery`'s body: `need_delivery` (1 when absent) 0 for
/// nothing to deliver; otherwise the company (any with `is_others` 1) and
/// the tracking number.
fn shipment(v: &Value) -> Result<Shipment, ShopError> {
    let need = match v.get("need_delivery") {
        n if absent(n) => 1,
        n => int(n).filter(|n| *n == 0 || *n == 1).ok_or_else(|| bad("need_delivery is 0 or 1"))?,
    };
    if need == 0 {
        return Ok(Shipment::NoDelivery);
    }
    Ok(Shipment::Express {
        company: order_text(v.get("delivery_company")).unwrap_or_default(),
        track: order_text(v.get("delivery_track_no")).unwrap_or_default(),
        others: int(v.get("is_others")).unwrap_or(0) == 1,
    })
}
