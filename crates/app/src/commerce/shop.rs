//! WeChat Shop v1 (protocol notes `wechat-shop.md` §2–§4), the account's
//! side: who may run a shop ([`admit`]: the `shop_api` capability of the
//! e-commerce rules), uploaded images, products with SKUs and stock (the
//! category tree is the domain's), express templates, groups and shelves.
//!
//! The use cases take typed values — the surface reads the wire body, and
//! the domain's validators check the product, template and shelf documents
//! there — and refuse with their own enums: [`AdmitError`],
//! [`UploadError`], [`ProductError`], [`ExpressError`], [`GroupError`],
//! [`ShelfError`]. A use case that acts on a product or a group takes it as
//! [`product`] or [`group`] found it for the account, so a surface can
//! report a missing one before it reads the rest of a body.

use std::collections::HashSet;

use koudai_domain::eligibility as eligibility_rules;
use koudai_domain::shop::{self as rules, Category, Delivery};
use koudai_store::{Flag, MpAccount, NewSku, ProductRow, ShelfRow, ShopImage, SkuRow, StockChange, StoreError};

use crate::{App, Internal};

pub use crate::access::eligibility::AdmitError;

/// Whether the e-commerce rules in force let the account run a shop.
pub async fn admit(app: &App, account: &MpAccount) -> Result<(), AdmitError> {
    crate::access::eligibility::admit(app, &account.appid, eligibility_rules::SHOP_API).await
}

fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// --- Images ---

/// The largest image the shop keeps.
pub const MAX_IMAGE: usize = 1024 * 1024;

/// Why an image was not kept.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is empty")]
    Empty,
    #[error("the image is larger than 1 MB")]
    TooLarge,
    /// Not a JPG, PNG or BMP by its content.
    #[error("the image is not a jpg, png or bmp")]
    UnsupportedType,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Where an uploaded image is served.
fn image_url(app: &App, id: &str) -> String {
    format!("{}/shop/img/{id}", app.config.base_url.trim_end_matches('/'))
}

/// The images this account uploaded, as a test for the image URLs of a
/// product, a shelf or a store.
pub async fn issued(app: &App, a: &MpAccount) -> Result<impl Fn(&str) -> bool, Internal> {
    let ids: HashSet<String> = app.store.own_shop_images(&a.appid).await?.into_iter().collect();
    let prefix = image_url(app, "");
    Ok(move |url: &str| url.strip_prefix(prefix.as_str()).is_some_and(|id| ids.contains(id)))
}

/// `common/upload_img`: keeps a JPG, PNG or BMP (by content) of at most
/// [`MAX_IMAGE`] bytes and returns the URL it is served at.
pub async fn upload_image(app: &App, a: &MpAccount, data: Vec<u8>) -> Result<String, UploadError> {
    if data.is_empty() {
        return Err(UploadError::Empty);
    }
    if data.len() > MAX_IMAGE {
        return Err(UploadError::TooLarge);
    }
    let content_type = match koudai_protocol::multipart::sniff(&data) {
        Some(t @ ("image/jpeg" | "image/png" | "image/bmp")) => t,
        _ => return Err(UploadError::UnsupportedType),
    };
    Ok(store_image(app, a, content_type, data).await?)
}

/// Keeps an account's image and returns the URL it is served at.
pub(crate) async fn store_image(
    app: &App,
    a: &MpAccount,
    content_type: &str,
    data: Vec<u8>,
) -> Result<String, Internal> {
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

// --- Products, stock and categories ---

/// Why a product call was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// The account has no product by that id.
    #[error("no product {0:?}")]
    NoProduct(String),
    /// The product is delivered by a template the account does not have.
    #[error("delivery_info.template_id {0} is not one of this account's express templates")]
    NotOwnTemplate(i64),
    /// The product has been on a shelf: its name, category and properties
    /// are fixed.
    #[error("name, category_id and property cannot change once the product has been on a shelf")]
    FixedOnceListed,
    #[error("product {product_id} has no sku_info {sku:?}")]
    NoSuchSku { product_id: String, sku: String },
    /// A stock change is a whole number of items from 1 to a billion.
    #[error("quantity is a positive whole number")]
    BadQuantity,
    /// A reduction below zero.
    #[error("quantity is more than the stock")]
    NotEnoughStock,
    #[error("no category {0}")]
    NoCategory(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ProductError {
    fn from(e: StoreError) -> Self {
        ProductError::Internal(e.into())
    }
}

/// A product as the surface read it: the product the domain checked, and
/// the document kept for it (the body as sent, without the product id, as
/// JSON).
#[derive(Debug, Clone)]
pub struct ProductDraft {
    pub product: rules::Product,
    pub document: String,
}

/// A product with each SKU's price and stock now.
#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub row: ProductRow,
    pub skus: Vec<SkuRow>,
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

/// The product's express template, if it names one, must be the account's.
async fn own_template(app: &App, a: &MpAccount, p: &rules::Product) -> Result<(), ProductError> {
    if let Delivery::Template(id) = p.delivery {
        if app.store.express(&a.appid, id).await?.is_none() {
            return Err(ProductError::NotOwnTemplate(id));
        }
    }
    Ok(())
}

/// The account's product `product_id`.
pub async fn product(app: &App, a: &MpAccount, product_id: &str) -> Result<ProductRow, ProductError> {
    let row = if plain(product_id) { app.store.product(&a.appid, product_id).await? } else { None };
    row.ok_or_else(|| ProductError::NoProduct(product_id.to_owned()))
}

/// `merchant/create`: a new product, off the shelves; returns its id.
pub async fn create_product(app: &App, a: &MpAccount, draft: &ProductDraft) -> Result<String, ProductError> {
    own_template(app, a, &draft.product).await?;
    let product_id = format!("p{}", app.rng.token(27));
    let now = app.clock.business_now().unix();
    let row = ProductRow {
        product_id: product_id.clone(),
        appid: a.appid.clone(),
        body: draft.document.clone(),
        on_shelf: Flag(false),
        ever_listed: Flag(false),
        created_at: now,
        updated_at: now,
    };
    app.store.create_product(&row, &skus_of(&draft.product)).await?;
    Ok(product_id)
}

/// `merchant/update`: name, category and properties are fixed once the
/// product has been on a shelf.
pub async fn update_product(
    app: &App,
    a: &MpAccount,
    row: &ProductRow,
    draft: &ProductDraft,
) -> Result<(), ProductError> {
    own_template(app, a, &draft.product).await?;
    if row.ever_listed.0 {
        let old: serde_json::Value =
            serde_json::from_str(&row.body).map_err(|e| Internal::bug(format!("stored product: {e}")))?;
        let before = rules::validate_product(&old, &|_| true).ok();
        let p = &draft.product;
        let same =
            before.is_some_and(|b| b.name == p.name && b.category_id == p.category_id && b.properties == p.properties);
        if !same {
            return Err(ProductError::FixedOnceListed);
        }
    }
    let now = app.clock.business_now().unix();
    app.store.update_product(&a.appid, &row.product_id, &draft.document, &skus_of(&draft.product), now).await?;
    Ok(())
}

/// `merchant/del`.
pub async fn delete_product(app: &App, a: &MpAccount, row: &ProductRow) -> Result<(), ProductError> {
    app.store.delete_product(&a.appid, &row.product_id, app.clock.business_now().unix()).await?;
    Ok(())
}

/// `merchant/get`: the product with its SKUs.
pub async fn product_record(app: &App, row: ProductRow) -> Result<ProductRecord, ProductError> {
    let skus = app.store.skus(&row.product_id).await?;
    Ok(ProductRecord { row, skus })
}

/// `merchant/getbystatus`: the account's products, all of them or those on
/// (`Some(true)`) or off (`Some(false)`) the shelves.
pub async fn products(app: &App, a: &MpAccount, on_shelf: Option<bool>) -> Result<Vec<ProductRecord>, ProductError> {
    let mut out = Vec::new();
    for row in app.store.products(&a.appid, on_shelf).await? {
        out.push(product_record(app, row).await?);
    }
    Ok(out)
}

/// `merchant/modproductstatus`: puts the product on or off the shelves.
pub async fn set_on_shelf(app: &App, a: &MpAccount, row: &ProductRow, on: bool) -> Result<(), ProductError> {
    app.store.set_product_on_shelf(&a.appid, &row.product_id, on, app.clock.business_now().unix()).await?;
    Ok(())
}

/// `stock/add`: `quantity` more of the SKU (`""` for a single-spec product).
pub async fn add_stock(app: &App, row: &ProductRow, sku: &str, quantity: i64) -> Result<(), ProductError> {
    change_stock(app, row, sku, quantity, 1).await
}

/// `stock/reduce`: `quantity` fewer of the SKU, never below zero.
pub async fn reduce_stock(app: &App, row: &ProductRow, sku: &str, quantity: i64) -> Result<(), ProductError> {
    change_stock(app, row, sku, quantity, -1).await
}

async fn change_stock(app: &App, row: &ProductRow, sku: &str, quantity: i64, sign: i64) -> Result<(), ProductError> {
    if quantity <= 0 || quantity > 1_000_000_000 {
        return Err(ProductError::BadQuantity);
    }
    match app.store.change_stock(&row.product_id, sku, sign * quantity).await? {
        StockChange::Done(_) => Ok(()),
        StockChange::NoSuchSku => {
            Err(ProductError::NoSuchSku { product_id: row.product_id.clone(), sku: sku.to_owned() })
        }
        StockChange::BelowZero => Err(ProductError::NotEnoughStock),
    }
}

/// `category/getsub`: the children of a category (or of the root).
pub fn sub_categories(cate_id: &str) -> Result<Vec<&'static Category>, ProductError> {
    if cate_id != rules::ROOT && rules::category(cate_id).is_none() {
        return Err(ProductError::NoCategory(cate_id.to_owned()));
    }
    Ok(rules::children(cate_id))
}

/// `category/getsku` and `category/getproperty`: a category.
pub fn category(cate_id: &str) -> Result<&'static Category, ProductError> {
    rules::category(cate_id).ok_or_else(|| ProductError::NoCategory(cate_id.to_owned()))
}

// --- Express templates ---

/// Why an express template call was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExpressError {
    #[error("no express template {0}")]
    NoTemplate(i64),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ExpressError {
    fn from(e: StoreError) -> Self {
        ExpressError::Internal(e.into())
    }
}

/// An express template: its id and the document kept for it (the
/// template as sent, as JSON).
#[derive(Debug, Clone)]
pub struct ExpressTemplate {
    pub id: i64,
    pub document: String,
}

/// `express/add`: keeps a template (checked by the domain's
/// `validate_template`, as JSON); returns its id.
pub async fn add_express(app: &App, a: &MpAccount, document: &str) -> Result<i64, ExpressError> {
    Ok(app.store.create_express(&a.appid, document).await?)
}

/// `express/del`.
pub async fn delete_express(app: &App, a: &MpAccount, id: i64) -> Result<(), ExpressError> {
    if !app.store.update_express(&a.appid, id, None, app.clock.business_now().unix()).await? {
        return Err(ExpressError::NoTemplate(id));
    }
    Ok(())
}

/// `express/update`: the template's new document (checked, as JSON).
pub async fn update_express(app: &App, a: &MpAccount, id: i64, document: &str) -> Result<(), ExpressError> {
    if !app.store.update_express(&a.appid, id, Some(document), 0).await? {
        return Err(ExpressError::NoTemplate(id));
    }
    Ok(())
}

/// `express/getbyid`.
pub async fn express(app: &App, a: &MpAccount, id: i64) -> Result<ExpressTemplate, ExpressError> {
    let t = app.store.express(&a.appid, id).await?.ok_or(ExpressError::NoTemplate(id))?;
    Ok(ExpressTemplate { id: t.id, document: t.text })
}

/// `express/getall`.
pub async fn all_express(app: &App, a: &MpAccount) -> Result<Vec<ExpressTemplate>, ExpressError> {
    let all = app.store.express_all(&a.appid).await?;
    Ok(all.into_iter().map(|t| ExpressTemplate { id: t.id, document: t.text }).collect())
}

// --- Groups ---

/// Why a group call was refused.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("no group {0}")]
    NoGroup(i64),
    /// A product the group would list is not the account's.
    #[error("no product {0:?}")]
    NoProduct(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for GroupError {
    fn from(e: StoreError) -> Self {
        GroupError::Internal(e.into())
    }
}

/// A group of products (a shelf shows groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
}

/// A change of a group's products: one of the account's products, as
/// [`product`] found it, added or removed.
#[derive(Debug, Clone)]
pub struct GroupChange {
    pub product: ProductRow,
    pub add: bool,
}

async fn own_products(app: &App, a: &MpAccount, ids: &[String]) -> Result<(), GroupError> {
    for id in ids {
        if !plain(id) || app.store.product(&a.appid, id).await?.is_none() {
            return Err(GroupError::NoProduct(id.clone()));
        }
    }
    Ok(())
}

/// The account's group `id`.
pub async fn group(app: &App, a: &MpAccount, id: i64) -> Result<Group, GroupError> {
    let g = app.store.group(&a.appid, id).await?.ok_or(GroupError::NoGroup(id))?;
    Ok(Group { id: g.id, name: g.text })
}

/// `group/add`: a group named `name` (checked) listing the account's
/// `products`; returns its id.
pub async fn add_group(app: &App, a: &MpAccount, name: &str, products: &[String]) -> Result<i64, GroupError> {
    own_products(app, a, products).await?;
    Ok(app.store.create_group(&a.appid, name, products).await?)
}

/// `group/del`.
pub async fn delete_group(app: &App, a: &MpAccount, id: i64) -> Result<(), GroupError> {
    group(app, a, id).await?;
    app.store.delete_group(&a.appid, id, app.clock.business_now().unix()).await?;
    Ok(())
}

/// `group/propertymod`: the group's new name (checked).
pub async fn rename_group(app: &App, a: &MpAccount, g: &Group, name: &str) -> Result<(), GroupError> {
    app.store.rename_group(&a.appid, g.id, name).await?;
    Ok(())
}

/// `group/productmod`: adds and removes products.
pub async fn change_group(app: &App, g: &Group, changes: &[GroupChange]) -> Result<(), GroupError> {
    for c in changes {
        app.store.group_product(g.id, &c.product.product_id, c.add).await?;
    }
    Ok(())
}

/// `group/getbyid`: the group's products.
pub async fn group_products(app: &App, g: &Group) -> Result<Vec<String>, GroupError> {
    Ok(app.store.group_products(g.id).await?)
}

/// `group/getall`.
pub async fn all_groups(app: &App, a: &MpAccount) -> Result<Vec<Group>, GroupError> {
    Ok(app.store.groups(&a.appid).await?.into_iter().map(|g| Group { id: g.id, name: g.text }).collect())
}

// --- Shelves ---

/// Why a shelf call was refused.
#[derive(Debug, thiserror::Error)]
pub enum ShelfError {
    #[error("no shelf {0}")]
    NoShelf(i64),
    /// The shelf shows a group the account does not have.
    #[error("no group {0}")]
    NoGroup(i64),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ShelfError {
    fn from(e: StoreError) -> Self {
        ShelfError::Internal(e.into())
    }
}

/// A shelf as the surface read it: its name and banner, its layout (the
/// `shelf_data` the domain's `shelf_groups` checked, as JSON) and the
/// groups the layout shows.
#[derive(Debug, Clone)]
pub struct ShelfDraft {
    pub name: String,
    pub banner: String,
    pub layout: String,
    pub groups: Vec<i64>,
}

async fn own_groups(app: &App, a: &MpAccount, shelf: &ShelfDraft) -> Result<(), ShelfError> {
    for g in &shelf.groups {
        if app.store.group(&a.appid, *g).await?.is_none() {
            return Err(ShelfError::NoGroup(*g));
        }
    }
    Ok(())
}

/// `shelf/add`: returns the new shelf's id.
pub async fn add_shelf(app: &App, a: &MpAccount, shelf: &ShelfDraft) -> Result<i64, ShelfError> {
    own_groups(app, a, shelf).await?;
    Ok(app.store.create_shelf(&a.appid, &shelf.name, &shelf.banner, &shelf.layout).await?)
}

/// `shelf/del`.
pub async fn delete_shelf(app: &App, a: &MpAccount, id: i64) -> Result<(), ShelfError> {
    if !app.store.delete_shelf(&a.appid, id, app.clock.business_now().unix()).await? {
        return Err(ShelfError::NoShelf(id));
    }
    Ok(())
}

/// `shelf/mod`.
pub async fn update_shelf(app: &App, a: &MpAccount, id: i64, shelf: &ShelfDraft) -> Result<(), ShelfError> {
    own_groups(app, a, shelf).await?;
    if !app.store.update_shelf(&a.appid, id, &shelf.name, &shelf.banner, &shelf.layout).await? {
        return Err(ShelfError::NoShelf(id));
    }
    Ok(())
}

/// `shelf/getbyid`.
pub async fn shelf(app: &App, a: &MpAccount, id: i64) -> Result<ShelfRow, ShelfError> {
    app.store.shelf(&a.appid, id).await?.ok_or(ShelfError::NoShelf(id))
}

/// `shelf/getall`.
pub async fn all_shelves(app: &App, a: &MpAccount) -> Result<Vec<ShelfRow>, ShelfError> {
    Ok(app.store.shelves(&a.appid).await?)
}
