//! Input validation shared by both adapters, producing Pydantic-v2-shaped 422 items
//! (CONTRACT.md §3.6). JS values and HTTP query strings go through the same checks, so the two
//! surfaces answer the same errors with the same `loc`.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// The message of a `string_type` item.
pub const STRING_TYPE: &str = "Input should be a valid string";

/// Where an input comes from; the first element of every `loc` (none for [`Source::Arguments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Body,
    Query,
    Path,
    Options,
    /// The positional arguments of a job context call (`ctx.progress`, `ctx.log`): a `loc` is
    /// the argument's name alone, and the first error fails the call by itself.
    Arguments,
}

impl Source {
    fn prefix(self) -> Option<&'static str> {
        match self {
            Source::Body => Some("body"),
            Source::Query => Some("query"),
            Source::Path => Some("path"),
            Source::Options => Some("options"),
            Source::Arguments => None,
        }
    }
}

/// Key of the marker object by which the JS layer sends a value that JSON cannot carry (`NaN`,
/// `±Infinity`, a Symbol, a function, a BigInt, an Invalid Date): `{"\u0000enttok:not-json":
/// "NaN"}`. `JSON.stringify` alone would make such a value `null` or drop it, so a bad value
/// would pass as "absent"; as a marker it fails the check of the field it sits in, which names
/// the field (CONTRACT.md §1.2). No HTTP client sends it by accident: the key starts with NUL.
pub const NOT_JSON: &str = "\u{0}enttok:not-json";

/// The label of a [`NOT_JSON`] marker (`"NaN"`, `"Symbol(x)"`, …); `None` for other values.
pub fn not_json(value: &Value) -> Option<&str> {
    match value {
        Value::Object(m) if m.len() == 1 => m.get(NOT_JSON)?.as_str(),
        _ => None,
    }
}

/// The first [`NOT_JSON`] marker inside `value`, with `path` extended to its place.
fn find_not_json<'v>(value: &'v Value, path: &mut Vec<Value>) -> Option<&'v str> {
    if let Some(label) = not_json(value) {
        return Some(label);
    }
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            path.push(json!(k));
            let found = find_not_json(v, path);
            if found.is_none() {
                path.pop();
            }
            found
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            path.push(json!(i));
            let found = find_not_json(v, path);
            if found.is_none() {
                path.pop();
            }
            found
        }),
        _ => None,
    }
}

/// Fails when a free-form value (a payload, a `meta` object) holds a value JSON cannot carry,
/// naming its place under `loc`.
pub fn reject_not_json(loc: &[Value], value: &Value) -> Result<()> {
    let mut path = loc.to_vec();
    match find_not_json(value, &mut path) {
        Some(label) => Err(Error::invalid(not_json_item(&path, label))),
        None => Ok(()),
    }
}

fn not_json_item(loc: &[Value], label: &str) -> Value {
    item(
        "value_error",
        loc,
        format!("Value error, {label} cannot be represented in JSON"),
        Value::String(label.into()),
        None,
    )
}

/// The error of JSON input nested deeper than serde_json parses (128 levels), or `None` when
/// `err` is another parse error.
pub fn too_deep(err: &serde_json::Error, loc: &[Value]) -> Option<Error> {
    err.to_string()
        .starts_with("recursion limit exceeded")
        .then(|| {
            Error::invalid(item(
                "value_error",
                loc,
                format!("Value error, nested too deeply (limit {MAX_DEPTH})"),
                Value::Null,
                None,
            ))
        })
}

/// Deepest nesting of JSON input the adapters accept: serde_json's own parser limit.
pub const MAX_DEPTH: usize = 128;

/// One 422 item. A [`NOT_JSON`] marker as `input` is shown as its label.
pub fn item(
    kind: &str,
    loc: &[Value],
    msg: impl Into<String>,
    input: Value,
    ctx: Option<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), Value::String(kind.into()));
    out.insert("loc".into(), Value::Array(loc.to_vec()));
    out.insert("msg".into(), Value::String(msg.into()));
    let input = match not_json(&input) {
        Some(label) => Value::String(label.into()),
        None => input,
    };
    out.insert("input".into(), input);
    if let Some(ctx) = ctx {
        out.insert("ctx".into(), ctx);
    }
    Value::Object(out)
}

/// An optional body of an enqueueing route: absent (`null`) is `{}`, anything but an object is
/// the 422 `dict_type` item at `["body"]`.
pub fn optional_body(input: &Value) -> Result<Value> {
    match input {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(input.clone()),
        other => Err(Error::invalid(item(
            "dict_type",
            &[json!("body")],
            "Input should be a valid dictionary",
            other.clone(),
            None,
        ))),
    }
}

/// The 422 item for a required body that is absent.
pub fn missing_body() -> Error {
    Error::invalid(item(
        "missing",
        &[json!("body")],
        "Field required",
        Value::Null,
        None,
    ))
}

/// Reads the fields of one object, collecting every error before failing.
pub struct Fields<'a> {
    source: Source,
    whole: &'a Value,
    map: Option<&'a Map<String, Value>>,
    errors: Vec<Value>,
}

/// Lax boolean words of Pydantic (`yes`, `off`, `t`, …).
pub fn parse_lax_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Lax integer: a JSON integer, an integral float, or a numeric string.
pub fn parse_lax_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9e15)
                .map(|x| x as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

impl<'a> Fields<'a> {
    /// Starts reading `value`, which must be an object (else `model_attributes_type` for a
    /// body, or `dict_type`).
    pub fn new(source: Source, value: &'a Value) -> Self {
        let mut errors = Vec::new();
        let map = match value {
            Value::Object(map) if not_json(value).is_none() => Some(map),
            Value::Null if source != Source::Body => None,
            other => {
                errors.push(item(
                    "model_attributes_type",
                    &source
                        .prefix()
                        .map(|p| json!(p))
                        .into_iter()
                        .collect::<Vec<_>>(),
                    "Input should be a valid dictionary or object to extract fields from",
                    other.clone(),
                    None,
                ));
                None
            }
        };
        Fields {
            source,
            whole: value,
            map,
            errors,
        }
    }

    fn loc(&self, key: &str) -> Vec<Value> {
        match self.source.prefix() {
            Some(prefix) => vec![json!(prefix), json!(key)],
            None => vec![json!(key)],
        }
    }

    /// The raw value of a key, `None` when absent (JSON `null` counts as present).
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key))
    }

    /// Records an error on `key`.
    pub fn error(
        &mut self,
        kind: &str,
        key: &str,
        msg: impl Into<String>,
        input: Value,
        ctx: Option<Value>,
    ) {
        let loc = self.loc(key);
        self.errors.push(item(kind, &loc, msg, input, ctx));
    }

    /// A required field is absent. A body that is not an object already has its one
    /// `model_attributes_type` item (Pydantic reports nothing else then); a missing query or
    /// path parameter's `input` is `null`, a missing body field's is the whole body.
    fn missing(&mut self, key: &str) {
        if self.map.is_none() && !self.whole.is_null() {
            return;
        }
        let input = match (self.source, self.whole) {
            (Source::Query | Source::Path, _) | (_, Value::Null) => Value::Null,
            (_, other) => other.clone(),
        };
        let loc = self.loc(key);
        self.errors
            .push(item("missing", &loc, "Field required", input, None));
    }

    /// A required string of at least `min_len` characters.
    pub fn required_str(&mut self, key: &str, min_len: usize) -> Option<String> {
        match self.raw(key) {
            None => {
                self.missing(key);
                None
            }
            Some(v) => self.check_str(key, v, min_len),
        }
    }

    /// An optional string (`null` and absent give `None`).
    pub fn optional_str(&mut self, key: &str, min_len: usize) -> Option<String> {
        match self.raw(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.check_str(key, v, min_len),
        }
    }

    fn check_str(&mut self, key: &str, v: &Value, min_len: usize) -> Option<String> {
        match v {
            Value::String(s) if s.chars().count() >= min_len => Some(s.clone()),
            Value::String(s) => {
                let plural = if min_len == 1 {
                    "character"
                } else {
                    "characters"
                };
                self.error(
                    "string_too_short",
                    key,
                    format!("String should have at least {min_len} {plural}"),
                    Value::String(s.clone()),
                    Some(json!({ "min_length": min_len })),
                );
                None
            }
            other => {
                self.error("string_type", key, STRING_TYPE, other.clone(), None);
                None
            }
        }
    }

    /// A required finite number within `[min, max]`; anything else is a `value_error` item
    /// with `msg`.
    pub fn required_number_in(&mut self, key: &str, min: f64, max: f64, msg: &str) -> Option<f64> {
        let Some(v) = self.raw(key) else {
            self.missing(key);
            return None;
        };
        let n = v
            .as_f64()
            .filter(|n| n.is_finite() && (min..=max).contains(n));
        if n.is_none() {
            self.error("value_error", key, msg, v.clone(), None);
        }
        n
    }

    /// An optional integer within `[min, max]` (either bound optional).
    pub fn optional_int(&mut self, key: &str, min: Option<i64>, max: Option<i64>) -> Option<i64> {
        let v = match self.raw(key) {
            None | Some(Value::Null) => return None,
            Some(v) => v,
        };
        self.check_int(key, v, min, max)
    }

    /// Checks an integer value with bounds.
    pub fn check_int(
        &mut self,
        key: &str,
        v: &Value,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Option<i64> {
        let Some(n) = parse_lax_int(v) else {
            self.error(
                "int_parsing",
                key,
                "Input should be a valid integer, unable to parse string as an integer",
                v.clone(),
                None,
            );
            return None;
        };
        if let Some(min) = min {
            if n < min {
                self.error(
                    "greater_than_equal",
                    key,
                    format!("Input should be greater than or equal to {min}"),
                    v.clone(),
                    Some(json!({ "ge": min })),
                );
                return None;
            }
        }
        if let Some(max) = max {
            if n > max {
                self.error(
                    "less_than_equal",
                    key,
                    format!("Input should be less than or equal to {max}"),
                    v.clone(),
                    Some(json!({ "le": max })),
                );
                return None;
            }
        }
        Some(n)
    }

    /// An optional lax boolean.
    pub fn optional_bool(&mut self, key: &str) -> Option<bool> {
        let v = match self.raw(key) {
            None | Some(Value::Null) => return None,
            Some(v) => v,
        };
        match parse_lax_bool(v) {
            Some(b) => Some(b),
            None => {
                self.error(
                    "bool_parsing",
                    key,
                    "Input should be a valid boolean, unable to interpret input",
                    v.clone(),
                    None,
                );
                None
            }
        }
    }

    /// A required lax boolean.
    pub fn required_bool(&mut self, key: &str) -> Option<bool> {
        if self.raw(key).is_none() {
            self.missing(key);
            return None;
        }
        self.optional_bool(key)
    }

    /// An optional object (`dict_type` otherwise).
    pub fn optional_object(&mut self, key: &str) -> Option<Map<String, Value>> {
        match self.raw(key) {
            None => None,
            Some(Value::Object(m)) if not_json(self.raw(key)?).is_none() => Some(m.clone()),
            Some(other) => {
                self.error(
                    "dict_type",
                    key,
                    "Input should be a valid dictionary",
                    other.clone(),
                    None,
                );
                None
            }
        }
    }

    /// An optional list of strings (`list_type` / `string_type` per item otherwise).
    pub fn optional_str_list(&mut self, key: &str) -> Option<Vec<String>> {
        match self.raw(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    match v {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            let mut loc = self.loc(key);
                            loc.push(json!(i));
                            self.errors.push(item(
                                "string_type",
                                &loc,
                                STRING_TYPE,
                                other.clone(),
                                None,
                            ));
                        }
                    }
                }
                Some(out)
            }
            Some(other) => {
                self.error(
                    "list_type",
                    key,
                    "Input should be a valid list",
                    other.clone(),
                    None,
                );
                None
            }
        }
    }

    /// A list given either as an array of strings or as a comma-separated string; empty items
    /// are dropped.
    pub fn optional_comma_list(&mut self, key: &str) -> Option<Vec<String>> {
        match self.raw(key) {
            Some(Value::String(s)) => Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            _ => self.optional_str_list(key).map(|items| {
                items
                    .into_iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
        }
    }

    fn reject_not_json(&mut self) {
        let Some(map) = self.map else { return };
        let at = usize::from(self.source.prefix().is_some());
        for (key, value) in map {
            let reported = self
                .errors
                .iter()
                .any(|e| e["loc"].get(at).and_then(Value::as_str) == Some(key.as_str()));
            let mut path = self.loc(key);
            if let (false, Some(label)) = (reported, find_not_json(value, &mut path)) {
                self.errors.push(not_json_item(&path, label));
            }
        }
    }

    /// True when no error was recorded so far.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Fails with every collected item, or succeeds. A value JSON cannot carry anywhere in the
    /// input (also inside free-form fields such as a job's `payload`) is an item of its own,
    /// unless its field already has one.
    pub fn finish(mut self) -> Result<()> {
        if self.source == Source::Arguments && !self.errors.is_empty() {
            self.errors.truncate(1);
        } else {
            self.reject_not_json();
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_error_with_loc() {
        let body = json!({"type": "", "limit": "x", "flag": "maybe"});
        let mut f = Fields::new(Source::Body, &body);
        assert_eq!(f.required_str("type", 1), None);
        assert_eq!(f.optional_int("limit", Some(1), Some(10)), None);
        assert_eq!(f.optional_bool("flag"), None);
        assert_eq!(f.required_str("other", 1), None);
        let Err(Error::Validation(items)) = f.finish() else {
            panic!("expected validation error")
        };
        assert_eq!(items.len(), 4);
        assert_eq!(items[0]["type"], "string_too_short");
        assert_eq!(items[0]["loc"], json!(["body", "type"]));
        assert_eq!(items[0]["ctx"], json!({"min_length": 1}));
        assert_eq!(items[1]["type"], "int_parsing");
        assert_eq!(items[2]["type"], "bool_parsing");
        assert_eq!(items[3]["type"], "missing");
        assert_eq!(items[3]["input"], body);
    }

    #[test]
    fn missing_query_parameter_input_is_null() {
        let query = json!({"end": "2024-01-01"});
        let mut f = Fields::new(Source::Query, &query);
        assert_eq!(f.required_str("start", 0), None);
        assert_eq!(f.required_str("end", 0).as_deref(), Some("2024-01-01"));
        let Err(Error::Validation(items)) = f.finish() else {
            panic!("expected validation error")
        };
        assert_eq!(
            items,
            vec![
                json!({"type":"missing","loc":["query","start"],"msg":"Field required","input":null})
            ]
        );
    }

    #[test]
    fn non_object_body_gives_one_item() {
        for body in [json!([1]), json!("x"), json!(5), json!(true)] {
            let mut f = Fields::new(Source::Body, &body);
            assert_eq!(f.required_str("type", 1), None);
            assert_eq!(f.required_bool("flag"), None);
            assert_eq!(f.optional_object("payload"), None);
            let Err(Error::Validation(items)) = f.finish() else {
                panic!("expected validation error")
            };
            assert_eq!(
                items,
                vec![
                    json!({"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":body})
                ]
            );
        }
    }

    #[test]
    fn lax_values() {
        assert_eq!(parse_lax_bool(&json!("Yes")), Some(true));
        assert_eq!(parse_lax_bool(&json!("off")), Some(false));
        assert_eq!(parse_lax_bool(&json!("maybe")), None);
        assert_eq!(parse_lax_int(&json!("5")), Some(5));
        assert_eq!(parse_lax_int(&json!(5.0)), Some(5));
        assert_eq!(parse_lax_int(&json!(5.5)), None);
    }

    #[test]
    fn numbers_are_not_strings() {
        let body = json!({"type": 5});
        let mut f = Fields::new(Source::Body, &body);
        f.required_str("type", 1);
        let Err(Error::Validation(items)) = f.finish() else {
            panic!()
        };
        assert_eq!(items[0]["type"], "string_type");
    }
}
