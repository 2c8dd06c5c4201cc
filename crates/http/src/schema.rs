//! Tiny JSON-schema builders for the OpenAPI document. Route modules describe their inputs and
//! answers with these next to the route, so the document stays beside the code it describes.

use serde_json::{json, Map, Value};

/// `{"type":"string"}`.
pub fn string() -> Value {
    json!({ "type": "string" })
}

/// `{"type":"integer"}`.
pub fn integer() -> Value {
    json!({ "type": "integer" })
}

/// `{"type":"number"}`.
pub fn number() -> Value {
    json!({ "type": "number" })
}

/// `{"type":"boolean"}`.
pub fn boolean() -> Value {
    json!({ "type": "boolean" })
}

/// Any JSON object.
pub fn any_object() -> Value {
    json!({ "type": "object" })
}

/// Any JSON value.
pub fn any() -> Value {
    json!({})
}

/// `schema` or `null`.
pub fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// An array of `items`.
pub fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

/// One of the given strings.
pub fn one_of(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

/// An object whose every listed property is required (answers print every field).
pub fn object(props: &[(&str, Value)]) -> Value {
    object_with(props, props.iter().map(|(k, _)| *k))
}

/// An object where only `required` properties are required (request bodies).
pub fn object_with<'a>(
    props: &[(&str, Value)],
    required: impl IntoIterator<Item = &'a str>,
) -> Value {
    let properties: Map<String, Value> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let required: Vec<&str> = required.into_iter().collect();
    json!({ "type": "object", "properties": properties, "required": required })
}

/// `{"<key>": [items]}`: the HTTP wrapping of a list answer.
pub fn wrapped(key: &str, items: Value) -> Value {
    object(&[(key, array(items))])
}

/// `{"ok": true}`: the answer of deletes and updates.
pub fn ok() -> Value {
    object(&[("ok", boolean())])
}

/// `{"job_id", "status"}`: the answer of every route that queues a job.
pub fn job_created() -> Value {
    object(&[
        ("job_id", string()),
        (
            "status",
            one_of(&["queued", "running", "succeeded", "failed", "canceled"]),
        ),
    ])
}
