//! Stores (POI, shop notes §5): the category list (data), the checks a
//! store's `base_info` must pass with the errcode the official table gives
//! each violation (§5.4), and the fields an update may change.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct CategoryFile {
    categories: Vec<String>,
}

/// The store categories there are.
pub fn categories() -> &'static [String] {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        // Compiled in and read by a unit test: a broken file fails the tests.
        serde_json::from_str::<CategoryFile>(include_str!("../data/poi-categories.json"))
            .map(|f| f.categories)
            .unwrap_or_default()
    })
}

/// `available_state`.
pub mod state {
    pub const UNDER_AUDIT: i64 = 2;
    pub const APPROVED: i64 = 3;
    pub const REJECTED: i64 = 4;
}

/// A violation and its errcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{errcode}: {message}")]
pub struct PoiError {
    pub errcode: i64,
    pub message: String,
}

fn err(errcode: i64, message: impl Into<String>) -> PoiError {
    PoiError { errcode, message: message.into() }
}

/// The fields an approved store may change (§5.3).
pub const UPDATABLE: [&str; 8] =
    ["telephone", "photo_list", "recommend", "special", "introduction", "open_time", "avg_price", "sid"];

fn text<'a>(b: &'a Map<String, Value>, k: &str) -> &'a str {
    b.get(k).and_then(Value::as_str).map(str::trim).unwrap_or_default()
}

fn check_telephone(t: &str) -> Result<(), PoiError> {
    if t.is_empty()
        || t.len() > 32
        || !t.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        || !t.bytes().any(|b| b.is_ascii_digit())
    {
        return Err(err(65111, "invalid telephone"));
    }
    Ok(())
}

fn check_photos(b: &Map<String, Value>, issued: &dyn Fn(&str) -> bool) -> Result<(), PoiError> {
    let list = b.get("photo_list").and_then(Value::as_array).filter(|l| !l.is_empty());
    let list = list.ok_or_else(|| err(65114, "empty photo list"))?;
    for p in list {
        let url = p.get("photo_url").and_then(Value::as_str).unwrap_or_default();
        if !issued(url) {
            return Err(err(65105, "invalid photo url"));
        }
    }
    Ok(())
}

fn check_open_time(t: &str) -> Result<(), PoiError> {
    let ok = t.split_once('-').is_some_and(|(a, b)| {
        let hm = |s: &str| {
            s.split_once(':').is_some_and(|(h, m)| {
                h.parse::<u8>().is_ok_and(|h| h <= 24) && m.len() == 2 && m.parse::<u8>().is_ok_and(|m| m < 60)
            })
        };
        hm(a) && hm(b)
    });
    if ok {
        Ok(())
    } else {
        Err(err(40097, "invalid args hint: [open_time is like 8:00-20:00]"))
    }
}

fn check_optional(b: &Map<String, Value>) -> Result<(), PoiError> {
    if let Some(p) = b.get("avg_price") {
        if !p.is_null() && p.as_i64().is_none_or(|n| n <= 0) {
            return Err(err(40097, "invalid args hint: [avg_price is a positive integer]"));
        }
    }
    for k in ["recommend", "special", "introduction", "sid"] {
        if let Some(v) = b.get(k) {
            if !v.is_null() && v.as_str().is_none_or(|s| s.chars().count() > 300) {
                return Err(err(40097, format!("invalid args hint: [{k} is text of at most 300 characters]")));
            }
        }
    }
    Ok(())
}

/// Checks a new store's `base_info`; `issued` says whether a photo URL came
/// from this account's `media/uploadimg`.
pub fn validate_new(b: &Map<String, Value>, issued: &dyn Fn(&str) -> bool) -> Result<(), PoiError> {
    if text(b, "business_name").is_empty() || text(b, "business_name").chars().count() > 30 {
        return Err(err(65109, "invalid business"));
    }
    if text(b, "branch_name").chars().count() > 30 {
        return Err(err(65109, "invalid business"));
    }
    if text(b, "province").is_empty() {
        return Err(err(65113, "invalid province"));
    }
    if text(b, "city").is_empty() {
        return Err(err(65112, "invalid city"));
    }
    if text(b, "address").is_empty() || text(b, "address").chars().count() > 100 {
        return Err(err(65110, "invalid address"));
    }
    check_telephone(text(b, "telephone"))?;
    let cats = b.get("categories").and_then(Value::as_array).filter(|c| !c.is_empty());
    let cats = cats.ok_or_else(|| err(65104, "invalid category"))?;
    if !cats.iter().all(|c| c.as_str().is_some_and(|c| categories().iter().any(|k| k == c))) {
        return Err(err(65104, "invalid category"));
    }
    match b.get("offset_type").and_then(Value::as_i64) {
        Some(1) => {}
        _ => return Err(err(40097, "invalid args hint: [offset_type must be 1 (GCJ-02)]")),
    }
    let coord = |k: &str, max: f64| b.get(k).and_then(Value::as_f64).is_some_and(|v| v.abs() <= max);
    if !coord("longitude", 180.0) || !coord("latitude", 90.0) {
        return Err(err(40097, "invalid args hint: [longitude and latitude are numbers]"));
    }
    check_photos(b, issued)?;
    if text(b, "special").is_empty() {
        return Err(err(40097, "invalid args hint: [special is required]"));
    }
    check_open_time(text(b, "open_time"))?;
    check_optional(b)
}

/// Checks an update: only the updatable fields, each valid if present.
pub fn validate_update(b: &Map<String, Value>, issued: &dyn Fn(&str) -> bool) -> Result<Map<String, Value>, PoiError> {
    let mut changes = Map::new();
    for (k, v) in b {
        if k == "poi_id" {
            continue;
        }
        if !UPDATABLE.contains(&k.as_str()) {
            return Err(err(40097, format!("invalid args hint: [{k} cannot be updated]")));
        }
        changes.insert(k.clone(), v.clone());
    }
    if changes.is_empty() {
        return Err(err(40097, "invalid args hint: [nothing to update]"));
    }
    if let Some(t) = changes.get("telephone") {
        check_telephone(t.as_str().unwrap_or_default())?;
    }
    if changes.contains_key("photo_list") {
        check_photos(&changes, issued)?;
    }
    if let Some(t) = changes.get("open_time") {
        check_open_time(t.as_str().unwrap_or_default())?;
    }
    check_optional(&changes)?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Map<String, Value> {
        json!({"sid": "s1", "business_name": "Koudai Tea", "branch_name": "Tianhe", "province": "广东省", "city": "广州市",
               "district": "天河区", "address": "1 Road", "telephone": "020-12345678", "categories": ["美食,茶馆,茶馆"],
               "offset_type": 1, "longitude": 113.3, "latitude": 23.1, "photo_list": [{"photo_url": "http://h/i/1"}],
               "special": "wifi", "open_time": "8:00-20:00", "avg_price": 35})
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn each_violation_has_its_errcode() {
        let issued = |u: &str| u.starts_with("http://h/i/");
        assert!(!categories().is_empty());
        assert_eq!(validate_new(&good(), &issued), Ok(()));
        let cases: Vec<(&str, Value, i64)> = vec![
            ("business_name", json!(""), 65109),
            ("address", json!(""), 65110),
            ("telephone", json!("call me"), 65111),
            ("city", json!(""), 65112),
            ("province", json!(""), 65113),
            ("photo_list", json!([]), 65114),
            ("photo_list", json!([{"photo_url": "http://x/y.jpg"}]), 65105),
            ("categories", json!(["美食,不存在"]), 65104),
            ("offset_type", json!(2), 40097),
            ("open_time", json!("all day"), 40097),
        ];
        for (k, v, code) in cases {
            let mut b = good();
            b.insert(k.into(), v);
            assert_eq!(validate_new(&b, &issued).map_err(|e| e.errcode), Err(code), "{k}");
        }
        let up = json!({"poi_id": "1", "business_name": "New"}).as_object().cloned().unwrap_or_default();
        assert_eq!(validate_update(&up, &issued).map_err(|e| e.errcode), Err(40097));
    }
}
