//! The 12 `/memory/*` routes (CONTRACT.md §15.1): each calls one facade method.

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{
    any_object, array, boolean, integer, nullable, number, object, object_with, string,
};
use crate::Reply;

const TAG: &str = "memory";

fn observation() -> Value {
    object(&[
        ("title", string()),
        ("narrative", string()),
        ("type", string()),
        ("source", string()),
        ("event_time", string()),
        ("observation_id", string()),
        ("facts", nullable(array(string()))),
        ("concepts", nullable(array(string()))),
        ("source_event_id", nullable(string())),
        ("project_path", nullable(string())),
        ("event_ts", integer()),
        ("created_at", string()),
        ("updated_at", string()),
        ("chroma_synced", boolean()),
    ])
}

fn summary() -> Value {
    object(&[
        ("observation_id", string()),
        ("title", string()),
        ("type", string()),
        ("source", string()),
        ("event_time", string()),
        ("relevance_score", nullable(number())),
    ])
}

fn create_body() -> Value {
    object_with(
        &[
            ("title", string()),
            ("narrative", string()),
            ("type", string()),
            ("source", string()),
            ("event_time", string()),
            ("facts", nullable(array(string()))),
            ("concepts", nullable(array(string()))),
            ("source_event_id", nullable(string())),
            ("project_path", nullable(string())),
            ("event_ts", nullable(integer())),
        ],
        ["title", "narrative", "type", "source", "event_time"],
    )
}

fn search_body() -> Value {
    object_with(
        &[
            ("query", string()),
            ("type", nullable(string())),
            ("source", nullable(string())),
            ("limit", integer()),
            ("days_back", integer()),
            (
                "search_mode",
                crate::schema::one_of(&["hybrid", "fts", "vector"]),
            ),
        ],
        ["query"],
    )
}

fn search_answer() -> Value {
    object(&[
        (
            "results",
            array(object(&[
                ("observation_id", string()),
                ("title", string()),
                ("snippet", string()),
                ("type", string()),
                ("source", string()),
                ("event_time", string()),
                ("score", number()),
            ])),
        ),
        ("total", integer()),
        ("mode", string()),
        ("query", string()),
    ])
}

fn job_message() -> Value {
    object(&[("job_id", string()), ("message", string())])
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/memory/observations", create)
            .js("createObservation")
            .doc(TAG, "Create an observation")
            .body(create_body())
            .returns(object(&[
                ("observation_id", string()),
                ("created", boolean()),
            ])),
        Route::get("/memory/observations", list)
            .js("listObservations")
            .doc(TAG, "Observations of a window, newest first")
            .query(&[
                QueryParam::optional("type", ParamType::String),
                QueryParam::optional("source", ParamType::String),
                QueryParam::optional("days_back", ParamType::Integer),
                QueryParam::optional("limit", ParamType::Integer),
                QueryParam::optional("offset", ParamType::Integer),
            ])
            .returns(array(summary())),
        Route::post("/memory/observations/batch", batch)
            .js("getObservations")
            .doc(TAG, "Observations by id, in the order of ids")
            .body(object(&[("ids", array(string()))]))
            .returns(array(observation())),
        Route::get("/memory/observations/{observation_id}", get)
            .js("getObservation")
            .doc(TAG, "One observation")
            .returns(observation()),
        Route::delete("/memory/observations/{observation_id}", delete)
            .js("deleteObservation")
            .doc(
                TAG,
                "Delete an observation, its index row, ledger rows and vectors",
            )
            .returns(object(&[
                ("deleted", boolean()),
                ("observation_id", string()),
            ])),
        Route::post("/memory/search", search)
            .js("searchMemory")
            .doc(TAG, "Keyword, vector or hybrid (RRF) search")
            .body(search_body())
            .returns(search_answer()),
        Route::post("/memory/timeline", timeline)
            .js("memoryTimeline")
            .doc(TAG, "Observations around an anchor")
            .body(object_with(
                &[
                    ("anchor_id", nullable(string())),
                    ("anchor_date", nullable(string())),
                    ("depth_before", integer()),
                    ("depth_after", integer()),
                ],
                [],
            ))
            .returns(object(&[
                ("observations", array(summary())),
                ("anchor_ts", integer()),
            ])),
        Route::get("/memory/stats", stats)
            .js("memoryStats")
            .doc(TAG, "Counts by type and source, embedding status")
            .returns(any_object()),
        Route::post("/memory/sync/process", process)
            .js("processMemory")
            .doc(TAG, "Queue memory.process_events")
            .query(&[QueryParam::optional("window_minutes", ParamType::Integer)])
            .returns(job_message()),
        Route::post("/memory/sync/chroma", chroma)
            .js("syncMemoryVectors")
            .doc(TAG, "Queue memory.chroma_sync (embed what lacks a vector)")
            .returns(job_message()),
        Route::post("/memory/sync/github", github)
            .js("syncGithubMemory")
            .doc(TAG, "Ingest GitHub PRs and commits sent by the client")
            .body(any_object())
            .returns(any_object()),
        Route::post("/memory/sync/claude-sessions", claude_sessions)
            .js("syncClaudeSessionsMemory")
            .doc(TAG, "Ingest Claude Code sessions sent by the client")
            .body(any_object())
            .returns(any_object()),
    ]
}

async fn create(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.create_observation(&call.body).await?)
}

async fn list(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.list_observations(&call.query).await?)
}

async fn batch(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.get_observations(&call.body).await?)
}

async fn get(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.get_observation(call.param(0)).await?)
}

async fn delete(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.delete_observation(call.param(0)).await?)
}

async fn search(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.search_memory(&call.body).await?)
}

async fn timeline(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.memory_timeline(&call.body).await?)
}

async fn stats(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.memory_stats().await?)
}

async fn process(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.process_memory(&call.query).await?)
}

async fn chroma(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.sync_memory_vectors().await?)
}

async fn github(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.sync_github_memory(&call.body).await?)
}

async fn claude_sessions(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.sync_claude_sessions_memory(&call.body).await?)
}
