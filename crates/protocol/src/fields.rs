//! Reading request bodies field by field, so that every `PARAM_ERROR` names
//! the field at fault (`detail.field`) instead of quoting a parser.

use serde_json::{Map, Value};

use koudai_domain::FieldError;

/// A JSON object with a path prefix for error messages.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    /// The top-level object of a body.
    pub fn root(value: &'a Value) -> Result<Fields<'a>, FieldError> {
        match value {
            Value::Object(obj) => Ok(Fields { obj, prefix: String::new() }),
            _ => Err(FieldError::new("", "请求体必须是JSON对象")),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    pub fn str_opt(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(FieldError::new(&self.path(name), format!("字段{}类型错误，应为字符串", self.path(name)))),
        }
    }

    pub fn str_req(&self, name: &str) -> Result<&'a str, FieldError> {
        match self.str_opt(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(FieldError::missing(&self.path(name))),
        }
    }

    pub fn i64_req(&self, name: &str) -> Result<i64, FieldError> {
        match self.get(name) {
            None => Err(FieldError::missing(&self.path(name))),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| FieldError::new(&self.path(name), format!("字段{}必须是整数", self.path(name)))),
            Some(_) => Err(FieldError::new(&self.path(name), format!("字段{}类型错误，应为整数", self.path(name)))),
        }
    }

    pub fn bool_opt(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(FieldError::new(&self.path(name), format!("字段{}类型错误，应为布尔值", self.path(name)))),
        }
    }

    pub fn obj_opt(&self, name: &str) -> Result<Option<Fields<'a>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(obj)) => Ok(Some(Fields { obj, prefix: format!("{}.", self.path(name)) })),
            Some(_) => Err(FieldError::new(&self.path(name), format!("字段{}类型错误，应为对象", self.path(name)))),
        }
    }

    pub fn obj_req(&self, name: &str) -> Result<Fields<'a>, FieldError> {
        self.obj_opt(name)?.ok_or_else(|| FieldError::missing(&self.path(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_nested_field() {
        let v = json!({"amount": {"total": "1"}, "description": 5, "n": null});
        let f = Fields::root(&v).unwrap_or_else(|e| panic!("{}", e.message));
        let amount = f.obj_req("amount").unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(amount.i64_req("total").map_err(|e| e.field), Err("amount.total".to_owned()));
        assert_eq!(f.str_req("description").map_err(|e| e.field), Err("description".to_owned()));
        assert_eq!(f.str_req("n").map_err(|e| e.field), Err("n".to_owned()));
        assert_eq!(f.str_opt("absent").ok(), Some(None));
        assert!(Fields::root(&json!([1])).is_err());
    }
}
