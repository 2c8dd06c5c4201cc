//! Tolerant reading of Atlassian JSON (CONTRACT.md §9.1): unexpected types are skipped, never
//! an error; ids are printed the way the original printed them so `event_id`s keep matching.

use serde_json::Value;

use crate::time::parse_iso;

/// `v[key]`, or `Null` when `v` is not an object or lacks the key.
pub fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

/// A non-empty string at `v[key]`.
pub fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key).as_str().filter(|s| !s.is_empty())
}

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `str(value)` as Python prints scalars (`None` for null), used inside `event_id`s.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `str(value or fallback)`.
pub fn py_str_or(v: &Value, fallback: &str) -> String {
    if truthy(v) {
        py_str(v)
    } else {
        fallback.to_string()
    }
}

/// Epoch seconds of a time string (`+0900` offsets, milliseconds); `None` when missing or not
/// a readable string.
pub fn time(v: &Value) -> Option<i64> {
    v.as_str().and_then(parse_iso)
}

/// As [`time`], in milliseconds (for equality of two times).
pub fn time_ms(v: &Value) -> Option<i64> {
    v.as_str().and_then(crate::time::parse_iso_ms)
}

/// The list at `v[key]`, empty when it is not a list.
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    get(v, key).as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// `accountId` of a user object.
pub fn account_id(user: &Value) -> Option<&str> {
    text(user, "accountId")
}

/// Who the connector syncs as: `accountId` and `displayName` of `myself` / `user/current`.
#[derive(Debug, Clone)]
pub struct Me {
    pub id: Option<String>,
    pub name: String,
}

impl Me {
    /// From the answer of `myself`; the name falls back to the account e-mail.
    pub fn from_answer(answer: &Value, email: &str) -> Me {
        Me {
            id: account_id(answer).map(String::from),
            name: text(answer, "displayName").unwrap_or(email).to_string(),
        }
    }

    /// True when `user` is me.
    pub fn is(&self, user: &Value) -> bool {
        self.id.is_some() && account_id(user) == self.id.as_deref()
    }

    /// `user.displayName`, else my name.
    pub fn name_of(&self, user: &Value) -> String {
        text(user, "displayName").unwrap_or(&self.name).to_string()
    }
}
