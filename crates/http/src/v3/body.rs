//! Reading a request's body and URI, and writing a plain answer, the way
//! every `/v3` handler (and the sandbox) does: the body as JSON with unique
//! keys and no NUL (a `PARAM_ERROR` naming the field or path at fault),
//! typed into a request struct, its required fields, a URI no database
//! column would refuse, a 200 with a JSON value, and the digest of a
//! request's parameters that tells a re-submission from a conflict.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use koudai_domain::{ids, FieldError};
use koudai_protocol::{crypto, ErrorCode};

use super::error::V3Error;
use crate::hygiene;

/// Largest request body of the `/v3` surface.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads `body` as JSON `T`, naming the path of the field at fault.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, V3Error> {
    typed(&json_value(body)?)
}

/// Reads `body` as a JSON value; `PARAM_ERROR` if it is not JSON.
pub fn json_value(body: &[u8]) -> Result<serde_json::Value, V3Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = match serde_path_to_error::deserialize::<_, hygiene::UniqueKeys>(&mut de) {
        Ok(hygiene::UniqueKeys(v)) => v,
        Err(e) => {
            let message = e.inner().to_string();
            return Err(match message.split_once(hygiene::DUPLICATE_KEY) {
                Some((_, rest)) => {
                    let key = rest.split(" at line").next().unwrap_or(rest);
                    let parent = e.path().to_string();
                    let field = if parent == "." { key.to_owned() } else { format!("{parent}.{key}") };
                    V3Error::body_field(FieldError::new(&field, format!("字段{field}重复出现")))
                }
                None => V3Error::not_json(e.inner()),
            });
        }
    };
    de.end().map_err(V3Error::not_json)?;
    hygiene::check_json(&value).map_err(|field| {
        V3Error::body_field(FieldError::new(&field, format!("字段{field}含有不允许的字符（U+0000）")))
    })?;
    Ok(value)
}

/// Refuses a request whose path or query holds a character no database
/// column may hold: the path's resource cannot exist (404), a query
/// parameter is a `PARAM_ERROR`.
pub fn clean_uri(uri: &axum::http::Uri) -> Result<(), V3Error> {
    match hygiene::check_uri(uri) {
        Ok(()) => Ok(()),
        Err(hygiene::BadUri::Path) => Err(V3Error::new(ErrorCode::NotFound)),
        Err(hygiene::BadUri::Query) => {
            Err(V3Error::message(ErrorCode::ParamError, "查询参数含有不允许的字符（U+0000）")
                .detail(json!({"location": "query"})))
        }
    }
}

/// Reads a JSON value as `T`. Fields are `Option`s in the request types, so
/// a missing field is reported by the handler by name; what fails here is a
/// field of the wrong type, named by its path (`amount.total`).
pub fn typed<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, V3Error> {
    if !value.is_object() {
        return Err(V3Error::body_field(FieldError::new("", "请求体必须是JSON对象")));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        V3Error::body_field(FieldError::new(&path, format!("字段{path}类型错误：{}", e.inner())))
    })
}

/// A required field: present and not null.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, V3Error> {
    value.ok_or_else(|| V3Error::body_field(FieldError::missing(field)))
}

/// A required text field: present, not null and not empty (`""` counts as
/// missing, as it does for WeChat).
pub fn required_text(value: Option<String>, field: &str) -> Result<String, V3Error> {
    required(value.filter(|s| !s.is_empty()), field)
}

/// A 200 with `value` as JSON.
pub fn ok<T: serde::Serialize>(value: &T) -> Result<Response, V3Error> {
    let body = serde_json::to_vec(value).map_err(|e| V3Error::bug(format!("serialising the response: {e}")))?;
    Ok((StatusCode::OK, body).into_response())
}

/// Same parameters (and endpoint) → same digest; that is what
/// "re-submitting the same order" means. `Value`'s `Display` writes object
/// keys sorted (serde_json without `preserve_order`; a test pins it), so
/// the digest does not depend on the client's key order.
pub fn params_digest(endpoint: &str, value: &serde_json::Value) -> String {
    let mut text = String::with_capacity(endpoint.len() + 256);
    if !endpoint.is_empty() {
        text.push_str(endpoint);
        text.push('\n');
    }
    text.push_str(&value.to_string());
    ids::upper_hex(&crypto::sha256(text.as_bytes()))
}
