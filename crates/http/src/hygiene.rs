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
        let ok = |s: &str| check_uri(&s.parse::<Uri>().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(ok("/v3/pay/transactions/out-trade-no/T1?mchid=1"), Ok(()));
        assert_eq!(ok("/v3/pay/transactions/out-trade-no/T%001?mchid=1"), Err(BadUri::Path));
        assert_eq!(ok("/pay/native?pr=%00"), Err(BadUri::Query));
        assert_eq!(ok("/pay/native?pr%00=x"), Err(BadUri::Query));
        assert_eq!(check_json(&json!({"a": {"b": ["x", "y\u{0}"]}})), Err("a.b[1]".to_owned()));
        assert_eq!(check_json(&json!({"k\u{0}": 1})), Err("k\u{0}".to_owned()));
        assert_eq!(check_json(&json!({"amount": {"total": 1}, "d": "中文"})), Ok(()));
        assert!(any_forbidden(["ok", "n\u{0}"]));
        assert!(!any_forbidden(["ok"]));
    }
}
