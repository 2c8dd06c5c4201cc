//! The activity stream and suggestion routes (CONTRACT.md §19).

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{
    array, boolean, integer, job_created, nullable, object, object_with, string, wrapped,
};
use crate::Reply;

fn item() -> Value {
    object(&[
        ("id", string()),
        ("title", string()),
        ("description", string()),
        ("source", string()),
        ("url", nullable(string())),
        ("timestamp", integer()),
        ("event_time", string()),
    ])
}

fn suggest_body() -> Value {
    object_with(
        &[
            ("note_date", nullable(string())),
            ("note_path", nullable(string())),
            ("note_content", nullable(string())),
            ("selected_text", nullable(string())),
            ("prompt", nullable(string())),
            ("include_note", boolean()),
            ("use_memory", boolean()),
            ("memory_query", nullable(string())),
            ("context_limit", nullable(integer())),
            ("session_id", nullable(string())),
            ("claude_project_paths", array(string())),
            ("timeout_ms", nullable(integer())),
        ],
        [],
    )
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/activity/stream", stream)
            .js("activityStream")
            .doc(
                "activity",
                "The merged activity stream of a local day, newest first, at most 50",
            )
            .query(&[
                QueryParam::optional("date", ParamType::String),
                QueryParam::optional("claude_project_paths", ParamType::List),
            ])
            .returns(wrapped("items", item())),
        Route::post("/suggest", suggest)
            .js("generateSuggestion")
            .doc("suggest", "Queue suggest.generate")
            .body(suggest_body())
            .returns(job_created()),
    ]
}

async fn stream(call: Call) -> Result<Reply> {
    Reply::list("items", &call.backend.activity_stream(&call.query).await?)
}

async fn suggest(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.generate_suggestion(&call.body).await?)
}
