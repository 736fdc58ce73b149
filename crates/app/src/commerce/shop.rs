//! WeChat Shop v1 (protocol notes `wechat-shop.md` §2–§4): products with
//! SKUs and stock, categories, express templates, groups, shelves and
//! image upload, for accounts the e-commerce rules grant `shop_api` (48001
//! with the explanation otherwise) — and, through a third-party platform,
//! only with permission set 5 (61007). Success is `errmsg: "success"`;
//! a business violation is 40097 "invalid args: …" naming the field.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use koudai_domain::eligibility as eligibility_rules;
use koudai_domain::shop::{self as rules, Delivery, ShopError};
use koudai_protocol::mp::MpError;
use koudai_store::{Flag, MpAccount, NewSku, ProductRow, ShopImage, StockChange};

use crate::mp::MpFailure;
use crate::{App, Internal};

fn invalid(m: impl std::fmt::Display) -> MpFailure {
    MpFailure::Refused(MpError::invalid_args_because(&m.to_string()))
}

impl From<ShopError> for MpFailure {
    fn from(e: ShopError) -> Self {
        invalid(e)
    }
}

/// `{"errcode": 0, "errmsg": "success", …extra}`.
pub fn success(extra: Value) -> Value {
    let mut out = json!({"errcode": 0, "errmsg": "success"});
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    out
}

/// The account behind a shop call: its token (an authorizer token needs
/// set 5), then the e-commerce rules (48001 with the reason).
pub async fn gate(app: &App, token: Option<&str>, api: &str) -> Result<MpAccount, MpFailure> {
    let account = crate::mp::token::authenticate(app, token, api).await?;
    let now = app.clock.business_now().unix();
    match crate::access::eligibility::check(&app.store, &account.appid, eligibility_rules::SHOP_API, now).await? {
        Ok(()) => Ok(account),
        Err(why) => Err(MpError::api_unauthorized_because(&why).into()),
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Where an uploaded image is served.
fn image_url(app: &App, id: &str) -> String {
    format!("{}/shop/img/{id}", app.config.base_url.trim_end_matches('/'))
}

/// The images this account uploaded, as a test for product fields.
pub(crate) async fn issued(app: &App, a: &MpAccount) -> Result<impl Fn(&str) -> bool, MpFailure> {
    let ids: HashSet<String> = app.store.own_shop_images(&a.appid).await?.into_iter().collect();
    let prefix = image_url(app, "");
    Ok(move |url: &str| url.strip_prefix(prefix.as_str()).is_some_and(|id| ids.contains(id)))
}

/// `common/upload_img`: raw bytes (`?filename=`), or multipart (wechatpy's
/// top-level `upload_image`); answers `image_url` and `url`.
pub async fn upload_image(
    app: &App,
    a: &MpAccount,
    filename: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Value, MpFailure> {
    let data = if content_type.is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/")) {
        let parts = koudai_protocol::multipart::parse(content_type, body).map_err(invalid)?;
        parts
            .into_iter()
            .find(|p| !p.data.is_empty())
            .map(|p| p.data)
            .ok_or_else(|| invalid("no file in the multipart body"))?
    } else {
        if filename.is_empty() {
            return Err(invalid("filename is required"));
        }
        body.to_vec()
    };
    if data.is_empty() {
        return Err(MpError::empty_post_data().into());
    }
    if data.len() > 1024 * 1024 {
        return Err(MpError::invalid_image_size_limit("at most 1 MB").into());
    }
    let content_type = match koudai_protocol::multipart::sniff(&data) {
        Some(t @ ("image/jpeg" | "image/png" | "image/bmp")) => t,
        _ => return Err(MpError::unsupported_file_type("jpg, png or bmp").into()),
    };
    let url = store_image(app, a, content_type, data).await?;
    Ok(success(json!({"image_url": url, "url": url})))
}

/// Keeps an account's image and returns the URL it is served at.
pub(crate) async fn store_image(
    app: &App,
    a: &MpAccount,
    content_type: &str,
    data: Vec<u8>,
) -> Result<String, MpFailure> {
    let id = app.rng.token(32);
    let img = ShopImage { id: id.clone(), appid: a.appid.clone(), content_type: content_type.into(), content: data };
    app.store.create_shop_image(&img, app.clock.business_now().unix()).await?;
    Ok(image_url(app, &id))
}

/// A served image: its type and bytes.
pub async fn image(app: &App, id: &str) -> Result<Option<(String, Vec<u8>)>, Internal> {
    if !plain(id) {
        return Ok(None);
    }
    Ok(app.store.shop_image(id).await?.map(|i| (i.content_type, i.content)))
}

fn skus_of(p: &rules::Product) -> Vec<NewSku> {
    p.skus
        .iter()
        .map(|s| NewSku {
            sku_id: s.sku_id.clone(),
            price: s.price,
            ori_price: s.ori_price,
            quantity: s.quantity,
            icon_url: s.icon_url.clone(),
            product_code: s.product_code.clone(),
        })
        .collect()
}

/// The checked product, with its template (if any) belonging to the account.
async fn checked(app: &App, a: &MpAccount, body: &Value) -> Result<rules::Product, MpFailure> {
    let issued = issued(app, a).await?;
    let p = rules::validate_product(body, &issued)?;
    if let Delivery::Template(id) = p.delivery {
        if app.store.express(&a.appid, id).await?.is_none() {
            return Err(invalid(format!(
                "delivery_info.template_id {id} is not one of this account's express templates"
            )));
        }
    }
    Ok(p)
}

/// The product body as kept: what was sent, without the product id.
fn kept_body(body: &Value) -> String {
    let mut b = body.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("product_id");
    }
    b.to_string()
}

/// `merchant/create`.
pub async fn create_product(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let p = checked(app, a, body).await?;
    let product_id = format!("p{}", app.rng.token(27));
    let now = app.clock.business_now().unix();
    let row = ProductRow {
        product_id: product_id.clone(),
        appid: a.appid.clone(),
        body: kept_body(body),
        on_shelf: Flag(false),
        ever_listed: Flag(false),
        created_at: now,
        updated_at: now,
    };
    app.store.create_product(&row, &skus_of(&p)).await?;
    Ok(success(json!({"product_id": product_id})))
}

async fn product_row(app: &App, a: &MpAccount, body: &Value) -> Result<ProductRow, MpFailure> {
    let id = text(body.get("product_id"));
    let row = if plain(&id) { app.store.product(&a.appid, &id).await? } else { None };
    row.ok_or_else(|| invalid(format!("no product {id:?}")))
}

/// `merchant/update`: name, category and properties are fixed once the
/// product has been on a shelf.
pub async fn update_product(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let row = product_row(app, a, body).await?;
    let p = checked(app, a, body).await?;
    if row.ever_listed.0 {
        let old: Value = serde_json::from_str(&row.body).map_err(|e| Internal::bug(format!("stored product: {e}")))?;
        let before = rules::validate_product(&old, &|_| true).ok();
        let same =
            before.is_some_and(|b| b.name == p.name && b.category_id == p.category_id && b.properties == p.properties);
        if !same {
            return Err(invalid("name, category_id and property cannot change once the product has been on a shelf"));
        }
    }
    let now = app.clock.business_now().unix();
    app.store.update_product(&a.appid, &row.product_id, &kept_body(body), &skus_of(&p), now).await?;
    Ok(success(json!({})))
}

/// `merchant/del`.
pub async fn delete_product(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let row = product_row(app, a, body).await?;
    app.store.delete_product(&a.appid, &row.product_id, app.clock.business_now().unix()).await?;
    Ok(success(json!({})))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A product as `get` and `getbystatus` show it (§2.1): numbers for
/// category ids, display names for properties, `detail_html`, the SKUs
/// with their stock now.
pub async fn product_info(app: &App, row: &ProductRow) -> Result<Value, MpFailure> {
    let body: Value = serde_json::from_str(&row.body).map_err(|e| Internal::bug(format!("stored product: {e}")))?;
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
    let skus: Vec<Value> = app
        .store
        .skus(&row.product_id)
        .await?
        .into_iter()
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
        "product_id": row.product_id,
        "product_base": base,
        "sku_list": skus,
        "attrext": body.get("attrext").cloned().unwrap_or_else(|| json!({})),
        "delivery_info": delivery,
    }))
}

/// `merchant/get`.
pub async fn get_product(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let row = product_row(app, a, body).await?;
    Ok(success(json!({"product_info": product_info(app, &row).await?})))
}

/// `merchant/getbystatus`: 0 all, 1 on shelf, 2 off.
pub async fn products_by_status(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let filter = match int(body.get("status")) {
        None | Some(0) => None,
        Some(1) => Some(true),
        Some(2) => Some(false),
        Some(_) => return Err(invalid("status is 0 (all), 1 (on shelf) or 2 (off shelf)")),
    };
    let mut out = Vec::new();
    for row in app.store.products(&a.appid, filter).await? {
        let mut info = product_info(app, &row).await?;
        info["status"] = json!(if row.on_shelf.0 { 1 } else { 2 });
        out.push(info);
    }
    Ok(success(json!({"products_info": out})))
}

/// `merchant/modproductstatus`: 1 on shelf, 0 off.
pub async fn set_product_status(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let row = product_row(app, a, body).await?;
    let on = match int(body.get("status")) {
        Some(1) => true,
        Some(0) => false,
        _ => return Err(invalid("status is 1 (on shelf) or 0 (off shelf)")),
    };
    app.store.set_product_on_shelf(&a.appid, &row.product_id, on, app.clock.business_now().unix()).await?;
    Ok(success(json!({})))
}

fn cate_id(body: &Value) -> Result<String, MpFailure> {
    rules::id_text(body.get("cate_id")).ok_or_else(|| invalid("cate_id is required"))
}

/// `category/getsub`.
pub fn sub_categories(body: &Value) -> Result<Value, MpFailure> {
    let id = cate_id(body)?;
    if id != rules::ROOT && rules::category(&id).is_none() {
        return Err(invalid(format!("no category {id}")));
    }
    let list: Vec<Value> = rules::children(&id).iter().map(|c| json!({"id": c.id, "name": c.name})).collect();
    Ok(success(json!({"cate_list": list})))
}

/// `category/getsku`.
pub fn category_skus(body: &Value) -> Result<Value, MpFailure> {
    let id = cate_id(body)?;
    let c = rules::category(&id).ok_or_else(|| invalid(format!("no category {id}")))?;
    let table: Vec<Value> = c
        .sku_table
        .iter()
        .map(|s| json!({"id": s.id, "name": s.name, "value_list": s.value_list.iter().map(|v| json!({"id": v.id, "name": v.name})).collect::<Vec<_>>()}))
        .collect();
    Ok(success(json!({"sku_table": table})))
}

/// `category/getproperty`.
pub fn category_properties(body: &Value) -> Result<Value, MpFailure> {
    let id = cate_id(body)?;
    let c = rules::category(&id).ok_or_else(|| invalid(format!("no category {id}")))?;
    let props: Vec<Value> = c
        .properties
        .iter()
        .map(|p| json!({"id": p.id, "name": p.name, "property_value": p.property_value.iter().map(|v| json!({"id": v.id, "name": v.name})).collect::<Vec<_>>()}))
        .collect();
    Ok(success(json!({"properties": props})))
}

/// `stock/add` (`reduce` with `sign` −1).
pub async fn change_stock(app: &App, a: &MpAccount, body: &Value, sign: i64) -> Result<Value, MpFailure> {
    let row = product_row(app, a, body).await?;
    let sku = match body.get("sku_info") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err(invalid("sku_info is a string (\"\" for a single-spec product)")),
    };
    let quantity = int(body.get("quantity")).filter(|q| *q > 0 && *q <= 1_000_000_000);
    let quantity = quantity.ok_or_else(|| invalid("quantity is a positive whole number"))?;
    match app.store.change_stock(&row.product_id, &sku, sign * quantity).await? {
        StockChange::Done(_) => Ok(success(json!({}))),
        StockChange::NoSuchSku => Err(invalid(format!("product {} has no sku_info {sku:?}", row.product_id))),
        StockChange::BelowZero => Err(invalid("quantity is more than the stock")),
    }
}

fn template_of(body: &Value) -> Result<Value, MpFailure> {
    let t = body.get("delivery_template").cloned().ok_or_else(|| invalid("delivery_template is required"))?;
    rules::validate_template(&t)?;
    Ok(t)
}

/// `express/add`.
pub async fn add_express(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let t = template_of(body)?;
    let id = app.store.create_express(&a.appid, &t.to_string()).await?;
    Ok(success(json!({"template_id": id})))
}

fn template_id(body: &Value) -> Result<i64, MpFailure> {
    int(body.get("template_id")).ok_or_else(|| invalid("template_id is required"))
}

fn no_template(id: i64) -> MpFailure {
    invalid(format!("no express template {id}"))
}

/// `express/del`.
pub async fn delete_express(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = template_id(body)?;
    if !app.store.update_express(&a.appid, id, None, app.clock.business_now().unix()).await? {
        return Err(no_template(id));
    }
    Ok(success(json!({})))
}

/// `express/update`.
pub async fn update_express(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = template_id(body)?;
    let t = template_of(body)?;
    if !app.store.update_express(&a.appid, id, Some(&t.to_string()), 0).await? {
        return Err(no_template(id));
    }
    Ok(success(json!({})))
}

fn template_info(id: i64, text: &str) -> Value {
    let mut t: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({}));
    t["Id"] = json!(id);
    t
}

/// `express/getbyid`.
pub async fn get_express(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = template_id(body)?;
    let t = app.store.express(&a.appid, id).await?.ok_or_else(|| no_template(id))?;
    Ok(success(json!({"template_info": template_info(t.id, &t.text)})))
}

/// `express/getall`: `templates_info` (the manual) and `template_info`
/// (what wechatpy's sub-API reads), the same list.
pub async fn all_express(app: &App, a: &MpAccount) -> Result<Value, MpFailure> {
    let list: Vec<Value> =
        app.store.express_all(&a.appid).await?.iter().map(|t| template_info(t.id, &t.text)).collect();
    Ok(success(json!({"templates_info": list, "template_info": list})))
}

async fn own_products(app: &App, a: &MpAccount, ids: &[String]) -> Result<(), MpFailure> {
    for id in ids {
        if !plain(id) || app.store.product(&a.appid, id).await?.is_none() {
            return Err(invalid(format!("no product {id:?}")));
        }
    }
    Ok(())
}

fn group_name(v: Option<&Value>) -> Result<String, MpFailure> {
    let name = text(v);
    if name.trim().is_empty() || name.chars().count() > 60 {
        return Err(invalid("group_name is required (1 to 60 characters)"));
    }
    Ok(name.trim().to_owned())
}

/// `group/add`.
pub async fn add_group(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let d = body.get("group_detail").ok_or_else(|| invalid("group_detail is required"))?;
    let name = group_name(d.get("group_name"))?;
    let products: Vec<String> = d
        .get("product_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| rules::id_text(Some(v)))
        .collect();
    own_products(app, a, &products).await?;
    let id = app.store.create_group(&a.appid, &name, &products).await?;
    Ok(success(json!({"group_id": id})))
}

async fn group_of(app: &App, a: &MpAccount, body: &Value) -> Result<i64, MpFailure> {
    let id = int(body.get("group_id")).ok_or_else(|| invalid("group_id is required"))?;
    app.store.group(&a.appid, id).await?.ok_or_else(|| invalid(format!("no group {id}")))?;
    Ok(id)
}

/// `group/del`.
pub async fn delete_group(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = group_of(app, a, body).await?;
    app.store.delete_group(&a.appid, id, app.clock.business_now().unix()).await?;
    Ok(success(json!({})))
}

/// `group/propertymod`.
pub async fn rename_group(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = group_of(app, a, body).await?;
    let name = group_name(body.get("group_name"))?;
    app.store.rename_group(&a.appid, id, &name).await?;
    Ok(success(json!({})))
}

/// `group/productmod`: `mod_action` 1 adds, 0 removes.
pub async fn group_products(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = group_of(app, a, body).await?;
    let changes = body.get("product").and_then(Value::as_array).filter(|l| !l.is_empty());
    let changes = changes.ok_or_else(|| invalid("product is required"))?;
    let mut planned = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let pid = rules::id_text(c.get("product_id"))
            .ok_or_else(|| invalid(format!("product[{i}].product_id is required")))?;
        let add = match int(c.get("mod_action")) {
            Some(1) => true,
            Some(0) => false,
            _ => return Err(invalid(format!("product[{i}].mod_action is 1 (add) or 0 (remove)"))),
        };
        own_products(app, a, std::slice::from_ref(&pid)).await?;
        planned.push((pid, add));
    }
    for (pid, add) in planned {
        app.store.group_product(id, &pid, add).await?;
    }
    Ok(success(json!({})))
}

async fn group_detail(app: &App, id: i64, name: &str) -> Result<Value, MpFailure> {
    Ok(json!({"group_id": id, "group_name": name, "product_list": app.store.group_products(id).await?}))
}

/// `group/getall`.
pub async fn all_groups(app: &App, a: &MpAccount) -> Result<Value, MpFailure> {
    let list: Vec<Value> =
        app.store.groups(&a.appid).await?.iter().map(|g| json!({"group_id": g.id, "group_name": g.text})).collect();
    Ok(success(json!({"groups_detail": list})))
}

/// `group/getbyid`.
pub async fn get_group(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = group_of(app, a, body).await?;
    let g = app.store.group(&a.appid, id).await?.ok_or_else(|| invalid(format!("no group {id}")))?;
    Ok(success(json!({"group_detail": group_detail(app, g.id, &g.text).await?})))
}

/// A shelf's parts, checked: its groups must be the account's.
async fn shelf_parts(app: &App, a: &MpAccount, body: &Value) -> Result<(String, String, Value), MpFailure> {
    let name = text(body.get("shelf_name"));
    if name.trim().is_empty() {
        return Err(invalid("shelf_name is required"));
    }
    let banner = text(body.get("shelf_banner"));
    let data = body.get("shelf_data").cloned().ok_or_else(|| invalid("shelf_data is required"))?;
    let issued = issued(app, a).await?;
    for g in rules::shelf_groups(&data, &banner, &issued)? {
        if app.store.group(&a.appid, g).await?.is_none() {
            return Err(invalid(format!("no group {g}")));
        }
    }
    Ok((name, banner, data))
}

/// `shelf/add`.
pub async fn add_shelf(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let (name, banner, data) = shelf_parts(app, a, body).await?;
    let id = app.store.create_shelf(&a.appid, &name, &banner, &data.to_string()).await?;
    Ok(success(json!({"shelf_id": id})))
}

fn shelf_id(body: &Value) -> Result<i64, MpFailure> {
    int(body.get("shelf_id")).ok_or_else(|| invalid("shelf_id is required"))
}

/// `shelf/del`.
pub async fn delete_shelf(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = shelf_id(body)?;
    if !app.store.delete_shelf(&a.appid, id, app.clock.business_now().unix()).await? {
        return Err(invalid(format!("no shelf {id}")));
    }
    Ok(success(json!({})))
}

/// `shelf/mod`.
pub async fn update_shelf(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = shelf_id(body)?;
    let (name, banner, data) = shelf_parts(app, a, body).await?;
    if !app.store.update_shelf(&a.appid, id, &name, &banner, &data.to_string()).await? {
        return Err(invalid(format!("no shelf {id}")));
    }
    Ok(success(json!({})))
}

fn shelf_json(s: &koudai_store::ShelfRow) -> Map<String, Value> {
    let data: Value = serde_json::from_str(&s.data).unwrap_or_else(|_| json!({}));
    let mut m = Map::new();
    m.insert("shelf_info".into(), data);
    m.insert("shelf_banner".into(), json!(s.banner));
    m.insert("shelf_name".into(), json!(s.name));
    m.insert("shelf_id".into(), json!(s.id));
    m
}

/// `shelf/getall`.
pub async fn all_shelves(app: &App, a: &MpAccount) -> Result<Value, MpFailure> {
    let list: Vec<Value> = app.store.shelves(&a.appid).await?.iter().map(|s| Value::Object(shelf_json(s))).collect();
    Ok(success(json!({"shelves": list})))
}

/// `shelf/getbyid`: the shelf's fields at the top level.
pub async fn get_shelf(app: &App, a: &MpAccount, body: &Value) -> Result<Value, MpFailure> {
    let id = shelf_id(body)?;
    let s = app.store.shelf(&a.appid, id).await?.ok_or_else(|| invalid(format!("no shelf {id}")))?;
    Ok(success(Value::Object(shelf_json(&s))))
}
