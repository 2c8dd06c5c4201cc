//! `/mcp`: the Model Context Protocol's Streamable HTTP transport (CONTRACT.md §16), over the
//! core's JSON-RPC half (`Backend::mcp_message`).
//!
//! Why not the official Rust SDK (`rmcp`): its Streamable HTTP server is a tower service built
//! on axum-style session management and SSE streaming, with `schemars` and a macro layer for
//! the tools. This adapter is plain hyper with its own pipeline (Host, Origin, token, body
//! limits) that `/mcp` must go through unchanged, and four fixed tools need neither sessions,
//! server-initiated messages nor SSE. The transport part of the spec that a stateless,
//! tools-only server needs is small: one POSTed JSON-RPC message → one JSON answer
//! (`application/json`, which the spec allows instead of an SSE stream), notifications and
//! responses → 202 with no body, GET → 405 (no server-to-client stream). It is tested with the
//! official TypeScript SDK's client (`__test__/mcp.test.js`).
//!
//! Auth: `X-Backend-Token` or `Authorization: Bearer <token>` (constant-time, as every route).

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

use crate::guard::TOKEN_HEADER;
use crate::input::{read_body, BodyError};
use crate::pipeline::State;
use crate::reply::{Reply, JSON};

fn rpc_error(status: StatusCode, code: i64, message: &str) -> Reply {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    Reply::raw_json(status, body.to_string())
}

/// The token of an MCP request: `X-Backend-Token`, else a Bearer `Authorization`.
fn given_token(req: &Request<Incoming>) -> Option<&[u8]> {
    if let Some(v) = req.headers().get(TOKEN_HEADER) {
        return Some(v.as_bytes());
    }
    let auth = req
        .headers()
        .get(AUTHORIZATION)
        .map(HeaderValue::as_bytes)?;
    let (scheme, rest) = (auth.get(..7)?, auth.get(7..)?);
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
}

/// Answers one POST to `/mcp` (Host and Origin were checked by the pipeline).
pub(crate) async fn handle(state: &State, req: Request<Incoming>) -> Reply {
    if !state.guard.token_ok(given_token(&req)) {
        return Reply::detail(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let bytes: Bytes = match read_body(req.into_body(), state.tuning.body_read_timeout).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            return Reply::detail(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        }
        Err(BodyError::TimedOut) => {
            return Reply::detail(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            )
        }
        Err(BodyError::Broken) => return rpc_error(StatusCode::BAD_REQUEST, -32700, "Parse error"),
    };
    let Ok(message) = serde_json::from_slice::<Value>(&bytes) else {
        return rpc_error(StatusCode::BAD_REQUEST, -32700, "Parse error");
    };
    let backend = state.backend.clone();
    // The tools run on the core's runtime (like every handler, see `pipeline::InCore`).
    let answer = state
        .core_rt
        .spawn(async move { backend.mcp_message(&message).await })
        .await;
    match answer {
        Ok(Some(answer)) => Reply {
            status: StatusCode::OK,
            content_type: JSON,
            body: Bytes::from(answer.to_string()),
        },
        Ok(None) => Reply {
            status: StatusCode::ACCEPTED,
            content_type: JSON,
            body: Bytes::new(),
        },
        Err(_) => rpc_error(StatusCode::INTERNAL_SERVER_ERROR, -32603, "Internal error"),
    }
}
