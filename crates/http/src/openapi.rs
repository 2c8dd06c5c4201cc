//! The OpenAPI 3.1 document of `/openapi.json`, generated from the router's own route table:
//! every route the server answers is described, and nothing else.

use serde_json::{json, Map, Value};

use crate::router::{Access, Action, ParamType, Route, Router, Surface};
use crate::schema;

/// The whole document.
pub fn document(router: &Router) -> Value {
    let mut paths = Map::new();
    for route in router.routes() {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        if let Value::Object(ops) = entry {
            ops.insert(route.method.as_str().to_ascii_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "enttok-backend",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Loopback HTTP API of the enttok-backend addon. Every route needs the X-Backend-Token header except the ones whose security is empty."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "backendToken": { "type": "apiKey", "in": "header", "name": "X-Backend-Token" }
            },
            "schemas": {
                "HTTPError": schema::object(&[("detail", schema::string())]),
                "HTTPValidationError": schema::object(&[("detail", schema::array(validation_item()))]),
            }
        },
        "security": [{ "backendToken": [] }],
    })
}

fn validation_item() -> Value {
    schema::object_with(
        &[
            ("type", schema::string()),
            (
                "loc",
                schema::array(json!({ "anyOf": [{ "type": "string" }, { "type": "integer" }] })),
            ),
            ("msg", schema::string()),
            ("input", schema::any()),
            ("ctx", schema::any_object()),
        ],
        ["type", "loc", "msg", "input"],
    )
}

fn operation(route: &Route) -> Value {
    let mut op = Map::new();
    op.insert("tags".into(), json!([route.tag]));
    op.insert("summary".into(), json!(route.summary));
    match route.surface {
        Surface::Js(method) => {
            op.insert("operationId".into(), json!(method));
            op.insert("x-js-method".into(), json!(method));
        }
        Surface::HttpOnly(why) => {
            op.insert("operationId".into(), json!(operation_id(route)));
            op.insert("x-http-only".into(), json!(why));
        }
        Surface::Undeclared => {
            op.insert("operationId".into(), json!(operation_id(route)));
        }
    }
    let mut params: Vec<Value> = route
        .path_params()
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": schema::string() }))
        .collect();
    params.extend(route.query.iter().map(|q| {
        json!({ "name": q.name, "in": "query", "required": q.required, "schema": param_schema(q.kind) })
    }));
    let events = matches!(route.action, Action::Events);
    if events {
        params.push(json!({
            "name": "token", "in": "query", "required": false, "schema": schema::string(),
            "description": "The token, for clients that cannot set the header"
        }));
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    if let Some(body) = &route.body_schema {
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": body } } }),
        );
    }
    let mut responses = Map::new();
    if events {
        responses.insert(
            "101".into(),
            json!({ "description": "Switching Protocols: a WebSocket of event JSON text frames" }),
        );
        responses.insert("403".into(), error("Missing or wrong token"));
    } else {
        responses.insert(
            "200".into(),
            json!({ "description": "Successful Response",
                    "content": { route.response_type: { "schema": route.response_schema } } }),
        );
        if route.access == Access::Token {
            responses.insert("401".into(), error("Missing or wrong token"));
        }
        if route.path_params().next().is_some() {
            responses.insert("404".into(), error("Not found"));
        }
        if route.has_body || !route.query.is_empty() {
            responses.insert(
                "422".into(),
                json!({ "description": "Validation Error",
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/HTTPValidationError" } } } }),
            );
        }
    }
    op.insert("responses".into(), Value::Object(responses));
    if route.access == Access::Public {
        op.insert("security".into(), json!([]));
    }
    Value::Object(op)
}

fn error(description: &str) -> Value {
    json!({ "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/HTTPError" } } } })
}

fn param_schema(kind: ParamType) -> Value {
    match kind {
        ParamType::String => schema::string(),
        ParamType::Integer => schema::integer(),
        ParamType::Boolean => schema::boolean(),
        ParamType::List => json!({ "anyOf": [schema::array(schema::string()), schema::string()] }),
    }
}

/// `get_jobs_job_id` for `GET /jobs/{job_id}`: unique per route, stable across builds.
fn operation_id(route: &Route) -> String {
    let mut id = route.method.as_str().to_ascii_lowercase();
    for c in route.path.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_string()
}
