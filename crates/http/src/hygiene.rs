//! Input the databases cannot store is refused at the edge, on every
//! surface, before any SQL: PostgreSQL rejects U+0000 in text (SQLite takes
//! it), so without this the same request would be a 4xx on one engine and a
//! 500 on the other. Each surface words the refusal in its own shape.

use axum::http::Uri;
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// Characters no text column may hold.
fn forbidden(c: char) -> bool {
    c == '\u{0}'
}

/// Where a URI carries a forbidden character, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadUri {
    /// In the path (an id in it): the resource cannot exist.
    Path,
    /// In the query string.
    Query,
}

/// Checks the percent-decoded path and query of `uri`.
pub fn check_uri(uri: &Uri) -> Result<(), BadUri> {
    let decoded_has = |s: &str| percent_decode_str(s).decode_utf8_lossy().chars().any(forbidden);
    if decoded_has(uri.path()) {
        return Err(BadUri::Path);
    }
    if uri
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k.chars().chain(v.chars()).any(forbidden)))
    {
        return Err(BadUri::Query);
    }
    Ok(())
}

/// The dotted path (`amount.from[0].account`) of the first string or key
/// in `value` that holds a forbidden character.
pub fn check_json(value: &Value) -> Result<(), String> {
    fn walk(value: &Value, path: &mut String) -> Result<(), String> {
        match value {
            Value::String(s) if s.chars().any(forbidden) => Err(path.clone()),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    if k.chars().any(forbidden) {
                        return Err(path.clone());
                    }
                    walk(v, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(value, &mut String::new())
}

/// A JSON value read with every object key at most once. serde_json keeps
/// the last of duplicate keys silently; two clients (or a client and a
/// proxy) could then read one body two ways, so a duplicate is refused.
pub struct UniqueKeys(pub Value);

/// The message of a duplicate-key error; the surface words it.
pub const DUPLICATE_KEY: &str = "duplicate key ";

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<UniqueKeys, D::Error> {
        d.deserialize_any(UniqueVisitor).map(UniqueKeys)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d).map(|UniqueKeys(v)| v)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("{DUPLICATE_KEY}{key}")));
            }
            let UniqueKeys(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Whether any of `fields` holds a forbidden character (forms).
pub fn any_forbidden<'a>(fields: impl IntoIterator<Item = &'a str>) -> bool {
    fields.into_iter().any(|f| f.chars().any(forbidden))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_found_where_it_is() {
        let ok = |s: &str| check_uri(&s.parse::<Uri>().unwrap());
        assert_eq!(ok("/v3/pay/transactions/out-trade-no/T1?mchid=1"), Ok(()));
        assert_eq!(ok("/v3/pay/transactions/out-trade-no/T%001?mchid=1"), Err(BadUri::Path));
        assert_eq!(ok("/pay/native?pr=%00"), Err(BadUri::Query));
        assert_eq!(ok("/pay/native?pr%00=x"), Err(BadUri::Query));
        assert_eq!(check_json(&json!({"a": {"b": ["x", "y\u{0}"]}})), Err("a.b[1]".to_owned()));
        assert_eq!(check_json(&json!({"k\u{0}": 1})), Err("k\u{0}".to_owned()));
        assert_eq!(check_json(&json!({"amount": {"total": 1}, "d": "中文"})), Ok(()));
        assert!(any_forbidden(["ok", "n\u{0}"]));
        let parse = |s: &str| serde_json::from_str::<UniqueKeys>(s).map(|u| u.0).map_err(|e| e.to_string());
        assert_eq!(parse(r#"{"a":1,"b":[{"c":null}]}"#), Ok(json!({"a":1,"b":[{"c":null}]})));
        assert!(parse(r#"{"a":1,"a":2}"#).is_err_and(|e| e.contains("duplicate key a")));
        assert!(parse(r#"{"x":{"t":1,"t":1}}"#).is_err());
        assert!(!any_forbidden(["ok"]));
    }
}
