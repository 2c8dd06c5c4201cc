//! The Claude routes (CONTRACT.md §4.3, §11.2): spawn a run, and the persisted chat sessions.

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{
    array, integer, job_created, nullable, object, object_with, ok, one_of, string, wrapped,
};
use crate::Reply;

const TAG: &str = "claude";

fn spawn_body() -> Value {
    object_with(
        &[
            ("args", array(string())),
            ("prompt", nullable(string())),
            ("stdin", nullable(string())),
            ("session_id", nullable(string())),
            ("timeout_ms", nullable(integer())),
            ("output_format", one_of(&["text", "stream-json"])),
        ],
        [],
    )
}

fn message() -> Value {
    object(&[
        ("role", one_of(&["user", "assistant"])),
        ("content", string()),
        ("created_at", string()),
    ])
}

/// A session; `messages` only when one session is asked for.
fn session(with_messages: bool) -> Value {
    let mut props = vec![
        ("session_id", string()),
        ("created_at", string()),
        ("updated_at", string()),
    ];
    if with_messages {
        props.push(("messages", array(message())));
    }
    object(&props)
}

/// The routes of this module. `/claude/session` (create) and `/claude/sessions` (list) are
/// literal, so they come before the parametric `/claude/session/{session_id}`.
pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/claude/spawn", spawn)
            .js("spawnClaude")
            .doc(TAG, "Queue a claude.spawn job")
            .body(spawn_body())
            .returns(job_created()),
        Route::post("/claude/session", create_session)
            .js("createClaudeSession")
            .doc(TAG, "Create a chat session")
            .returns(object(&[("session_id", string())])),
        Route::get("/claude/sessions", list_sessions)
            .js("listClaudeSessions")
            .doc(TAG, "List sessions, newest first, without messages")
            .query(&[QueryParam::optional("limit", ParamType::Integer)])
            .returns(wrapped("sessions", session(false))),
        Route::get("/claude/session/{session_id}", get_session)
            .js("getClaudeSession")
            .doc(TAG, "One session with its messages, oldest first")
            .returns(session(true)),
        Route::delete("/claude/session/{session_id}", delete_session)
            .js("deleteClaudeSession")
            .doc(TAG, "Delete a session")
            .returns(ok()),
    ]
}

async fn spawn(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.spawn_claude(&call.body).await?)
}

async fn create_session(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.create_claude_session().await?)
}

async fn list_sessions(call: Call) -> Result<Reply> {
    Reply::list(
        "sessions",
        &call.backend.list_claude_sessions(&call.query).await?,
    )
}

async fn get_session(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.get_claude_session(call.param(0)).await?)
}

async fn delete_session(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.delete_claude_session(call.param(0)).await?)
}
