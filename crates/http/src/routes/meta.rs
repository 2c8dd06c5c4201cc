//! The adapter's own routes: the OpenAPI document (public) and the event WebSocket.

use hyper::Method;

use crate::router::{Action, Route};
use crate::schema::any_object;

const TAG: &str = "meta";

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::with_action(Method::GET, "/openapi.json", Action::OpenApi)
            .public()
            .http_only("the description of the HTTP API itself")
            .doc(TAG, "This document")
            .returns(any_object()),
        Route::with_action(Method::GET, "/events", Action::Events)
            .http_only("events reach JS through subscribe()")
            .doc(
                TAG,
                "WebSocket of every backend event (X-Backend-Token header or ?token=)",
            ),
        Route::with_action(Method::POST, "/mcp", Action::Mcp)
            .http_only("Claude Code's MCP endpoint; JS gets its config from mcpConfig()")
            .doc(
                TAG,
                "MCP Streamable HTTP (JSON-RPC; X-Backend-Token or Authorization: Bearer)",
            )
            .body(any_object())
            .returns(any_object()),
    ]
}
