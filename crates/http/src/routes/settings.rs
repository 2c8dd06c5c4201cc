//! `GET /settings` and `POST /settings` (CONTRACT.md §1.6).

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, Route};

use crate::schema::{array, integer, object, object_with, string};
use crate::Reply;

const TAG: &str = "settings";

const KEYS: [&str; 6] = [
    "atlassian_sync_interval_sec",
    "calendar_sync_interval_sec",
    "claude_max_concurrent",
    "claude_session_max_messages",
    "claude_session_max_chars",
    "claude_output_cap_bytes",
];

fn settings_schema(all_required: bool) -> Value {
    let mut props: Vec<(&str, Value)> = KEYS.iter().map(|k| (*k, integer())).collect();
    props.push(("claude_mcp", crate::schema::boolean()));
    // The notes vault's settings (CONTRACT.md §17).
    props.push(("daily_notes_folder", string()));
    props.push(("daily_note_template", string()));
    // GitHub and suggestions (CONTRACT.md §18-§19).
    props.push(("github_repo_paths", array(string())));
    props.push(("github_sync_interval_sec", integer()));
    props.push(("summarize_prompt", string()));
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
            .js("getSettings")
            .doc(TAG, "Current settings")
            .returns(settings_schema(true)),
        Route::post("/settings", update_settings)
            .js("updateSettings")
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
