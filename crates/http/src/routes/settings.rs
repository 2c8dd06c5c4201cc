//! `GET /settings` and `POST /settings` (CONTRACT.md §1.6).

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, Route};
use crate::schema::{integer, object, object_with};
use crate::Reply;

const TAG: &str = "settings";

const KEYS: [&str; 7] = [
    "atlassian_sync_interval_sec",
    "calendar_sync_interval_sec",
    "claude_max_concurrent",
    "claude_session_max_messages",
    "claude_session_max_chars",
    "claude_output_cap_bytes",
    "claude_mcp",
];

fn settings_schema(all_required: bool) -> Value {
    let props: Vec<(&str, Value)> = KEYS
        .iter()
        .map(|k| {
            let kind = if *k == "claude_mcp" {
                crate::schema::boolean()
            } else {
                integer()
            };
            (*k, kind)
        })
        .collect();
    if all_required {
        object(&props)
    } else {
        object_with(&props, [])
    }
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/settings", get_settings)
            .doc(TAG, "Current settings")
            .returns(settings_schema(true)),
        Route::post("/settings", update_settings)
            .doc(TAG, "Change some settings; answers the full object")
            .body(settings_schema(false))
            .returns(settings_schema(true)),
    ]
}

async fn get_settings(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.get_settings().await?)
}

async fn update_settings(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.update_settings(&call.body).await?)
}
