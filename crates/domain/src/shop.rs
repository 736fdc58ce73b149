//! WeChat Shop v1 (protocol notes `wechat-shop.md` §2): the category tree
//! (seed data, `data/shop-categories.json`) and every check a product,
//! express template, group and shelf must pass. A violation is named by
//! its field; the wire answer is 40097 "invalid args" with that name (the
//! manual has no error table; the notes propose 40097).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

/// Where a shop order stands; the number is its `order_status` on the wire
/// and in the database (`wechat-shop.md` §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Stock reserved, payment not made yet; never shown to anyone.
    Reserved,
    /// Paid, waiting to be shipped.
    Paid,
    Shipped,
    /// Received (confirmed by the buyer or automatically).
    Finished,
    Closed,
    /// A rights case (after-sales dispute) is open.
    RightsOpen,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Reserved,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Finished,
        OrderStatus::Closed,
        OrderStatus::RightsOpen,
    ];

    /// The `order_status` number.
    pub const fn code(self) -> i64 {
        match self {
            OrderStatus::Reserved => 1,
            OrderStatus::Paid => 2,
            OrderStatus::Shipped => 3,
            OrderStatus::Finished => 5,
            OrderStatus::Closed => 6,
            OrderStatus::RightsOpen => 8,
        }
    }

    /// The status numbered `code`, if any.
    pub fn from_code(code: i64) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The statuses a merchant or buyer can see (not a bare reservation).
    pub fn listed(self) -> bool {
        self != OrderStatus::Reserved
    }
}

impl TryFrom<i64> for OrderStatus {
    type Error = crate::text::UnknownValue;

    fn try_from(code: i64) -> Result<OrderStatus, Self::Error> {
        OrderStatus::from_code(code)
            .ok_or_else(|| crate::text::UnknownValue::new("shop order status", code.to_string()))
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SkuAttr {
    pub id: String,
    pub name: String,
    pub value_list: Vec<Named>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Property {
    pub id: String,
    pub name: String,
    pub property_value: Vec<Named>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Category {
    pub id: String,
    pub parent: String,
    pub name: String,
    #[serde(default)]
    pub sku_table: Vec<SkuAttr>,
    #[serde(default)]
    pub properties: Vec<Property>,
}

#[derive(Deserialize)]
struct CategoryFile {
    categories: Vec<Category>,
}

/// The root of the tree.
pub const ROOT: &str = "1";

/// Every category.
pub fn categories() -> &'static [Category] {
    static TREE: std::sync::OnceLock<Vec<Category>> = std::sync::OnceLock::new();
    TREE.get_or_init(|| {
        // Compiled in and read by a unit test: a broken file fails the tests.
        serde_json::from_str::<CategoryFile>(include_str!("../data/shop-categories.json"))
            .map(|f| f.categories)
            .unwrap_or_default()
    })
}

pub fn category(id: &str) -> Option<&'static Category> {
    categories().iter().find(|c| c.id == id)
}

/// The children of `id` (the root's are the top level).
pub fn children(id: &str) -> Vec<&'static Category> {
    categories().iter().filter(|c| c.parent == id).collect()
}

/// Whether `id` is a category products can be in (one without children).
pub fn is_leaf(id: &str) -> bool {
    category(id).is_some() && children(id).is_empty()
}

/// A shop refusal: what is wrong, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShopError(pub String);

fn bad(m: impl Into<String>) -> ShopError {
    ShopError(m.into())
}

/// An id the wire may send as a string or a number.
pub fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The express companies of `express[]` and templates.
pub const EXPRESS_IDS: [i64; 3] = [10000027, 10000028, 10000029];

/// How a product is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// `isPostFree` = 1.
    Free,
    /// Per-company prices (fen).
    Express(Vec<(i64, i64)>),
    /// An express template of the account.
    Template(i64),
}

/// One concrete variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku {
    pub sku_id: String,
    pub price: i64,
    pub ori_price: i64,
    pub quantity: i64,
    pub icon_url: String,
    pub product_code: String,
}

/// A checked product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub name: String,
    pub category_id: String,
    /// `(property id, value id)`.
    pub properties: Vec<(String, String)>,
    pub main_img: String,
    pub images: Vec<String>,
    pub buy_limit: i64,
    pub skus: Vec<Sku>,
    pub delivery: Delivery,
}

/// Checks a product body (`create`, `update`); `issued` says whether an
/// image URL was handed out by this account's `upload_img`.
pub fn validate_product(body: &Value, issued: &dyn Fn(&str) -> bool) -> Result<Product, ShopError> {
    let base = body.get("product_base").filter(|v| v.is_object()).ok_or_else(|| bad("product_base is required"))?;
    let name = base.get("name").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(bad("product_base.name is required (1 to 60 characters)"));
    }
    let cats =
        base.get("category_id").and_then(Value::as_array).ok_or_else(|| bad("product_base.category_id is required"))?;
    let category_id = match cats.as_slice() {
        [one] => id_text(Some(one)).ok_or_else(|| bad("product_base.category_id must hold one category id"))?,
        _ => return Err(bad("product_base.category_id must hold exactly one category id")),
    };
    if !is_leaf(&category_id) {
        return Err(bad(format!(
            "product_base.category_id {category_id} is not a category of the lowest level (see category/getsub)"
        )));
    }
    let cat = category(&category_id).ok_or_else(|| bad("unknown category"))?;
    let image = |field: &str, v: Option<&Value>| -> Result<String, ShopError> {
        let url = v.and_then(Value::as_str).unwrap_or_default();
        if url.is_empty() || !issued(url) {
            return Err(bad(format!("{field} must be an image URL returned by common/upload_img")));
        }
        Ok(url.to_owned())
    };
    let main_img = image("product_base.main_img", base.get("main_img"))?;
    let mut images = Vec::new();
    for (i, v) in
        base.get("img").and_then(Value::as_array).ok_or_else(|| bad("product_base.img is required"))?.iter().enumerate()
    {
        images.push(image(&format!("product_base.img[{i}]"), Some(v))?);
    }
    let detail = base.get("detail").and_then(Value::as_array).ok_or_else(|| bad("product_base.detail is required"))?;
    for (i, d) in detail.iter().enumerate() {
        match (d.get("text"), d.get("img")) {
            (Some(Value::String(_)), None) => {}
            (None, Some(img)) => {
                image(&format!("product_base.detail[{i}].img"), Some(img))?;
            }
            _ => return Err(bad(format!("product_base.detail[{i}] is {{\"text\"}} or {{\"img\"}}"))),
        }
    }
    let mut properties = Vec::new();
    for (i, p) in base.get("property").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let (id, vid) = (id_text(p.get("id")), id_text(p.get("vid")));
        let found = cat.properties.iter().find(|x| Some(&x.id) == id.as_ref());
        match (found, vid) {
            (Some(prop), Some(vid)) if prop.property_value.iter().any(|v| v.id == vid) => {
                properties.push((prop.id.clone(), vid));
            }
            _ => {
                return Err(bad(format!(
                    "product_base.property[{i}] is not a property of category {category_id} (see category/getproperty)"
                )))
            }
        }
    }
    // The SKU dimensions: table ids of the category or custom `$…`.
    let mut dims: Vec<(String, Vec<String>)> = Vec::new();
    for (i, s) in base.get("sku_info").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let id = id_text(s.get("id")).ok_or_else(|| bad(format!("product_base.sku_info[{i}].id is required")))?;
        let attr = cat.sku_table.iter().find(|a| a.id == id);
        if attr.is_none() && !id.starts_with('$') {
            return Err(bad(format!(
                "product_base.sku_info[{i}].id {id} is not in category {category_id}'s SKU table (see category/getsku)"
            )));
        }
        let mut vids = Vec::new();
        for v in s.get("vid").and_then(Value::as_array).into_iter().flatten() {
            let vid =
                id_text(Some(v)).ok_or_else(|| bad(format!("product_base.sku_info[{i}].vid holds an empty id")))?;
            let known = attr.is_some_and(|a| a.value_list.iter().any(|x| x.id == vid));
            if !known && !vid.starts_with('$') {
                return Err(bad(format!("product_base.sku_info[{i}].vid {vid} is not a value of {id}")));
            }
            vids.push(vid);
        }
        if vids.is_empty() {
            return Err(bad(format!("product_base.sku_info[{i}].vid is required")));
        }
        if dims.iter().any(|(d, _)| *d == id) {
            return Err(bad(format!("product_base.sku_info[{i}].id {id} is listed twice")));
        }
        dims.push((id, vids));
    }
    let buy_limit = match base.get("buy_limit") {
        None | Some(Value::Null) => 0,
        v => int(v).filter(|n| *n >= 0).ok_or_else(|| bad("product_base.buy_limit is a whole number ≥ 0"))?,
    };
    let list = body
        .get("sku_list")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| bad("sku_list is required"))?;
    let mut skus = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, s) in list.iter().enumerate() {
        let sku_id = s.get("sku_id").and_then(Value::as_str).unwrap_or_default().to_owned();
        check_sku_id(&sku_id, &dims).map_err(|m| bad(format!("sku_list[{i}].sku_id {sku_id:?}: {m}")))?;
        if !seen.insert(sku_id.clone()) {
            return Err(bad(format!("sku_list[{i}].sku_id {sku_id:?} is listed twice")));
        }
        let price = int(s.get("price"))
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(format!("sku_list[{i}].price is a positive number of fen")))?;
        let ori_price = int(s.get("ori_price"))
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(format!("sku_list[{i}].ori_price is a positive number of fen")))?;
        if price >= ori_price {
            return Err(bad(format!("sku_list[{i}].price must be below ori_price")));
        }
        let quantity = int(s.get("quantity"))
            .filter(|q| *q >= 0)
            .ok_or_else(|| bad(format!("sku_list[{i}].quantity is a whole number ≥ 0")))?;
        let icon_url = match s.get("icon_url") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(u)) if u.is_empty() => String::new(),
            v => image(&format!("sku_list[{i}].icon_url"), v)?,
        };
        let product_code = s.get("product_code").and_then(Value::as_str).unwrap_or_default().to_owned();
        skus.push(Sku { sku_id, price, ori_price, quantity, icon_url, product_code });
    }
    let attrext = body.get("attrext");
    let post_free = attrext.and_then(|a| int(a.get("isPostFree"))) == Some(1);
    for flag in ["isPostFree", "isHasReceipt", "isUnderGuaranty", "isSupportReplace"] {
        if let Some(v) = attrext.and_then(|a| a.get(flag)) {
            if !matches!(int(Some(v)), Some(0 | 1)) && !v.is_boolean() {
                return Err(bad(format!("attrext.{flag} is 0 or 1")));
            }
        }
    }
    let delivery = match body.get("delivery_info") {
        None | Some(Value::Null) if post_free => Delivery::Free,
        None | Some(Value::Null) => return Err(bad("delivery_info is required unless attrext.isPostFree is 1")),
        Some(d) => match int(d.get("delivery_type")) {
            Some(0) => {
                let express = d.get("express").and_then(Value::as_array).filter(|e| !e.is_empty());
                let express = express.ok_or_else(|| bad("delivery_info.express is required with delivery_type 0"))?;
                let mut out = Vec::new();
                for (i, e) in express.iter().enumerate() {
                    let id = int(e.get("id")).filter(|id| EXPRESS_IDS.contains(id));
                    let id = id.ok_or_else(|| {
                        bad(format!("delivery_info.express[{i}].id is 10000027, 10000028 or 10000029"))
                    })?;
                    let price = int(e.get("price"))
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| bad(format!("delivery_info.express[{i}].price is fen ≥ 0")))?;
                    out.push((id, price));
                }
                Delivery::Express(out)
            }
            Some(1) => Delivery::Template(
                int(d.get("template_id"))
                    .filter(|t| *t > 0)
                    .ok_or_else(|| bad("delivery_info.template_id is required with delivery_type 1"))?,
            ),
            _ => return Err(bad("delivery_info.delivery_type is 0 (express list) or 1 (template)")),
        },
    };
    Ok(Product { name: name.to_owned(), category_id, properties, main_img, images, buy_limit, skus, delivery })
}

/// `sku_id` is `""` for a single-spec product, else `id:vid;…` with one
/// pair per `sku_info` entry, in any order.
fn check_sku_id(sku_id: &str, dims: &[(String, Vec<String>)]) -> Result<(), String> {
    if dims.is_empty() {
        return if sku_id.is_empty() { Ok(()) } else { Err("must be \"\" for a product without sku_info".into()) };
    }
    let pairs: Vec<&str> = sku_id.split(';').collect();
    if pairs.len() != dims.len() {
        return Err(format!("needs {} id:vid pairs, one per sku_info entry", dims.len()));
    }
    let mut used = BTreeSet::new();
    for pair in pairs {
        let (id, vid) = pair.split_once(':').ok_or_else(|| format!("{pair:?} is not id:vid"))?;
        let dim = dims.iter().find(|(d, _)| d == id).ok_or_else(|| format!("{id} is not in sku_info"))?;
        if !dim.1.iter().any(|v| v == vid) {
            return Err(format!("{vid} is not a value sku_info lists for {id}"));
        }
        if !used.insert(id) {
            return Err(format!("{id} appears twice"));
        }
    }
    Ok(())
}

/// The display name of a property value (for `get` replies).
pub fn property_names(category_id: &str, id: &str, vid: &str) -> (String, String) {
    let prop = category(category_id).and_then(|c| c.properties.iter().find(|p| p.id == id));
    let value = prop.and_then(|p| p.property_value.iter().find(|v| v.id == vid));
    (prop.map_or_else(|| id.to_owned(), |p| p.name.clone()), value.map_or_else(|| vid.to_owned(), |v| v.name.clone()))
}

/// Checks an express template (`{"Name", "Assumer", "Valuation", "TopFee"}`).
pub fn validate_template(t: &Value) -> Result<(), ShopError> {
    let name = t.get("Name").and_then(Value::as_str).unwrap_or_default();
    if name.trim().is_empty() {
        return Err(bad("delivery_template.Name is required"));
    }
    if !matches!(int(t.get("Assumer")), Some(0 | 1)) {
        return Err(bad("delivery_template.Assumer is 0 (buyer pays) or 1 (seller pays)"));
    }
    if int(t.get("Valuation")) != Some(0) {
        return Err(bad("delivery_template.Valuation: only 0 (per item) is supported"));
    }
    let fees = t
        .get("TopFee")
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| bad("delivery_template.TopFee is required"))?;
    for (i, f) in fees.iter().enumerate() {
        if !int(f.get("Type")).is_some_and(|id| EXPRESS_IDS.contains(&id)) {
            return Err(bad(format!("delivery_template.TopFee[{i}].Type is 10000027, 10000028 or 10000029")));
        }
        let normal = f.get("Normal").ok_or_else(|| bad(format!("delivery_template.TopFee[{i}].Normal is required")))?;
        for k in ["StartStandards", "StartFees", "AddStandards", "AddFees"] {
            if int(normal.get(k)).is_none_or(|n| n < 0) {
                return Err(bad(format!("delivery_template.TopFee[{i}].Normal.{k} is a whole number ≥ 0")));
            }
        }
    }
    Ok(())
}

/// The postage of `count` items under an express template's first fee
/// (fen): the first StartStandards items cost StartFees, each further
/// AddStandards items AddFees. A seller-paid template costs the buyer 0.
pub fn template_postage(t: &Value, count: i64) -> i64 {
    if int(t.get("Assumer")) == Some(1) {
        return 0;
    }
    let Some(n) = t.get("TopFee").and_then(Value::as_array).and_then(|f| f.first()).and_then(|f| f.get("Normal"))
    else {
        return 0;
    };
    let get = |k: &str| int(n.get(k)).unwrap_or(0).max(0);
    let (start, start_fee, add, add_fee) =
        (get("StartStandards").max(1), get("StartFees"), get("AddStandards").max(1), get("AddFees"));
    if count <= start {
        start_fee
    } else {
        start_fee + (count - start + add - 1) / add * add_fee
    }
}

/// Checks shelf data: controls 1–4 combine; 5 stands alone; each names
/// groups (checked by the caller) and images (`issued`).
pub fn shelf_groups(data: &Value, banner: &str, issued: &dyn Fn(&str) -> bool) -> Result<Vec<i64>, ShopError> {
    let modules = data.get("module_infos").and_then(Value::as_array).filter(|m| !m.is_empty());
    let modules = modules.ok_or_else(|| bad("shelf_data.module_infos is required"))?;
    let mut groups = Vec::new();
    let eids: Vec<i64> = modules.iter().map(|m| int(m.get("eid")).unwrap_or(0)).collect();
    if eids.contains(&5) && eids.len() > 1 {
        return Err(bad("shelf control 5 cannot be combined with other controls"));
    }
    let img = |field: String, v: Option<&Value>| {
        let url = v.and_then(Value::as_str).unwrap_or_default();
        if issued(url) {
            Ok(())
        } else {
            Err(bad(format!("{field} must be an image URL returned by common/upload_img")))
        }
    };
    for (i, (m, eid)) in modules.iter().zip(&eids).enumerate() {
        match eid {
            1 | 3 => {
                let g = m.get("group_info").ok_or_else(|| bad(format!("module_infos[{i}].group_info is required")))?;
                groups.push(
                    int(g.get("group_id"))
                        .ok_or_else(|| bad(format!("module_infos[{i}].group_info.group_id is required")))?,
                );
                if *eid == 3 {
                    img(format!("module_infos[{i}].group_info.img"), g.get("img"))?;
                }
            }
            2 | 4 | 5 => {
                let list = m.get("group_infos").and_then(|g| g.get("groups")).and_then(Value::as_array);
                let list = list
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| bad(format!("module_infos[{i}].group_infos.groups is required")))?;
                let max = match eid {
                    2 => 4,
                    4 => 3,
                    _ => usize::MAX,
                };
                if list.len() > max {
                    return Err(bad(format!("module_infos[{i}]: control {eid} shows at most {max} groups")));
                }
                for (j, g) in list.iter().enumerate() {
                    groups.push(int(g.get("group_id")).ok_or_else(|| {
                        bad(format!("module_infos[{i}].group_infos.groups[{j}].group_id is required"))
                    })?);
                    if *eid == 4 {
                        img(format!("module_infos[{i}].group_infos.groups[{j}].img"), g.get("img"))?;
                    }
                }
                if *eid == 5 {
                    img(
                        format!("module_infos[{i}].group_infos.img_background"),
                        m.get("group_infos").and_then(|g| g.get("img_background")),
                    )?;
                }
            }
            other => return Err(bad(format!("module_infos[{i}].eid {other} is not a shelf control (1 to 5)"))),
        }
    }
    if !banner.is_empty() && !issued(banner) {
        return Err(bad("shelf_banner must be an image URL returned by common/upload_img"));
    }
    Ok(groups)
}

/// The delivery companies `setdelivery` accepts (unless `is_others`).
pub const DELIVERY_COMPANIES: [&str; 10] = [
    "Fsearch_code",
    "002shentong",
    "066zhongtong",
    "056yuantong",
    "042tiantian",
    "003shunfeng",
    "059Yunda",
    "064zhaijisong",
    "020huitong",
    "zj001yixun",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_status_codes_read_back() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::try_from(s.code()).ok(), Some(s));
        }
        assert!(OrderStatus::try_from(4).is_err());
    }
    use serde_json::json;

    fn product() -> Value {
        json!({"product_base": {"category_id": ["537074299"], "name": "Tee",
            "property": [{"id": "1075741879", "vid": "1079749967"}],
            "sku_info": [{"id": "1075741873", "vid": ["1079742386", "1079742363"]}],
            "main_img": "http://h/i/1", "img": ["http://h/i/1"], "detail": [{"text": "soft"}, {"img": "http://h/i/1"}], "buy_limit": 3},
            "sku_list": [{"sku_id": "1075741873:1079742386", "price": 30, "ori_price": 90, "quantity": 8},
                         {"sku_id": "1075741873:1079742363", "price": 30, "ori_price": 90, "quantity": 2}],
            "attrext": {"isPostFree": 0},
            "delivery_info": {"delivery_type": 0, "express": [{"id": 10000027, "price": 100}]}})
    }

    fn issued(u: &str) -> bool {
        u.starts_with("http://h/i/")
    }

    #[test]
    fn the_tree_loads_with_leaves_under_the_root() {
        assert!(!children(ROOT).is_empty());
        assert!(is_leaf("537074299") && !is_leaf("537074298") && !is_leaf("nope"));
    }

    #[test]
    fn a_good_product_passes_and_each_violation_is_named() {
        let p = validate_product(&product(), &issued).unwrap();
        assert_eq!(p.skus.len(), 2);
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/sku_list/0/price", json!(90), "below ori_price"),
            ("/product_base/main_img", json!("http://elsewhere/x.png"), "upload_img"),
            ("/product_base/category_id", json!(["537074298"]), "lowest level"),
            ("/sku_list/0/sku_id", json!("1075741873:1079742386;1075741874:1079742401"), "pairs"),
            ("/product_base/property/0/vid", json!("1"), "property"),
            ("/delivery_info/delivery_type", json!(7), "delivery_type"),
            ("/product_base/name", json!(""), "name"),
        ];
        for (path, value, expect) in cases {
            let mut body = product();
            if let Some(slot) = body.pointer_mut(path) {
                *slot = value;
            }
            let e = validate_product(&body, &issued).err().unwrap_or_else(|| panic!("{path} accepted"));
            assert!(e.0.contains(expect), "{path}: {e}");
        }
    }

    #[test]
    fn postage_counts_items() {
        let t = json!({"Name": "T", "Assumer": 0, "Valuation": 0, "TopFee": [{"Type": 10000027,
            "Normal": {"StartStandards": 1, "StartFees": 600, "AddStandards": 2, "AddFees": 300}}]});
        assert!(validate_template(&t).is_ok());
        assert_eq!(template_postage(&t, 1), 600);
        assert_eq!(template_postage(&t, 3), 900);
        assert_eq!(template_postage(&t, 4), 1200);
    }
}
